"""Exactly-once under failure: kill the loader in the middle of el-postgres, stop PostgreSQL in
the middle of a run; the next run completes, RAW reconciles with the source key by key (no
loss, no duplicates, money sums equal), and the bookmark Meltano kept never passed a row that
had not landed in RAW."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from pipeline import catalog, extract_load, meltano, reconcile, schema_drift
from sandbox import generator, inspect, postgres
from sandbox.config import LocalShop

pytestmark = pytest.mark.integration

TABLES = {t.name: t.primary_key[0] for t in catalog.tables_of("postgres")}  # table: key
# The tap writes a file per 10,000 rows of a table; the loader passes on the STATE that follows
# each file once it is committed: several checkpoints within one run, so a kill lands between.
LOADED_A_FULL_FILE = "Loaded 10000 rows"


@pytest.fixture(scope="module")
def shop(shop_home: LocalShop) -> Iterator[LocalShop]:
    # ~90k rows: el-postgres takes ~10 s here, long enough to be interrupted.
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    generator.generate(shop_home, months=0.03, orders_per_month=400_000, seed=11, end=end)
    meltano.prepare(shop_home.platform())
    yield shop_home


def _session_processes(session: int) -> dict[int, str]:
    """pid -> command line of the processes in a session (Meltano, its tap and target)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getsid(int(entry.name)) == session:
                found[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except (ProcessLookupError, FileNotFoundError, PermissionError):
            continue
    return {pid: cmd.decode(errors="replace") for pid, cmd in found.items()}


def _wait_for_log(
    log_file: Path, text: str, process, timeout_s: float = 120, after: str = ""
) -> None:
    """Wait until `text` is in the log (after the first `after`, if given)."""
    deadline = time.monotonic() + timeout_s
    while True:
        log = log_file.read_text(errors="replace")
        if text in (log.partition(after)[2] if after else log):
            return
        assert process.poll() is None, f"meltano ended before {text!r}:\n{log_file.read_text()}"
        assert time.monotonic() < deadline, f"no {text!r} in {log_file} after {timeout_s} s"
        time.sleep(0.05)


def _raw_tables(conn) -> set[str]:
    query = "select table_name from duckdb_tables() where database_name = 'raw_postgres'"
    return {row[0] for row in conn.execute(query).fetchall()}


def _counts(settings: LocalShop) -> dict[str, tuple[int, int]]:
    """table -> (source rows, RAW rows)."""
    conn = inspect.connect(settings, attach_postgres=True)
    attached = _raw_tables(conn)
    counts = {}
    for table in TABLES:
        source = conn.execute(f"select count(*) from shop.public.{table}").fetchone()[0]
        raw = (
            conn.execute(f"select count(*) from raw_postgres.postgres.{table}").fetchone()[0]
            if table in attached
            else 0
        )
        counts[table] = (source, raw)
    conn.close()
    return counts


def _rows_behind_bookmarks(settings: LocalShop, state: dict) -> dict[str, int]:
    """Per bookmarked table: source rows older than its bookmark that are not in RAW. The tap
    reads in updated_at order, so everything before the bookmark was read and must have landed;
    rows at the bookmark itself are read again (the tap compares with >=)."""
    conn = inspect.connect(settings, attach_postgres=True)
    conn.execute("set TimeZone = 'UTC'")
    attached = _raw_tables(conn)
    behind = {}
    for stream, bookmark in state.get("bookmarks", {}).items():
        table = stream.removeprefix("public-")
        key = TABLES[table]
        value = bookmark.get("replication_key_value")
        if value is None:
            continue
        raw = f"raw_postgres.postgres.{table}" if table in attached else f"(select null as {key})"
        behind[table] = conn.execute(
            f"select count(*) from shop.public.{table} s "
            f"where s.updated_at < ?::timestamptz and s.{key} not in (select {key} from {raw})",
            [value],
        ).fetchone()[0]
    conn.close()
    return behind


def _assert_reconciles(settings: LocalShop) -> list[reconcile.TableReconciliation]:
    results = reconcile.reconcile(settings.platform(), ["el-postgres"])
    for result in results:
        assert result.ok, result.describe()
        assert result.raw_rows == result.source_rows, result.describe()
        assert result.duplicates == 0
    return results


def test_killing_the_loader_mid_run_loses_and_duplicates_nothing(shop: LocalShop) -> None:
    settings = shop
    job = "el-postgres"
    assert meltano.read_state(settings.platform(), job) == {}
    log_file = settings.log_dir / "el-postgres-killed.log"
    process = meltano.start(settings.platform(), ["run", job], log_file)
    try:
        # Kill once Meltano has stored a checkpoint the loader emitted mid-run, mid-table.
        _wait_for_log(
            log_file, "Incremental state has been updated", process, after=LOADED_A_FULL_FILE
        )
        targets = [
            pid
            for pid, cmd in _session_processes(process.pid).items()
            if "target-duckdb-batch" in cmd
        ]
        assert len(targets) == 1, _session_processes(process.pid)
        os.kill(targets[0], signal.SIGKILL)
        assert process.wait(timeout=60) != 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    state = meltano.read_state(settings.platform(), job)
    after_kill = _counts(settings)
    print("\nafter SIGKILL of the loader: state", state, "\n(source, RAW) rows", after_kill)
    assert state.get("bookmarks"), "the killed run stored no checkpoint"
    assert sum(raw for _, raw in after_kill.values()) < sum(src for src, _ in after_kill.values())
    behind = _rows_behind_bookmarks(settings, state)
    assert behind and all(n == 0 for n in behind.values()), behind

    extract_load.run_jobs(settings.platform(), [job])
    results = _assert_reconciles(settings)
    print("after the next run:", {r.table: (r.source_rows, r.raw_rows) for r in results})
    state = meltano.read_state(settings.platform(), job)
    assert set(state["bookmarks"]) == {f"public-{table}" for table in TABLES}


def test_postgres_stopped_mid_run_then_the_next_run_catches_up(shop: LocalShop) -> None:
    settings = shop
    job = "el-postgres"
    # Changes since the last run, and a full re-read of every table so the run is long.
    changes = generator.simulate(settings, until=datetime.now(UTC))
    meltano.clear_state(settings.platform(), job)
    log_file = settings.log_dir / "el-postgres-pg-stopped.log"
    process = meltano.start(settings.platform(), ["run", job], log_file)
    try:
        _wait_for_log(log_file, "Beginning sync of 'public-order_items'", process)
        postgres.stop(settings)  # fast shutdown: the tap's connection is cut mid-stream
        assert process.wait(timeout=120) != 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        postgres.start(settings)
    state = meltano.read_state(settings.platform(), job)
    assert all(n == 0 for n in _rows_behind_bookmarks(settings, state).values())

    extract_load.run_jobs(settings.platform(), [job])
    results = {r.table: r for r in _assert_reconciles(settings)}
    assert results["orders"].deleted_at_source == changes.get("shop.orders.deleted", 0)


def test_a_money_value_changed_on_the_way_fails_the_reconciliation(shop: LocalShop) -> None:
    settings = shop
    raw_file = inspect.raw_file(settings, "postgres")
    _change_raw(raw_file, "total_cents + 1")
    try:
        with pytest.raises(reconcile.ReconciliationError) as error:
            reconcile.reconcile(settings.platform(), ["el-postgres"], ("orders",))
        message = str(error.value)
        print("\n" + message)
        assert "postgres.orders (changed up to" in message
        # Keys and change times alone would not show it: the money sums of its key range do,
        # and the row comparison names it.
        assert "missing in RAW 0, outdated 1, duplicated 0" in message
    finally:
        _change_raw(raw_file, "total_cents - 1")
    _assert_reconciles(settings)


def _change_raw(raw_file: Path, total_cents: str) -> None:
    with duckdb.connect(str(raw_file)) as raw:
        raw.execute(
            f"update postgres.orders set total_cents = {total_cents} "
            "where order_id = (select min(order_id) from postgres.orders)"
        )


def test_a_new_nullable_column_reaches_raw_on_the_next_run(shop: LocalShop) -> None:
    settings = shop
    with postgres.connect(settings, settings.shop_db, autocommit=True) as conn:
        conn.execute("alter table orders add column gift_note text")
        order_id = conn.execute(
            "update orders set gift_note = 'for grandma', updated_at = now() "
            "where order_id = (select max(order_id) from orders) returning order_id"
        ).fetchone()[0]
    extract_load.run_job(settings.platform(), "el-postgres")
    conn = inspect.connect(settings)
    rows = conn.execute(
        "select order_id, gift_note from raw_postgres.postgres.orders where gift_note is not null"
    ).fetchall()
    conn.close()
    assert rows == [(order_id, "for grandma")]
    _assert_reconciles(settings)


def test_a_changed_column_type_fails_clearly_before_loading(shop: LocalShop) -> None:
    settings = shop
    with postgres.connect(settings, settings.shop_db, autocommit=True) as conn:
        conn.execute("alter table orders alter column gift_note type integer using null")
    try:
        with pytest.raises(schema_drift.SchemaDriftError) as error:
            extract_load.run_job(settings.platform(), "el-postgres")
        message = str(error.value)
        print("\n" + message)
        assert "postgres.orders.gift_note: integer at the source, VARCHAR in RAW" in message
        assert "el-postgres was not run, RAW is unchanged" in message
    finally:
        with postgres.connect(settings, settings.shop_db, autocommit=True) as conn:
            conn.execute("alter table orders alter column gift_note type text")
    assert schema_drift.type_changes(settings.platform()) == []
