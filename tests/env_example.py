"""The production variables as .env.example documents them, read the way the docs and
deploy/with-env load the file: sourced by bash (`set -a; . ./.env`)."""

from __future__ import annotations

import subprocess
from functools import cache
from pathlib import Path

from pipeline.settings import REPO_ROOT

ENV_EXAMPLE = REPO_ROOT / ".env.example"


def bash_environment(script: str, cwd: Path = REPO_ROOT) -> tuple[dict[str, str], str]:
    """The environment a clean bash ends `script` with, and what it wrote to stderr."""
    result = subprocess.run(
        ["env", "-i", "PATH=/usr/bin:/bin", "bash", "-c", f"{script}\nenv -0"],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    pairs = (entry.partition("=") for entry in result.stdout.split("\0") if entry)
    return {name: value for name, _, value in pairs}, result.stderr


@cache
def sourced_example() -> dict[str, str]:
    """What `set -a; . ./.env.example` sets, beyond what bash sets by itself."""
    baseline, _ = bash_environment(":")
    sourced, _ = bash_environment("set -a; . ./.env.example; set +a")
    return {k: v for k, v in sourced.items() if k not in baseline or baseline[k] != v}
