"""The shop's PostgreSQL as the platform reaches it: a connection with a clear error, and the
logical replication slot of change data capture (wal2json)."""

from __future__ import annotations

import psycopg

from pipeline.errors import PlatformError
from pipeline.settings import PostgresSource


class SourceUnreachableError(PlatformError):
    pass


def connect(source: PostgresSource, **kwargs: object) -> psycopg.Connection:
    """Connect, turning 'server not reachable' into an error that names the server."""
    try:
        return psycopg.connect(source.conninfo(), connect_timeout=10, **kwargs)
    except psycopg.OperationalError as error:
        raise SourceUnreachableError(
            f"cannot reach PostgreSQL at {source.host}:{source.port} "
            f"(database {source.database}): {str(error).strip()}"
        ) from error


# A slot keeps every WAL segment its consumer has not confirmed; the server's
# max_slot_wal_keep_size caps that, after which PostgreSQL invalidates the slot rather than fill
# its disk.


def replication_slot(source: PostgresSource) -> dict[str, object] | None:
    """The slot's state (plugin, confirmed LSN, WAL it retains, wal_status), None if absent."""
    with connect(source) as conn:
        row = conn.execute(
            "select plugin, database, confirmed_flush_lsn::text, restart_lsn::text, wal_status, "
            "pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint, active "
            "from pg_replication_slots where slot_name = %s",
            [source.cdc_slot],
        ).fetchone()
    if row is None:
        return None
    keys = ("plugin", "database", "confirmed_flush_lsn", "restart_lsn", "wal_status")
    return {**dict(zip(keys, row[:5], strict=True)), "retained_bytes": row[5], "active": row[6]}


def create_replication_slot(source: PostgresSource) -> None:
    """Create the wal2json logical slot on the shop database (idempotent)."""
    if replication_slot(source) is not None:
        return
    with connect(source, autocommit=True) as conn:
        conn.execute("select pg_create_logical_replication_slot(%s, 'wal2json')", [source.cdc_slot])


def drop_replication_slot(source: PostgresSource) -> None:
    """Drop the slot (idempotent), releasing the WAL it retained."""
    with connect(source, autocommit=True) as conn:
        conn.execute(
            "select pg_drop_replication_slot(slot_name) from pg_replication_slots "
            "where slot_name = %s",
            [source.cdc_slot],
        )


def advance_replication_slot(source: PostgresSource, lsn: int) -> str:
    """Confirm the slot up to `lsn` (never backwards); return its confirmed LSN."""
    with connect(source, autocommit=True) as conn:
        row = conn.execute(
            "select end_lsn::text from pg_replication_slot_advance(%s, %s::pg_lsn)",
            [source.cdc_slot, f"{lsn >> 32:X}/{lsn & 0xFFFFFFFF:X}"],
        ).fetchone()
    assert row is not None
    return row[0]
