"""A Singer target that loads files into DuckDB with DuckDB itself.

BATCH messages (JSONL, gzipped or not, or parquet files a tap wrote) are read by `read_json` /
`read_parquet` straight into a staging table and merged into RAW on the stream's keys: no row
passes through Python. RECORD messages are buffered, written to a JSONL file and loaded the
same way. The RAW layout is target-duckdb 0.8.0's (see layout.py).

Exactly once: a STATE message is passed on only once every row the tap sent before it is
committed. Batch files are committed as they arrive, so a tap's STATE after a BATCH goes out
at once; buffered records are committed (every stream) once `batch_size_rows` of them wait at
a STATE, or at the end, and that STATE goes out after them. A stream's sink also commits on its
own when it holds `batch_size_rows` records (singer-sdk drains a full sink mid-window); the next
STATE then commits the rest and goes out, so a long single-stream read (tap-stripe's history)
still checkpoints every batch instead of only at its end.

This leans on singer-sdk's message handlers and sink internals (the underscored names below),
which is why the SDK is pinned exactly.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import unquote, urlparse

import duckdb
from singer_sdk import Target
from singer_sdk import typing as th
from singer_sdk.helpers._batch import BaseBatchFileEncoding, BatchFileFormat
from singer_sdk.helpers.capabilities import PluginCapabilities
from singer_sdk.singerlib.json import serialize_json
from singer_sdk.sinks import BatchSink

from target_duckdb_batch import layout
from target_duckdb_batch.raw_table import RawTable

DEFAULT_BATCH_SIZE_ROWS = 100_000


def _local_path(url: str) -> str:
    parsed = urlparse(url)
    if parsed.scheme not in ("", "file"):
        raise ValueError(f"batch file {url}: only local files (file://) can be loaded")
    return unquote(parsed.path)


class DuckDBSink(BatchSink):
    MAX_SIZE_DEFAULT = DEFAULT_BATCH_SIZE_ROWS  # one stream's records held at most

    def __init__(self, target: TargetDuckDBBatch, *args: Any, **kwargs: Any) -> None:
        self._connection = target.connection
        self._target = target
        super().__init__(target, *args, **kwargs)

    @property
    def include_sdc_metadata_properties(self) -> bool:
        return True  # part of the RAW layout

    def _add_sdc_metadata_to_schema(self) -> None:
        self.schema["properties"].update(layout.METADATA_PROPERTIES)

    def _add_sdc_metadata_to_record(self, record: dict, message: dict, context: dict) -> None:
        record["_sdc_extracted_at"] = message.get("time_extracted")

    @property
    def validate_schema(self) -> bool:
        return False  # a value of the wrong type fails DuckDB's cast into its RAW column

    @cached_property
    def raw_table(self) -> RawTable:
        schema_name = self.config["default_target_schema"]
        return RawTable(schema_name, self.stream_name, self.original_schema, self.key_properties)

    def setup(self) -> None:
        self.raw_table.ensure(self._connection)

    def process_batch(self, context: dict) -> None:
        """Buffered RECORD messages: through a JSONL file, like batch files."""
        records = context.get("records", [])
        if not records:
            return
        with tempfile.NamedTemporaryFile(
            "w", suffix=".jsonl", dir=self.config.get("temp_dir"), delete=False
        ) as file:
            file.writelines(serialize_json(record) + "\n" for record in records)
        try:
            self.raw_table.load_json(self._connection, [file.name])
        finally:
            os.unlink(file.name)
        self._target.committed_since_state = True
        self.logger.info("Loaded %d records into %s", len(records), self.raw_table.name)

    def process_batch_files(self, encoding: BaseBatchFileEncoding, files: Sequence[str]) -> None:
        """BATCH messages: DuckDB reads the tap's files; they are removed once committed."""
        paths = [_local_path(url) for url in files]
        # Batch files carry no extraction time: the files were written just now.
        arrived = datetime.now(UTC).replace(tzinfo=None)
        if encoding.format == BatchFileFormat.JSONL:
            rows = self.raw_table.load_json(self._connection, paths, extracted_at=arrived)
        elif encoding.format == BatchFileFormat.PARQUET:
            rows = self.raw_table.load_parquet(self._connection, paths, extracted_at=arrived)
        else:
            raise NotImplementedError(f"batch files in {encoding.format} cannot be loaded")
        self.record_counter_metric.increment(rows)
        self.logger.info("Loaded %d rows of %s into %s", rows, paths, self.raw_table.name)
        for path in paths:
            Path(path).unlink()

    def activate_version(self, new_version: int) -> None:
        """RAW keeps every row it was sent, merged on its key; a full re-read deletes nothing."""


class TargetDuckDBBatch(Target):
    name = "target-duckdb-batch"
    default_sink_class = DuckDBSink
    capabilities: ClassVar[list[PluginCapabilities]] = [
        PluginCapabilities.ABOUT,
        PluginCapabilities.BATCH,
        PluginCapabilities.STRUCTURED_LOGGING,
    ]
    config_jsonschema = th.PropertiesList(
        th.Property("filepath", th.StringType, required=True, description="The DuckDB file"),
        th.Property(
            "default_target_schema",
            th.StringType,
            required=True,
            description="The schema every stream's table is loaded into",
        ),
        th.Property(
            "batch_size_rows",
            th.IntegerType,
            description=(
                "Buffered records (all streams) committed at a STATE message "
                f"(default {DEFAULT_BATCH_SIZE_ROWS})"
            ),
        ),
        th.Property("temp_dir", th.StringType, description="Where buffered records are staged"),
    ).to_dict()

    @classmethod
    def append_builtin_config(cls, config_jsonschema: dict) -> None:
        """None of the SDK's built-in target settings: this target always merges on keys and
        always writes the metadata columns, and reads batch files where the tap wrote them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_parallelism = 1  # one DuckDB connection, one writer
        # Records committed since the last STATE went out (a full sink drains by itself).
        self.committed_since_state = False

    @cached_property
    def connection(self) -> duckdb.DuckDBPyConnection:
        conn = duckdb.connect(self.config["filepath"])
        conn.execute("set TimeZone = 'UTC'")
        # A checkpoint rewrites the primary-key indexes whole. At the default (16 MB of WAL) the
        # loader spent half its CPU checkpointing 4.3 M rows (57 s); at 256 MB, 33 s for ~300 MB
        # more memory. Committed rows are in the WAL either way.
        conn.execute("set checkpoint_threshold = '256MB'")
        return conn

    def _pending_records(self) -> int:
        sinks = [*self._sinks_active.values(), *self._sinks_to_clear]
        return sum(sink.current_size for sink in sinks)

    def _process_state_message(self, message_dict: dict) -> None:
        super()._process_state_message(message_dict)
        pending = self._pending_records()
        if pending == 0:
            self._write_state_message(self._latest_state)  # every row it covers is in RAW
        elif self.committed_since_state or pending >= (
            self.config.get("batch_size_rows") or DEFAULT_BATCH_SIZE_ROWS
        ):
            self.drain_all()  # commits every stream, then passes the STATE on

    def _write_state_message(self, state: dict) -> None:
        super()._write_state_message(state)
        self.committed_since_state = False

    def _process_batch_message(self, message_dict: dict) -> None:
        if self._pending_records():
            self.drain_all()  # records sent before the files are loaded first
        super()._process_batch_message(message_dict)

    def process_endofpipe(self) -> None:
        super().process_endofpipe()
        self.connection.close()


def main() -> None:
    TargetDuckDBBatch.cli()
