"""`./run` stops at its first failed step, with that step's own error as the last thing printed
(a registry hiccup during `uv sync` must not scroll away under later steps' errors)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
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


def declared_python() -> Path:
    """The interpreter `./run` builds every environment on (SHOP_PYTHON, or run's default)."""
    default = next(
        line.split(":-", 1)[1].rstrip("}")
        for line in (REPO_ROOT / "run").read_text().splitlines()
        if line.startswith("export SHOP_PYTHON=")
    )
    return Path(os.environ.get("SHOP_PYTHON", default)).resolve()


def test_every_environment_runs_on_the_declared_python() -> None:
    """Debian's optimised build, not the first python3.11 on PATH: every dbt, Meltano, tap,
    Prefect and fakesnow process pays for a slower interpreter. `./run setup` and `./run test`
    move a checkout set up on another interpreter over: uv recreates .venv, run reinstalls the
    Meltano plugins, the fakesnow and Terraform checks' setups rebuild their environments."""
    python = declared_python()
    assert Path(sys.executable).resolve() == python
    plugin_venvs = sorted((REPO_ROOT / "meltano" / ".meltano").glob("*/*/venv/pyvenv.cfg"))
    assert plugin_venvs, "no Meltano plugin installed: ./run setup"
    tools = [REPO_ROOT / "transform/fakesnow/.venv", REPO_ROOT / "terraform/.checks-venv"]
    for config in [*plugin_venvs, *(tool / "pyvenv.cfg" for tool in tools)]:
        lines = config.read_text().splitlines()
        home = next(line.split(" = ", 1)[1] for line in lines if line.startswith("home = "))
        assert (Path(home) / python.name).resolve() == python, f"{config}: ./run test"
