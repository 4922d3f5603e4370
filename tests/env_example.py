"""The production variables as .env.example documents them, read the way the docs load the file:
sourced by bash (`set -a; . ./.env`)."""

from __future__ import annotations

import subprocess

from pipeline.settings import REPO_ROOT

ENV_EXAMPLE = REPO_ROOT / ".env.example"


def example_environment() -> dict[str, str]:
    printed = subprocess.run(
        ["bash", "-c", 'set -a; . "$0"; env -0', str(ENV_EXAMPLE)],
        env={},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    sourced = dict(item.split("=", 1) for item in printed.split("\0") if "=" in item)
    declared = {
        line.split("=", 1)[0]
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert declared <= set(sourced), f"lost when sourced: {declared - set(sourced)}"
    return {name: sourced[name] for name in declared}
