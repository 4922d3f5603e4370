"""DuckDB connections to the local warehouse, with the sources attached read-only when asked."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb

from pipeline.lock import WarehouseBusyError
from sandbox.config import Settings

RAW_SOURCES = ("postgres", "stripe", "marketing")


def raw_file(settings: Settings, source: str) -> Path:
    return settings.warehouse_dir / f"raw_{source}.duckdb"


def _postgres_extension() -> Path:
    # DuckDB cannot download extensions offline; PyPI's duckdb-ext-postgres ships the binary
    # into site-packages/duckdb_ext/extensions/v<duckdb version>/<platform>/.
    site_packages = Path(duckdb.__file__).resolve().parent.parent
    pattern = f"duckdb_ext/extensions/v{duckdb.__version__}/*/postgres_scanner.duckdb_extension"
    found = sorted(site_packages.glob(pattern))
    if not found:
        raise RuntimeError(f"DuckDB's postgres extension is missing ({site_packages}/{pattern})")
    return found[0]


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def connect(
    settings: Settings, *, attach_raw: bool = True, attach_postgres: bool = False
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the RAW files (and the source databases) attached read-only."""
    conn = duckdb.connect()
    if attach_raw:
        for source in RAW_SOURCES:
            path = raw_file(settings, source)
            if path.exists():
                try:
                    conn.execute(f"attach '{path}' as raw_{source} (read_only)")
                except duckdb.IOException as error:  # another process writes the file
                    conn.close()
                    raise WarehouseBusyError(f"cannot read {path}: {error}") from None
    if attach_postgres:
        conn.execute(f"load '{_postgres_extension()}'")
        for alias, database in (("shop", settings.shop_db), ("sandbox", settings.sandbox_db)):
            # Through a secret, not a connection string: DuckDB's errors quote the connection
            # string, password included, and errors reach logs and alerts.
            conn.execute(
                f"create temporary secret {alias}_postgres (type postgres, "
                f"host {_literal(settings.pg_host)}, port {settings.pg_port}, "
                f"database {_literal(database)}, user {_literal(settings.pg_user)}, "
                f"password {_literal(settings.pg_password)})"
            )
            conn.execute(
                f"attach '' as {alias} (type postgres, secret {alias}_postgres, read_only)"
            )
    return conn


def rows_loaded_since(settings: Settings, since: datetime) -> dict[str, int]:
    """Rows each RAW table received (inserted or updated by the loader) since a moment."""
    conn = connect(settings)
    conn.execute("set TimeZone = 'UTC'")
    tables = conn.execute(
        "select database_name, schema_name, table_name from duckdb_tables() "
        "where database_name like 'raw_%' order by all"
    ).fetchall()
    loaded = {}
    for database, schema, table in tables:
        row = conn.execute(
            f'select count(*) from "{database}"."{schema}"."{table}" '
            "where _sdc_batched_at >= ?::timestamp",
            [since.astimezone(UTC).replace(tzinfo=None)],
        ).fetchone()
        loaded[f"{schema}.{table}"] = int(row[0]) if row else 0
    return loaded
