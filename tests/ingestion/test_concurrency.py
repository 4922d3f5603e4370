"""The shop keeps writing while tap-postgres extracts: steady short transactions, and long ones
open across an extract that commit after it, with rows whose updated_at (their now(), the
transaction's start) is behind the bookmark the extract stored. The next run reads them
(meltano/plugins/tap-postgres-launcher), after a complete run and after a crashed one, and RAW
reconciles with the shop exactly: nothing missing, nothing outdated, nothing duplicated."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline import extract_load, meltano, reconcile
from sandbox import generator, inspect
from sandbox.config import LocalShop
from sandbox.shopgen.live import LiveShop, LongTransaction

pytestmark = pytest.mark.integration

JOB = "el-postgres"
CHANGED_TABLES = {"orders": "order_id", "order_items": "order_item_id"}  # what LiveShop writes


@pytest.fixture(scope="module")
def shop(shop_home: LocalShop) -> Iterator[LocalShop]:
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    generator.generate(shop_home, months=0.01, orders_per_month=30_000, seed=5, end=end)
    meltano.prepare(shop_home.platform())
    yield shop_home


def test_late_commits_reach_raw_after_a_crashed_and_a_complete_run(shop: LocalShop) -> None:
    live = LiveShop(shop, seed=1)

    # 1. A run killed mid-way (the loader SIGKILLed) while a long transaction is open.
    log_file = shop.log_dir / f"{JOB}-killed.log"
    with live.steady_writes(), live.long_transaction(orders=20) as open_over_crash:
        process = meltano.start(shop.platform(), ["run", JOB], log_file)
        try:
            # The loader lags behind the tap: once it loads products (the last stream), the
            # state it passes on covers orders and order_items.
            _wait_for_checkpoint_after(log_file, '"postgres"."products"', process)
            _kill_loader(process)
            assert process.wait(timeout=60) != 0
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    _assert_bookmarks_passed(shop, open_over_crash)

    # 2. A complete run while another long transaction is open: it reads the first one's rows.
    with live.steady_writes() as steady, live.long_transaction(orders=20) as open_over_run:
        extract_load.run_job(shop.platform(), JOB)
    assert _rows_not_in_raw_as_committed(shop, open_over_crash.order_ids) == 0
    _assert_bookmarks_passed(shop, open_over_run)

    # 3. The next run: RAW is the shop, exactly.
    before = _raw_versions(shop)
    started = datetime.now(UTC)
    extract_load.run_job(shop.platform(), JOB)
    for result in reconcile.reconcile(shop.platform(), ["el-postgres"]):
        assert result.ok, result.describe()
        assert (result.missing, result.outdated, result.duplicates) == (0, 0, 0)
        assert result.raw_rows == result.source_rows, result.describe()
    print(
        f"\nlong transactions: over the crash {dict(open_over_crash.written)}, over the run "
        f"{dict(open_over_run.written)}; steady writes during the run {dict(steady)}; rows of "
        f"orders and order_items the last run read again: {_rows_read_again(shop, before, started)}"
    )


def _assert_bookmarks_passed(settings: LocalShop, long: LongTransaction) -> None:
    """The hazard: the stored bookmarks passed rows the long transaction committed after the
    tap read them; what the run recorded as pending goes back to the transaction's start."""
    state = meltano.read_state(settings.platform(), JOB)
    for table in CHANGED_TABLES:
        bookmark = state["bookmarks"][f"public-{table}"]["replication_key_value"]
        assert datetime.fromisoformat(bookmark) > long.started_at, (table, state)
    assert datetime.fromisoformat(state["pending_since"]) <= long.started_at, state


def _rows_not_in_raw_as_committed(settings: LocalShop, order_ids: tuple[int, ...]) -> int:
    """Rows of the orders (and their items) that RAW lacks or holds in an older version."""
    conn = inspect.connect(settings, attach_postgres=True)
    stale = 0
    for table, key in CHANGED_TABLES.items():
        stale += conn.execute(
            f"select count(*) from shop.public.{table} s "
            f"left join raw_postgres.postgres.{table} r using ({key}) "
            "where list_contains(?, s.order_id) "
            "and epoch_ms(r.updated_at) is distinct from epoch_ms(s.updated_at)",
            [list(order_ids)],
        ).fetchone()[0]
    conn.close()
    return stale


def _raw_versions(settings: LocalShop) -> dict[str, set[tuple]]:
    conn = inspect.connect(settings)
    versions = {
        table: set(
            conn.execute(f"select {key}, updated_at from raw_postgres.postgres.{table}").fetchall()
        )
        for table, key in CHANGED_TABLES.items()
    }
    conn.close()
    return versions


def _rows_read_again(settings: LocalShop, before: dict[str, set[tuple]], since: datetime) -> int:
    """Rows the run since `since` loaded that RAW already had with the same updated_at."""
    conn = inspect.connect(settings)
    again = 0
    for table, key in CHANGED_TABLES.items():
        loaded = set(
            conn.execute(
                f"select {key}, updated_at from raw_postgres.postgres.{table} "
                "where _sdc_batched_at >= ?",
                [since.replace(tzinfo=None)],
            ).fetchall()
        )
        again += len(loaded & before[table])
    conn.close()
    return again


def _kill_loader(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the loader, a process of the Meltano run's session."""
    found = subprocess.run(
        ["pgrep", "--session", str(process.pid), "--full", "target-duckdb-batch"],
        capture_output=True,
        text=True,
        check=True,
    )
    (target,) = found.stdout.split()
    os.kill(int(target), signal.SIGKILL)


def _wait_for_checkpoint_after(
    log_file: Path, text: str, process: subprocess.Popen[bytes], timeout_s: float = 120
) -> None:
    """Wait until Meltano stored a state passed on after `text` appeared in the log."""
    deadline = time.monotonic() + timeout_s
    while True:
        log = log_file.read_text(errors="replace")
        if text in log and "Incremental state has been updated" in log.split(text, 1)[1]:
            return
        assert process.poll() is None, f"meltano ended before the checkpoint:\n{log}"
        assert time.monotonic() < deadline, f"no checkpoint after {text!r} in {log_file}"
        time.sleep(0.02)
