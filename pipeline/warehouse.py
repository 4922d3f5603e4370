"""The warehouse the platform loads and checks: DuckDB files locally, Snowflake in production.

Both answer the same few questions in SQL that both engines speak (the platform's own checks
and run log; dbt and the loaders talk to the warehouse themselves):

- RAW: `raw_relation(source, table)`, its columns and types, queries over it;
- OPS (the run log and the platform's own records): `ops_relation(table)`, written by `execute`.

Locally RAW is one DuckDB file per source (a file takes one writer at a time, and the loaders
run in parallel), attached read-only; OPS is a schema of analytics.duckdb. On Snowflake RAW is
the RAW database and OPS a schema of ANALYTICS (terraform/platform.yaml).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import duckdb

from pipeline.errors import PlatformError
from pipeline.settings import Settings, SnowflakeConnection

OPS_SCHEMA = "ops"


class WarehouseBusyError(PlatformError):
    pass


class Warehouse(Protocol):
    kind: str

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]: ...

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

    def raw_relation(self, source: str, table: str) -> str: ...

    def raw_tables(self, source: str) -> list[str]: ...

    def raw_columns(self, source: str) -> dict[tuple[str, str], str]:
        """(table, column) -> the column's type as the engine names it, lower-case names."""
        ...

    def ops_relation(self, table: str) -> str: ...

    def epoch_us(self, expression: str) -> str:
        """SQL for a timestamp's microseconds since 1970 (UTC), as an integer."""
        ...


def raw_file(settings: Settings, source: str) -> Path:
    return settings.warehouse_dir / f"raw_{source}.duckdb"


def analytics_file(settings: Settings) -> Path:
    return settings.warehouse_dir / "analytics.duckdb"


class DuckDBWarehouse:
    """The local warehouse: RAW files attached read-only; OPS in analytics.duckdb, attached for
    writing only when asked (other processes cannot open a file while it is written)."""

    kind = "duckdb"

    def __init__(
        self,
        settings: Settings,
        sources: Sequence[str],
        write_ops: bool,
        write_raw: bool,
        read_marts: bool,
    ) -> None:
        self.conn = duckdb.connect()
        self.conn.execute("set TimeZone = 'UTC'")
        self.sources = [s for s in sources if raw_file(settings, s).exists()]
        try:
            for source in self.sources:
                mode = "" if write_raw else " (read_only)"
                self.conn.execute(f"attach '{raw_file(settings, source)}' as raw_{source}{mode}")
            if write_ops:
                analytics_file(settings).parent.mkdir(parents=True, exist_ok=True)
                self.conn.execute(f"attach '{analytics_file(settings)}' as analytics")
                # On Snowflake Terraform creates ANALYTICS.OPS.
                self.conn.execute(f"create schema if not exists analytics.{OPS_SCHEMA}")
            elif read_marts:
                self.conn.execute(f"attach '{analytics_file(settings)}' as analytics (read_only)")
            if write_ops or read_marts:
                self.conn.execute("use analytics")  # marts.<model>, as on Snowflake's ANALYTICS
        except duckdb.IOException as error:  # another process writes the file
            self.conn.close()
            raise WarehouseBusyError(f"cannot open the local warehouse: {error}") from None

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return self.conn.execute(sql, list(params)).fetchall()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.conn.execute(sql, list(params))

    def raw_relation(self, source: str, table: str) -> str:
        return f"raw_{source}.{source}.{table}"

    def raw_tables(self, source: str) -> list[str]:
        if source not in self.sources:
            return []
        rows = self.query(
            "select table_name from duckdb_tables() where database_name = ? and schema_name = ? "
            "order by 1",
            [f"raw_{source}", source],
        )
        # tmp_*: a loader's staging table left behind by an interrupted load
        return [name for (name,) in rows if not name.startswith("tmp_")]

    def raw_columns(self, source: str) -> dict[tuple[str, str], str]:
        if source not in self.sources:
            return {}
        rows = self.query(
            "select table_name, column_name, data_type from duckdb_columns() "
            "where database_name = ? and schema_name = ?",
            [f"raw_{source}", source],
        )
        return {(table, column): data_type for table, column, data_type in rows}

    def ops_relation(self, table: str) -> str:
        return f"analytics.{OPS_SCHEMA}.{table}"

    def epoch_us(self, expression: str) -> str:
        return f"epoch_us({expression})"

    def close(self) -> None:
        self.conn.close()


class SnowflakeWarehouse:
    """Snowflake, as the PREFECT service user (terraform/platform.yaml), sessions in UTC."""

    kind = "snowflake"

    def __init__(self, connection: SnowflakeConnection) -> None:
        import snowflake.connector  # production only: the import takes a second

        self.connection = connection
        options: dict[str, Any] = {
            "account": connection.account,
            "user": connection.user,
            "role": connection.role,
            "warehouse": connection.warehouse,
            "database": connection.analytics_database,
            "session_parameters": {"TIMEZONE": "UTC", "QUERY_TAG": "shop-platform"},
            "login_timeout": 60,
            "network_timeout": 600,
        }
        if connection.private_key_path:
            options["private_key_file"] = connection.private_key_path
            if connection.private_key_passphrase:
                options["private_key_file_pwd"] = connection.private_key_passphrase
        for name in ("host", "port", "protocol"):
            if getattr(connection, name):
                options[name] = getattr(connection, name)
        self.conn = snowflake.connector.connect(**options)

    def _run(self, sql: str, params: Sequence[Any]) -> Any:
        cursor = self.conn.cursor()
        if params:
            # The connector binds client-side in pyformat: `?` -> `%s`, a literal % doubled.
            cursor.execute(sql.replace("%", "%%").replace("?", "%s"), tuple(params))
        else:
            cursor.execute(sql)
        return cursor

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return list(self._run(sql, params).fetchall())

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._run(sql, params).close()

    def raw_relation(self, source: str, table: str) -> str:
        return f"{self.connection.raw_database}.{source.upper()}.{table.upper()}"

    def raw_tables(self, source: str) -> list[str]:
        rows = self.query(
            f"select table_name from {self.connection.raw_database}.information_schema.tables "
            "where table_schema = ? and table_type = 'BASE TABLE' order by 1",
            [source.upper()],
        )
        return [name.lower() for (name,) in rows]

    def raw_columns(self, source: str) -> dict[tuple[str, str], str]:
        rows = self.query(
            "select table_name, column_name, data_type, numeric_scale "
            f"from {self.connection.raw_database}.information_schema.columns "
            "where table_schema = ?",
            [source.upper()],
        )
        # NUMBER(p, 0) holds integers; NUMBER(p, s > 0) and FLOAT numbers.
        return {
            (table.lower(), column.lower()): (
                "INTEGER" if data_type == "NUMBER" and not scale else data_type
            )
            for table, column, data_type, scale in rows
        }

    def ops_relation(self, table: str) -> str:
        return f"{self.connection.analytics_database}.{OPS_SCHEMA}.{table}"

    def epoch_us(self, expression: str) -> str:
        return f"date_part(epoch_microsecond, {expression})"

    def close(self) -> None:
        self.conn.close()


@contextmanager
def connect(
    settings: Settings,
    sources: Sequence[str] = (),
    write_ops: bool = False,
    write_raw: bool = False,
    read_marts: bool = False,
) -> Iterator[Warehouse]:
    """The environment's warehouse for the block. Locally only the RAW files of `sources` are
    opened (so the other loaders may write theirs), for writing only with `write_raw`, and
    analytics.duckdb (the marts, `marts.<model>`, and OPS) with `read_marts` or, for writing OPS,
    `write_ops` (a DuckDB file takes one writing process)."""
    if settings.snowflake is not None:
        warehouse: DuckDBWarehouse | SnowflakeWarehouse = SnowflakeWarehouse(settings.snowflake)
    else:
        warehouse = DuckDBWarehouse(settings, sources, write_ops, write_raw, read_marts)
    try:
        yield warehouse
    finally:
        warehouse.close()


def suspend(settings: Settings, name: str) -> None:
    """Suspend a Snowflake warehouse now rather than after its idle auto-suspend minute (the
    flow's last statement has run). Needs no running warehouse; one already suspended is fine."""
    if settings.snowflake is None:
        return
    with connect(settings) as snowflake:
        # SHOW's columns: name, state, ...; LIKE is a pattern, so the name is compared here.
        states = {row[0]: str(row[1]).upper() for row in snowflake.query("show warehouses")}
        if states.get(name) in ("STARTED", "RESUMING"):
            snowflake.execute(f"alter warehouse {name} suspend")


def rows_loaded_since(
    settings: Settings, sources: Sequence[str], since: datetime
) -> dict[str, int]:
    """Rows each RAW table of the sources received (inserted or updated by the loader) since a
    moment, by the loader's `_sdc_batched_at`: `<source>.<table>` -> rows."""
    loaded = {}
    moment = since.astimezone(UTC).replace(tzinfo=None)
    with connect(settings, sources) as warehouse:
        for source in sources:
            columns = warehouse.raw_columns(source)
            for table in warehouse.raw_tables(source):
                if (table, "_sdc_batched_at") not in columns:
                    continue
                (count,) = warehouse.query(
                    f"select count(*) from {warehouse.raw_relation(source, table)} "
                    "where _sdc_batched_at >= ?",
                    [moment],
                )[0]
                loaded[f"{source}.{table}"] = int(count)
    return loaded
