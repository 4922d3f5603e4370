"""target-snowflake 0.20.4 with the emulator's substitute of its stage step
(emulator_hooks/target_snowflake_on_fakesnow.py), fed Singer messages directly: it must keep what
the real step does — upsert on the keys with the last row of a key winning, BATCH jsonl.gz files,
a column added by a new SCHEMA, and a STATE passed on only once its rows are loaded."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from snowflake_emulator import Emulator, private_key_pem

from sandbox.config import REPO_ROOT

pytestmark = pytest.mark.integration

MELTANO_PROJECT = REPO_ROOT / "meltano"
TARGET = MELTANO_PROJECT / ".meltano" / "loaders" / "target-snowflake" / "venv" / "bin"
SCHEMA = "LOADTEST"


def production_config() -> dict[str, Any]:
    """target-snowflake's settings as meltano.yml gives them to every prod loader."""
    project = yaml.safe_load((MELTANO_PROJECT / "meltano.yml").read_text())
    (plugin,) = [p for p in project["plugins"]["loaders"] if p["name"] == "target-snowflake"]
    return plugin["config"]


@pytest.fixture(scope="module")
def target_config(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("target")
    key_file = work / "key.p8"
    key_file.write_text(private_key_pem())
    config = {
        **production_config(),
        "account": emulator.account,
        "user": "MELTANO_SVC",
        "private_key_path": str(key_file),
        "default_target_schema": SCHEMA,
    }
    with emulator.connect() as conn:
        conn.cursor().execute(f"create database {config['database']}")
        conn.cursor().execute(f"create schema {config['database']}.{SCHEMA}")
    path = work / "config.json"
    path.write_text(json.dumps(config))
    return path


def schema_message(*extra_columns: str) -> dict[str, Any]:
    properties = {
        "id": {"type": ["integer"]},
        "name": {"type": ["string", "null"]},
        **{column: {"type": ["string", "null"]} for column in extra_columns},
    }
    return {
        "type": "SCHEMA",
        "stream": "items",
        "schema": {"type": "object", "properties": properties},
        "key_properties": ["id"],
    }


def record(**values: Any) -> dict[str, Any]:
    return {"type": "RECORD", "stream": "items", "record": values}


def state(position: int) -> dict[str, Any]:
    return {"type": "STATE", "value": {"bookmarks": {"items": position}}}


def batch(directory: Path, name: str, *rows: dict[str, Any]) -> dict[str, Any]:
    """A BATCH message of one gzipped JSON-lines file, as tap-postgres writes them."""
    path = directory / f"{name}.json.gz"
    with gzip.open(path, "wt") as file:
        file.writelines(json.dumps(row) + "\n" for row in rows)
    return {
        "type": "BATCH",
        "stream": "items",
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "manifest": [path.as_uri()],
    }


def run_target(
    emulator: Emulator, config: Path, *messages: dict[str, Any]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TARGET / "target-snowflake"), "--config", str(config)],
        input="".join(json.dumps(message) + "\n" for message in messages),
        env={**os.environ, **emulator.meltano_environment()},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def states_emitted(result: subprocess.CompletedProcess[str]) -> list[Any]:
    # A target writes each state it passes on as a line of JSON: what Meltano stores.
    return [json.loads(line)["bookmarks"]["items"] for line in result.stdout.splitlines() if line]


def rows(emulator: Emulator, *columns: str) -> list[tuple[Any, ...]]:
    with emulator.connect("RAW") as conn:
        cursor = conn.cursor()
        cursor.execute(f"select {', '.join(columns)} from RAW.{SCHEMA}.ITEMS order by ID")
        return cursor.fetchall()


def test_records_upsert_on_the_keys_and_the_last_row_of_a_key_wins(
    emulator: Emulator, target_config: Path
) -> None:
    first = run_target(
        emulator,
        target_config,
        schema_message(),
        record(id=1, name="first"),
        record(id=2, name="two"),
        record(id=1, name="one"),  # the same key again in the same batch: this row wins
        state(1),
    )
    assert first.returncode == 0, first.stderr[-3000:]
    assert states_emitted(first) == [1]
    assert rows(emulator, "ID", "NAME") == [(1, "one"), (2, "two")]

    second = run_target(emulator, target_config, schema_message(), record(id=2, name="2"), state(2))
    assert second.returncode == 0, second.stderr[-3000:]
    assert rows(emulator, "ID", "NAME") == [(1, "one"), (2, "2")]


def test_batch_files_load_with_a_new_column(
    emulator: Emulator, target_config: Path, tmp_path: Path
) -> None:
    result = run_target(
        emulator,
        target_config,
        schema_message("colour"),
        batch(tmp_path, "items-1", {"id": 3, "name": "three", "colour": "red"}),
        batch(
            tmp_path,
            "items-2",
            {"id": 2, "name": "deux", "colour": "blue"},
            {"id": 4, "name": "quatre"},
            {"id": 4, "name": "four", "colour": "green"},  # the last row of the key wins
        ),
        state(3),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert states_emitted(result) == [3]
    assert rows(emulator, "ID", "NAME", "COLOUR") == [
        (1, "one", None),
        (2, "deux", "blue"),
        (3, "three", "red"),
        (4, "four", "green"),
    ]


def test_no_state_is_passed_on_when_its_rows_did_not_load(
    emulator: Emulator, target_config: Path, tmp_path: Path
) -> None:
    result = run_target(
        emulator,
        target_config,
        schema_message("colour"),
        batch(tmp_path, "items-3", {"id": 5, "name": "five"}, {"id": "not a number"}),
        state(4),
    )
    assert result.returncode != 0
    assert states_emitted(result) == []
    assert [row[0] for row in rows(emulator, "ID")] == [1, 2, 3, 4]
