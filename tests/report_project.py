"""A copy of the Evidence project (reports/) for a module of its own.

Each production release is a checkout of its own (deploy/release), so its report builds share
nothing with another's. Modules of the suite that build the site at the same time as others do
the same: with the project's own copy they neither wait for reports/'s build lock nor find its
compiled template replaced by another module's build between two of their runs.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline import reports

# Not the project's source: its installed packages (linked, not copied) and what builds leave.
NOT_SOURCE = ("node_modules", ".evidence", "build", ".build-*", ".build.lock")


def use_own_report_project(target: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Copy reports/ to `target`, link its packages, and make the platform build from there."""
    shutil.copytree(reports.REPORTS_DIR, target, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    (target / "node_modules").symlink_to(reports.REPORTS_DIR / "node_modules")
    monkeypatch.setattr(reports, "REPORTS_DIR", target)
    return target
