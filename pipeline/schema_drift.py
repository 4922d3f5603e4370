"""Schema drift between the shop's PostgreSQL and RAW, checked before every el-postgres run.

A column added at the source needs nothing: tap-postgres rediscovers the tables on every run
(`use_cached_catalog: false`) and the loader adds the column to the RAW table. A column whose
type changed is different: the local loader (target-duckdb-batch) and target-snowflake would
fail on the first row that does not fit, partway through a load. So the run is refused first,
naming each column and both types. The source's types come from its information_schema, RAW's
from the warehouse's (DuckDB's or Snowflake's).
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline import shop_database, warehouse
from pipeline.errors import PlatformError
from pipeline.settings import Settings

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
# DuckDB's and Snowflake's type names (Snowflake: NUMBER of scale 0 reads as INTEGER, see
# pipeline/warehouse.py).
_RAW_KINDS = {
    "SMALLINT": "integer",
    "INTEGER": "integer",
    "BIGINT": "integer",
    "HUGEINT": "integer",
    "DOUBLE": "number",
    "NUMBER": "number",
    "FLOAT": "number",
    "VARCHAR": "text",
    "TEXT": "text",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamp",
    "TIMESTAMP_TZ": "timestamp",
    "TIMESTAMP_NTZ": "timestamp",
    "TIMESTAMP_LTZ": "timestamp",
    "BOOLEAN": "boolean",
    "JSON": "json",
    "VARIANT": "json",
    "OBJECT": "json",
    "ARRAY": "json",
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


class SchemaDriftError(PlatformError):
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
    with warehouse.connect(settings, ["postgres"]) as raw_warehouse:
        raw = raw_warehouse.raw_columns("postgres")
    if not raw:
        return []  # nothing loaded yet
    with shop_database.connect(settings.postgres) as source:
        columns = source.execute(
            "select table_name, column_name, data_type from information_schema.columns "
            "where table_schema = 'public' order by table_name, ordinal_position"
        ).fetchall()

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
