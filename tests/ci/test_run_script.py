"""`./run` stops at its first failed step, with that step's own error as the last thing printed
(a registry hiccup during `uv sync` must not scroll away under later steps' errors)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from pipeline.settings import REPO_ROOT

UV_VERSION = next(
    line.split("=", 1)[1]
    for line in (REPO_ROOT / "run").read_text().splitlines()
    if line.startswith("UV_VERSION=")
)


def test_a_failed_step_stops_the_script_with_its_own_error(tmp_path: Path) -> None:
    shutil.copy(REPO_ROOT / "run", tmp_path / "run")
    fake_uv = tmp_path / ".local" / "bootstrap" / "bin" / "uv"
    fake_uv.parent.mkdir(parents=True)
    # A uv of the right version whose sync fails, as on a registry hiccup.
    fake_uv.write_text(
        "#!/bin/sh\n"
        f'[ "$1" = --version ] && echo "uv {UV_VERSION}" && exit 0\n'
        "echo 'error: Failed to fetch: registry hiccup' >&2\n"
        "exit 2\n"
    )
    fake_uv.chmod(0o755)
    for command in ("demo", "test"):
        result = subprocess.run(
            ["bash", "run", command], cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip().splitlines()[-1] == "error: Failed to fetch: registry hiccup"
        assert "installing Meltano plugins" not in result.stderr
