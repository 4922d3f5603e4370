"""One RAW table: created or widened to a stream's schema, and loaded from files by DuckDB.

A load reads the files into a staging table, keeps the last row of each key, and merges it into
the RAW table on the key (a row read again replaces its earlier copy), all in one transaction:
once `load` returns, its rows are committed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import duckdb

from target_duckdb_batch import layout


class SchemaChangeError(RuntimeError):
    pass


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _file_list(paths: Sequence[str]) -> str:
    return "[" + ", ".join(literal(path) for path in paths) + "]"


class RawTable:
    def __init__(
        self, schema_name: str, stream: str, schema: dict[str, Any], keys: Sequence[str]
    ) -> None:
        if not keys:
            # Without a key a re-read row cannot replace its earlier copy: it would duplicate.
            raise ValueError(f"stream {stream} has no key properties; RAW merges on keys")
        self.stream = stream
        self.name = f"{quote(schema_name)}.{quote(layout.table_name(stream))}"
        self._schema_name = schema_name
        self.columns = layout.columns(schema)
        by_property = {column.property: column for column in self.columns}
        self.keys = [by_property[key].name for key in keys]

    def ensure(self, conn: duckdb.DuckDBPyConnection) -> None:
        """Create the table, or add the columns the stream gained; a column whose type changed
        stops the load (RAW would otherwise hold two kinds of value in one column)."""
        conn.execute(f"create schema if not exists {quote(self._schema_name)}")
        existing = dict(
            conn.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_catalog = current_database() and table_schema = ? "
                "and table_name = ?",
                [self._schema_name, layout.table_name(self.stream)],
            ).fetchall()
        )
        if not existing:
            definitions = [f"{quote(c.name)} {c.type}" for c in self.columns]
            primary_key = ", ".join(quote(key) for key in self.keys)
            conn.execute(
                f"create table {self.name} ({', '.join(definitions)}, primary key ({primary_key}))"
            )
            return
        changed = [
            f"{c.name}: {existing[c.name]} in RAW, {c.type} in the stream's schema"
            for c in self.columns
            if c.name in existing
            and existing[c.name] != c.type
            and (existing[c.name], c.type) not in layout.SAME_VALUES
        ]
        if changed:
            raise SchemaChangeError(
                f"{self.name}: column type changed; nothing of {self.stream} was loaded: "
                + "; ".join(changed)
            )
        for column in self.columns:
            if column.name not in existing:
                added = f"{quote(column.name)} {column.type}"
                conn.execute(f"alter table {self.name} add column {added}")

    def load_json(
        self,
        conn: duckdb.DuckDBPyConnection,
        paths: Sequence[str],
        extracted_at: datetime | None = None,
    ) -> int:
        """Merge newline-delimited JSON files (gzipped or not) into the table."""
        read_types = {
            # Time stamps as text: DuckDB's JSON reader ignores their UTC offsets.
            c.property: "VARCHAR" if c.type == "TIMESTAMP" else c.type
            for c in self.columns
        }
        columns = ", ".join(f"{literal(name)}: {literal(t)}" for name, t in read_types.items())
        reader = (
            f"read_json({_file_list(paths)}, format = 'newline_delimited', columns = {{{columns}}})"
        )
        return self._merge(conn, reader, set(read_types), extracted_at)

    def load_parquet(
        self, conn: duckdb.DuckDBPyConnection, paths: Sequence[str], extracted_at: datetime
    ) -> int:
        """Merge parquet files into the table; properties missing from them load as NULL."""
        reader = f"read_parquet({_file_list(paths)}, union_by_name = true)"
        present = {row[0] for row in conn.execute(f"describe select * from {reader}").fetchall()}
        return self._merge(conn, reader, present, extracted_at)

    def _merge(
        self,
        conn: duckdb.DuckDBPyConnection,
        reader: str,
        present: set[str],
        extracted_at: datetime | None,
    ) -> int:
        """Stage the reader's rows in RAW's types, then merge the last row of each key."""
        selected = []
        for column in self.columns:
            if column.name == "_sdc_batched_at":
                value = "cast(current_timestamp as timestamp)"  # the session is in UTC
            elif column.name == "_sdc_extracted_at" and extracted_at is not None:
                value = f"timestamp {literal(extracted_at.isoformat(sep=' '))}"
            elif column.property not in present:
                value = "null"
            elif column.type == "TIMESTAMP":  # to UTC, whatever offset the text carries
                value = f"cast(cast({quote(column.property)} as timestamptz) as timestamp)"
            else:
                value = quote(column.property)
            selected.append(f"cast({value} as {column.type}) as {quote(column.name)}")

        names = [quote(c.name) for c in self.columns]
        keys = [quote(key) for key in self.keys]
        on = " and ".join(f"raw.{key} = new.{key}" for key in keys)
        updates = ", ".join(f"{name} = new.{name}" for name in names if name not in keys)
        conn.execute("begin")
        try:
            # Insertion order is the files' order, so rowid tells which copy of a key came last.
            conn.execute(f"create temp table staged as select {', '.join(selected)} from {reader}")
            rows = conn.execute("select count(*) from staged").fetchone()[0]
            conn.execute(
                f"merge into {self.name} as raw "
                f"using (select * from staged qualify row_number() over "
                f"(partition by {', '.join(keys)} order by rowid desc) = 1) as new on {on} "
                f"when matched then update set {updates} "
                f"when not matched then insert ({', '.join(names)}) "
                f"values ({', '.join(f'new.{name}' for name in names)})"
            )
            conn.execute("drop table staged")
            conn.execute("commit")
        except BaseException:
            conn.execute("rollback")
            raise
        return rows
