"""The platform reads, replaces and clears a job's bookmarks in its own process, through Meltano's
state store (pipeline/meltano.py): what it reads is what `meltano state get` prints, a run's
partial state merged in, and what it writes and clears is what Meltano then sees."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
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


def test_a_fresh_home_has_no_bookmarks_for_threads_reading_at_once(tmp_path: Path) -> None:
    """As reconciliation reads each job's bookmarks in a thread of its own: the first read on a
    fresh home creates its system database, and no other sees it half made."""
    settings = platform.load("dev", env={**os.environ, "SHOP_HOME": str(tmp_path / "fresh")})
    with ThreadPoolExecutor() as pool:
        states = list(pool.map(lambda _: meltano.read_state(settings, JOB), range(6)))
    assert states == [{}] * 6


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


# Forks, on each line it reads, a process writing a job's bookmarks without end, as a run writes
# them at each batch the loader commits; many streams (a history load's partitions) make each write
# long, the moment a kill can hit. Prints the writer's pid, "wrote" after its first write, and
# "gone" when it has ended.
WRITERS = """
import itertools, os, sys
from pipeline import meltano, settings as platform
settings = platform.load("dev", env={**os.environ, "SHOP_HOME": sys.argv[1]})
streams = {f"public-part_{n}": {"replication_key_value": "2026-12-01"} for n in range(20000)}
meltano.read_state(settings, "el-postgres")  # Meltano's modules imported here, not in each writer
for _ in sys.stdin:
    writer = os.fork()
    if writer == 0:
        for n in itertools.count():
            meltano.write_state(settings, "el-postgres", {"bookmarks": streams, "write": n})
            if n == 0:
                print("wrote", flush=True)
    print(writer, flush=True)
    os.waitpid(writer, 0)
    print("gone", flush=True)
"""


def test_bookmarks_stay_whole_when_their_writer_is_killed_mid_write(tmp_path: Path) -> None:
    """A writer of the bookmarks killed at a random moment of its writes, 20 times: each time,
    the bookmarks read afterwards are a whole state it wrote, and the next writer writes."""
    settings = platform.load("dev", env={**os.environ, "SHOP_HOME": str(tmp_path)})
    meltano.prepare(settings)
    writers = subprocess.Popen(
        [sys.executable, "-c", WRITERS, str(tmp_path)],
        cwd=meltano.REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert writers.stdin and writers.stdout
    try:
        for _ in range(20):
            writers.stdin.write("write\n")
            writers.stdin.flush()
            writer = int(writers.stdout.readline())
            assert writers.stdout.readline() == "wrote\n"  # not "gone": its error is above
            time.sleep(random.uniform(0, 0.05))
            os.kill(writer, signal.SIGKILL)
            assert writers.stdout.readline() == "gone\n"
            assert len(meltano.read_state(settings, JOB)["bookmarks"]) == 20000
    finally:
        writers.kill()
        writers.wait()


def test_a_state_store_that_fails_names_the_command_and_the_cause(tmp_path: Path) -> None:
    settings = platform.load("dev", env={**os.environ, "SHOP_HOME": str(tmp_path)})
    (tmp_path / "meltano").mkdir()
    (tmp_path / "meltano" / "meltano.db").write_text("text where Meltano's database should be")
    state_id = meltano.state_id(settings, JOB)
    with pytest.raises(meltano.MeltanoError, match=f"meltano state set {state_id} failed: .+"):
        meltano.write_state(settings, JOB, COMPLETED)


def test_a_fresh_homes_system_database_is_at_meltanos_own_revision(tmp_path: Path) -> None:
    """prepare() creates Meltano's system database in-process, migrated to the revision this
    Meltano locks: its commands find nothing to migrate, and parallel runs nothing to race for."""
    from meltano.migrations import LOCK_PATH

    settings = platform.load("dev", env={**os.environ, "SHOP_HOME": str(tmp_path)})
    meltano.prepare(settings)
    with sqlite3.connect(tmp_path / "meltano" / "meltano.db") as conn:
        revisions = conn.execute("select version_num from alembic_version").fetchall()
        tables = {row[0] for row in conn.execute("select name from sqlite_master")}
        journal_mode = conn.execute("pragma journal_mode").fetchone()
    assert revisions == [(LOCK_PATH.read_text().strip(),)]
    assert {"runs", "state"} <= tables
    assert journal_mode == ("wal",)  # as Meltano sets it: readers never wait on a writer
