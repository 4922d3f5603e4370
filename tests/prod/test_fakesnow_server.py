"""The emulator's own fixes of fakesnow's server mode (fakesnow_server.py), each seen by a
client the way the production clients see it."""

from __future__ import annotations

import time

import pytest
import snowflake.connector.errors
from snowflake_emulator import Emulator


@pytest.fixture(scope="module")
def raw(emulator: Emulator) -> Emulator:
    with emulator.connect() as conn:
        conn.cursor().execute("create database RAW")
        conn.cursor().execute("create schema RAW.POSTGRES")
    return emulator


def test_databases_are_files_every_session_shares(raw: Emulator) -> None:
    assert (raw.db_dir / "RAW.db").is_file()  # not fakesnow's in-memory default
    with raw.connect("RAW") as writer:
        writer.cursor().execute("create table RAW.POSTGRES.WRITTEN (ID number)")
        writer.cursor().execute("insert into RAW.POSTGRES.WRITTEN values (1), (2)")
    with raw.connect("RAW") as reader:
        rows = reader.cursor().execute("select count(*) from RAW.POSTGRES.WRITTEN").fetchall()
    assert rows == [(2,)]


def test_a_null_timestamp_reaches_the_client_as_null(raw: Emulator) -> None:
    with raw.connect("RAW") as conn:
        cursor = conn.cursor()
        cursor.execute("create table RAW.POSTGRES.STAMPS (ID number, CHANGED_AT timestamp_tz)")
        cursor.execute(
            "insert into RAW.POSTGRES.STAMPS values (1, null), (2, '2026-01-02 03:04:05+00:00')"
        )
        rows = cursor.execute(
            "select ID, CHANGED_AT from RAW.POSTGRES.STAMPS order by ID"
        ).fetchall()
    assert rows[0] == (1, None)
    assert rows[1][1].isoformat() == "2026-01-02T03:04:05+00:00"


@pytest.mark.parametrize(
    ("statement", "cause"),
    [
        # A primary-key violation, which the Snowflake state backend's lock relies on.
        ("insert into RAW.POSTGRES.LOCKS values ('job')", "Duplicate key"),
        # A result type fakesnow cannot describe.
        ("select interval '1 day'", "INTERVAL"),
    ],
)
def test_an_error_fakesnow_does_not_map_fails_at_once_with_its_cause(
    raw: Emulator, statement: str, cause: str
) -> None:
    with raw.connect("RAW") as conn:
        cursor = conn.cursor()
        cursor.execute("create or replace table RAW.POSTGRES.LOCKS (STATE_ID varchar primary key)")
        cursor.execute("insert into RAW.POSTGRES.LOCKS values ('job')")
        started = time.monotonic()
        with pytest.raises(snowflake.connector.errors.ProgrammingError, match=cause):
            cursor.execute(statement)
    assert time.monotonic() - started < 5  # not retried


def test_a_schema_named_at_login_is_not_created(raw: Emulator) -> None:
    # As on Snowflake: a schema Terraform does not declare is missing, not made on the fly.
    with (
        raw.connect("RAW", "MELTANO") as conn,
        pytest.raises(snowflake.connector.errors.ProgrammingError, match="MELTANO"),
    ):
        conn.cursor().execute("create table RAW.MELTANO.STATE (ID number)")
    login = raw.logins()[-1]
    assert (login["user"], login["database"], login["schema"]) == ("TEST", "RAW", "MELTANO")
