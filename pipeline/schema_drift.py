"""Schema drift between the shop's PostgreSQL and RAW, checked before every el-postgres run.

A column added at the source needs nothing: tap-postgres rediscovers the tables on every run
(`use_cached_catalog: false`) and the loader adds the column to the RAW table. A column whose
type changed is different: target-duckdb would rename the RAW column aside and start a new
one, silently splitting its history, and target-snowflake would fail on the first row that
does not fit. So the run is refused first, naming each column and both types.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from pipeline import warehouse
from pipeline.extract_load import ExtractLoadError
from pipeline.lock import WarehouseBusyError
from sandbox import postgres
from sandbox.config import Settings

# PostgreSQL type -> the kind of value the loader stores; dates travel as ISO text.
_SOURCE_KINDS = {
    "smallint": "integer",
    "integer": "integer",
    "bigint": "integer",
    "numeric": "number",
    "real": "number",
    "double precision": "number",
    "text": "text",
    "character varying": "text",
    "character": "text",
    "uuid": "text",
    "date": "text",
    "timestamp with time zone": "timestamp",
    "timestamp without time zone": "timestamp",
    "boolean": "boolean",
    "json": "json",
    "jsonb": "json",
}
_RAW_KINDS = {
    "SMALLINT": "integer",
    "INTEGER": "integer",
    "BIGINT": "integer",
    "HUGEINT": "integer",
    "DOUBLE": "number",
    "VARCHAR": "text",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamp",
    "BOOLEAN": "boolean",
    "JSON": "json",
}


@dataclass(frozen=True)
class TypeChange:
    table: str
    column: str
    source_type: str
    raw_type: str

    def __str__(self) -> str:
        return (
            f"postgres.{self.table}.{self.column}: {self.source_type} at the source, "
            f"{self.raw_type} in RAW"
        )


class SchemaDriftError(ExtractLoadError):
    def __init__(self, changes: list[TypeChange]) -> None:
        listed = "\n".join(f"  {change}" for change in changes)
        super().__init__(
            f"column type changed at the source; el-postgres was not run, RAW is unchanged:\n"
            f"{listed}\n"
            "Decide how RAW follows (alter the RAW column, or reload the table: "
            "`meltano state clear` of the job and drop the RAW table), then run again."
        )
        self.changes = changes


def type_changes(settings: Settings) -> list[TypeChange]:
    """Columns present both at the source and in RAW whose kinds of value differ."""
    raw_file = warehouse.raw_file(settings, "postgres")
    if not raw_file.exists():
        return []
    try:
        conn = duckdb.connect(str(raw_file), read_only=True)
    except duckdb.IOException as error:  # another process writes the file
        raise WarehouseBusyError(f"cannot read {raw_file}: {error}") from None
    try:
        raw = {
            (table, column): data_type
            for table, column, data_type in conn.execute(
                "select table_name, column_name, data_type from information_schema.columns "
                "where table_schema = 'postgres'"
            ).fetchall()
        }
    finally:
        conn.close()
    try:
        with postgres.connect(settings, settings.shop_db) as source:
            columns = source.execute(
                "select table_name, column_name, data_type from information_schema.columns "
                "where table_schema = 'public' order by table_name, ordinal_position"
            ).fetchall()
    except postgres.PostgresError:
        return []  # unreachable: the run itself fails and says so

    changes = []
    for table, column, source_type in columns:
        raw_type = raw.get((table, column))
        source_kind = _SOURCE_KINDS.get(source_type)
        raw_kind = _RAW_KINDS.get(raw_type or "")
        if raw_type and source_kind and raw_kind and source_kind != raw_kind:
            changes.append(TypeChange(table, column, source_type, raw_type))
    return changes


def check(settings: Settings) -> None:
    changes = type_changes(settings)
    if changes:
        raise SchemaDriftError(changes)
