"""The local loader, target-duckdb-batch (meltano/plugins/target-duckdb-batch), through its
Singer interface: the RAW layout target-duckdb 0.8.0 wrote, merges on keys, BATCH files read by
DuckDB, schema evolution, and STATE passed on only once the rows before it are committed."""

from __future__ import annotations

import gzip
import json
import queue
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sandbox.config import REPO_ROOT

pytestmark = pytest.mark.integration

LOADER = REPO_ROOT / "meltano/.meltano/loaders/target-duckdb-batch/venv/bin/target-duckdb-batch"
STREAM = "public-things"
ID = {"type": ["integer"]}
TEXT = {"type": ["null", "string"]}


class Loader:
    """A running target-duckdb-batch: Singer messages in, the STATE values it emits out."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self._states: queue.Queue[dict] = queue.Queue()
        threading.Thread(target=self._read_states, daemon=True).start()

    def _read_states(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._states.put(json.loads(line))

    def send(self, *messages: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.writelines(json.dumps(message) + "\n" for message in messages)
        self.process.stdin.flush()

    def next_state(self, timeout_s: float) -> dict | None:
        try:
            return self._states.get(timeout=timeout_s)
        except queue.Empty:
            return None


@contextmanager
def loader(raw_file: Path, batch_size_rows: int = 100_000) -> Iterator[Loader]:
    """Yields the loader; at the end of the block its input ends and it must exit cleanly."""
    config = raw_file.with_suffix(".config.json")
    config.write_text(
        json.dumps(
            {
                "filepath": str(raw_file),
                "default_target_schema": "shop",
                "batch_size_rows": batch_size_rows,
                "temp_dir": str(raw_file.parent),
            }
        )
    )
    process = subprocess.Popen(
        [str(LOADER), "--config", str(config)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    running = Loader(process)
    try:
        yield running
        if process.poll() is None:  # not killed by the block
            _, stderr = process.communicate(timeout=60)
            assert process.returncode == 0, stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def schema(properties: dict[str, Any], keys: tuple[str, ...] = ("id",)) -> dict[str, Any]:
    return {
        "type": "SCHEMA",
        "stream": STREAM,
        "schema": {"type": "object", "properties": properties},
        "key_properties": list(keys),
    }


def record(values: dict[str, Any], extracted_at: str = "2026-01-02T03:04:05+00:00") -> dict:
    return {"type": "RECORD", "stream": STREAM, "record": values, "time_extracted": extracted_at}


def batch(*files: Path, format: str = "jsonl") -> dict[str, Any]:
    compression = "gzip" if format == "jsonl" else "none"
    return {
        "type": "BATCH",
        "stream": STREAM,
        "encoding": {"format": format, "compression": compression},
        "manifest": [file.as_uri() for file in files],
    }


def state(n: int) -> dict[str, Any]:
    return {"type": "STATE", "value": {"bookmarks": {STREAM: {"n": n}}}}


def jsonl_gz(path: Path, rows: list[dict[str, Any]]) -> Path:
    with gzip.open(path, "wt") as file:
        file.writelines(json.dumps(row) + "\n" for row in rows)
    return path


def query(raw_file: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(raw_file), read_only=True) as conn:
        conn.execute("set TimeZone = 'UTC'")
        return conn.execute(sql).fetchall()


def test_the_raw_layout_is_target_duckdbs(tmp_path: Path) -> None:
    """Every rule of target-duckdb 0.8.0's layout (stripe and CDC schemas use them all)."""
    raw_file = tmp_path / "raw.duckdb"
    properties = {
        "id": ID,
        "Name": TEXT,
        "amount": {"type": ["null", "number"]},
        "quantity": {"type": ["null", "integer"], "maximum": 32_767},
        "stock": {"type": ["null", "integer"], "maximum": 2_147_483_647},
        "views": {"type": ["null", "integer"], "maximum": 2**63 - 1},
        "code": {"type": ["null", "integer", "string"]},
        "paid": {"type": ["null", "boolean"]},
        "placed_at": {"type": ["null", "string"], "format": "date-time"},
        "placed_on": {"type": ["null", "string"], "format": "date"},
        "opens": {"type": ["null", "string"], "format": "time"},
        "metadata": {"type": ["null", "object"], "properties": {"a": TEXT}},
        "tags": {"type": ["null", "array"], "items": TEXT},
        "customer": {"anyOf": [{"type": "null"}, {"type": "string"}, {"type": "object"}]},
        "source": {"oneOf": [{"type": "object"}, {"type": "string"}]},
        "anything": {},
        "_sdc_deleted_at": {"type": ["null", "string"], "format": "date-time"},
        "_sdc_lsn": {"type": ["null", "integer"]},
    }
    with loader(raw_file) as target:
        target.send(schema(properties), record({"id": 1}))
    columns = query(
        raw_file,
        "select column_name, data_type from information_schema.columns "
        "where table_schema = 'shop' and table_name = 'things' order by ordinal_position",
    )
    assert columns == [
        ("name", "VARCHAR"),
        ("_sdc_batched_at", "TIMESTAMP"),
        ("_sdc_deleted_at", "VARCHAR"),
        ("_sdc_extracted_at", "TIMESTAMP"),
        ("_sdc_lsn", "BIGINT"),
        ("amount", "DOUBLE"),
        ("code", "VARCHAR"),
        ("customer", "VARCHAR"),
        ("id", "BIGINT"),
        ("metadata", "JSON"),
        ("opens", "TIME"),
        ("paid", "BOOLEAN"),
        ("placed_at", "TIMESTAMP"),
        ("placed_on", "VARCHAR"),
        ("quantity", "SMALLINT"),
        ("source", "JSON"),
        ("stock", "INTEGER"),
        ("tags", "JSON"),
        ("views", "BIGINT"),
    ]
    keys = query(raw_file, "select constraint_column_names from duckdb_constraints() "
                           "where constraint_type = 'PRIMARY KEY'")  # fmt: skip
    assert keys == [(["id"],)]


def test_records_merge_on_keys_and_keep_their_values(tmp_path: Path) -> None:
    raw_file = tmp_path / "raw.duckdb"
    properties = {
        "id": ID,
        "note": TEXT,
        "placed_at": {"type": ["null", "string"], "format": "date-time"},
        "metadata": {"type": ["null", "object"]},
    }
    with loader(raw_file) as target:
        target.send(
            schema(properties),
            record({"id": 1, "note": "first", "placed_at": "2026-01-01T12:00:00+02:00"}),
            record({"id": 2, "note": "", "metadata": {"a": [1, "x"]}}),
            record({"id": 1, "note": "second", "placed_at": "2026-01-01T12:00:00+02:00"}),
        )
    with loader(raw_file) as target:  # a later run reads id 2 again
        target.send(schema(properties), record({"id": 2, "note": "changed"}, "2026-01-03T00:00Z"))
    rows = query(
        raw_file,
        "select id, note, placed_at, metadata->>'$.a[1]', _sdc_extracted_at, _sdc_batched_at "
        "from shop.things order by id",
    )
    assert [row[:5] for row in rows] == [
        (1, "second", datetime(2026, 1, 1, 10), None, datetime(2026, 1, 2, 3, 4, 5)),
        (2, "changed", None, None, datetime(2026, 1, 3)),
    ]
    now = datetime.now(UTC).replace(tzinfo=None)
    assert all(now - timedelta(minutes=5) < row[5] <= now for row in rows)  # in UTC

    with loader(raw_file) as target:  # text as it came: empty is not NULL, JSON kept
        target.send(schema(properties), record({"id": 3, "note": "", "metadata": {"a": [1, "x"]}}))
    assert query(raw_file, "select note, metadata->>'$.a[1]' from shop.things where id = 3") == [
        ("", "x")
    ]


def test_batch_files_are_merged_by_duckdb_and_removed(tmp_path: Path) -> None:
    raw_file = tmp_path / "raw.duckdb"
    properties = {"id": ID, "note": TEXT, "placed_at": {"type": ["string"], "format": "date-time"}}
    first = jsonl_gz(
        tmp_path / "first.json.gz",
        [
            {"id": 1, "note": "a", "placed_at": "2026-01-01T00:00:00+01:00"},
            {"id": 2, "note": "b", "placed_at": "2026-01-01T00:00:00Z"},
            {"id": 1, "note": "a again", "placed_at": "2026-01-01T00:00:00+01:00"},
        ],
    )
    second = tmp_path / "second.parquet"  # a parquet file without `note`: it loads as NULL
    pq.write_table(
        pa.Table.from_pylist(
            [{"id": 2, "placed_at": datetime(2026, 1, 2, 1, tzinfo=UTC)}, {"id": 3}]
        ),
        second,
    )
    loaded_after = datetime.now(UTC).replace(tzinfo=None)
    with loader(raw_file) as target:
        target.send(
            schema(properties),
            record({"id": 1, "note": "sent before the files"}),
            batch(first),
            batch(second, format="parquet"),
        )
    assert not first.exists() and not second.exists()
    rows = query(
        raw_file, "select id, note, placed_at, _sdc_extracted_at from shop.things order by 1"
    )
    assert [row[:3] for row in rows] == [
        (1, "a again", datetime(2025, 12, 31, 23)),
        (2, None, datetime(2026, 1, 2, 1)),
        (3, None, None),
    ]
    assert all(row[3] >= loaded_after for row in rows)  # files carry no extraction time


def test_state_goes_out_only_once_the_rows_before_it_are_committed(tmp_path: Path) -> None:
    raw_file = tmp_path / "raw.duckdb"
    files = jsonl_gz(tmp_path / "batch.json.gz", [{"id": 10}, {"id": 11}])
    with loader(raw_file, batch_size_rows=3) as target:
        target.send(schema({"id": ID}), record({"id": 1}), record({"id": 2}), state(1))
        assert target.next_state(timeout_s=2) is None  # two records wait below the batch size
        target.send(record({"id": 3}), state(2))
        assert target.next_state(timeout_s=30) == state(2)["value"]  # three: committed
        target.send(batch(files), state(3))
        assert target.next_state(timeout_s=30) == state(3)["value"]  # a file: committed at once
        target.send(record({"id": 4}), state(4))
        assert target.next_state(timeout_s=2) is None
        target.process.send_signal(signal.SIGKILL)
        target.process.wait()
    assert query(raw_file, "select id from shop.things order by id") == [
        (1,), (2,), (3,), (10,), (11,)
    ]  # fmt: skip


def test_a_stream_that_fills_its_batch_mid_window_still_checkpoints(tmp_path: Path) -> None:
    """singer-sdk commits a full sink by itself, between two STATEs; the next STATE must still
    go out (after the rest is committed), or one long stream only checkpoints at its end."""
    raw_file = tmp_path / "raw.duckdb"
    with loader(raw_file, batch_size_rows=3) as target:
        target.send(schema({"id": ID}), *(record({"id": i}) for i in range(1, 5)), state(1))
        assert target.next_state(timeout_s=30) == state(1)["value"]
        target.send(record({"id": 5}), state(2))
        assert target.next_state(timeout_s=2) is None  # one record waits, none committed since
        target.process.send_signal(signal.SIGKILL)
        target.process.wait()
    assert query(raw_file, "select id from shop.things order by id") == [(i,) for i in range(1, 5)]


def test_a_raw_table_with_hugeint_integers_goes_on_loading(tmp_path: Path) -> None:
    """RAW tables created before integers became BIGINT (and by target-duckdb) hold them as
    HUGEINT: the same values, so the load goes on into those columns."""
    raw_file = tmp_path / "raw.duckdb"
    with duckdb.connect(str(raw_file)) as conn:
        conn.execute("create schema shop")
        conn.execute(
            "create table shop.things (_sdc_batched_at timestamp, _sdc_deleted_at varchar, "
            "_sdc_extracted_at timestamp, id hugeint, views hugeint, primary key (id))"
        )
        conn.execute("insert into shop.things (id, views) values (1, 10)")
    with loader(raw_file) as target:
        target.send(
            schema({"id": ID, "views": ID}),
            record({"id": 1, "views": 11}),
            record({"id": 2, "views": 2**62}),
        )
    assert query(raw_file, "select id, views from shop.things order by id") == [
        (1, 11),
        (2, 2**62),
    ]
    assert query(
        raw_file,
        "select distinct data_type from information_schema.columns where column_name = 'views'",
    ) == [("HUGEINT",)]


def test_a_new_column_is_added_and_a_changed_type_stops_the_load(tmp_path: Path) -> None:
    raw_file = tmp_path / "raw.duckdb"
    with loader(raw_file) as target:
        target.send(schema({"id": ID, "note": TEXT}), record({"id": 1, "note": "old"}))
    with loader(raw_file) as target:
        target.send(
            schema({"id": ID, "note": TEXT, "gift": TEXT}), record({"id": 2, "gift": "yes"})
        )
    assert query(raw_file, "select id, note, gift from shop.things order by id") == [
        (1, "old", None),
        (2, None, "yes"),
    ]
    assert query(raw_file, "select column_name from information_schema.columns "
                           "where table_name = 'things' order by ordinal_position desc limit 1"
                 ) == [("gift",)]  # fmt: skip

    config = raw_file.with_suffix(".config.json")
    changed = subprocess.run(
        [str(LOADER), "--config", str(config)],
        input="\n".join(
            json.dumps(m)
            for m in (schema({"id": ID, "note": {"type": ["integer"]}}), record({"id": 3}))
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert changed.returncode != 0
    assert "note: VARCHAR in RAW, BIGINT in the stream's schema" in changed.stderr
    assert query(raw_file, "select count(*) from shop.things") == [(2,)]
