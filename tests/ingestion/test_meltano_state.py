"""The platform reads, replaces and clears a job's bookmarks in its own process, through Meltano's
state store (pipeline/meltano.py): what it reads is what `meltano state get` prints, a run's
partial state merged in, and what it writes and clears is what Meltano then sees."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from pipeline import meltano
from pipeline import settings as platform

JOB = "el-postgres"
COMPLETED = {"bookmarks": {"public-orders": {"replication_key_value": "2026-12-01T00:00:00"}}}
# What a run killed mid-way leaves: Meltano keeps it apart from the completed state.
PARTIAL = {"bookmarks": {"public-payments": {"replication_key_value": "2026-12-02T00:00:00"}}}


def meltano_state(settings: platform.Settings, *args: str) -> str:
    return subprocess.run(
        [meltano.executable(), "state", *args],
        cwd=meltano.MELTANO_PROJECT,
        env=meltano.environment(settings),
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_bookmarks_read_and_written_in_process_are_meltanos(tmp_path: Path) -> None:
    settings = platform.load("dev", env={**os.environ, "SHOP_HOME": str(tmp_path)})
    meltano.prepare(settings)
    state_id = meltano.state_id(settings, JOB)

    meltano.write_state(settings, JOB, COMPLETED)
    meltano_state(settings, "merge", state_id, json.dumps({"singer_state": PARTIAL}))
    printed = json.loads(meltano_state(settings, "get", state_id))["singer_state"]
    assert set(printed["bookmarks"]) == {"public-orders", "public-payments"}
    assert meltano.read_state(settings, JOB) == printed

    meltano.clear_state(settings, JOB)
    assert json.loads(meltano_state(settings, "get", state_id)) == {}
    assert meltano.read_state(settings, JOB) == {}


def test_a_state_store_that_fails_names_the_command_and_the_cause(tmp_path: Path) -> None:
    settings = platform.load("dev", env={**os.environ, "SHOP_HOME": str(tmp_path)})
    (tmp_path / "meltano").mkdir()
    (tmp_path / "meltano" / "state").write_text("a file where the bookmarks' folder should be")
    state_id = meltano.state_id(settings, JOB)
    with pytest.raises(meltano.MeltanoError, match=f"meltano state set {state_id} failed: .+"):
        meltano.write_state(settings, JOB, COMPLETED)
