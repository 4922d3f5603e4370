"""History loads (pipeline/backfill.py): a Stripe backfill killed mid-way resumes at the last
window its loader committed, never from scratch, and ends with RAW equal to the sandbox; the
progress it prints comes from the job's log; its wall is its own, not the daily run's."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from flows import tasks
from pipeline import backfill, meltano, processes, reconcile, stripe_api
from pipeline import settings as platform
from sandbox import generator, inspect, services
from sandbox.config import LocalShop

JOB = "el-stripe"
# The loader's checkpoint scaled down to the small shop (100,000 rows at the seed's scale): a
# commit every few one-day windows, as a seed-scale backfill gets every few days of history.
CHECKPOINT_ROWS = {"TARGET_DUCKDB_STRIPE_BATCH_SIZE_ROWS": "200"}


@pytest.fixture(scope="module")
def shop(shop_home: LocalShop) -> Iterator[LocalShop]:
    # ~3,000 charges over 30 days: a backfill takes ~25 s here, long enough to be interrupted.
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    generator.generate(shop_home, months=1.0, orders_per_month=3_000, seed=17, end=end)
    services.start_stripe_sandbox(shop_home)
    meltano.prepare(shop_home.platform())
    try:
        yield shop_home
    finally:
        services.stop_stripe_sandbox(shop_home)


def _wait_for_checkpoints(log_file: Path, process: subprocess.Popen[bytes], n: int) -> None:
    """Until Meltano has stored n bookmarks that followed a commit of charges by the loader."""
    deadline = time.monotonic() + 120
    while True:
        log = log_file.read_text(errors="replace")
        after_commit = log.partition('records into "stripe"."charges"')[2]
        if after_commit.count("Incremental state has been updated") >= n:
            return
        assert process.poll() is None, f"meltano ended before {n} checkpoints:\n{log}"
        assert time.monotonic() < deadline, f"no {n} checkpoints in {log_file}"
        time.sleep(0.05)


def _sandbox_charges(shop: LocalShop, created_before: int | None = None) -> int:
    with inspect.connect(shop, attach_postgres=True) as conn:
        where = f"where created < {created_before}" if created_before else ""
        return conn.execute(f"select count(*) from sandbox.stripe.charges {where}").fetchone()[0]


def _missing_in_raw(shop: LocalShop, created_before: int) -> int:
    """Charges created before the bookmark that RAW lacks: the bookmark passed them."""
    with inspect.connect(shop, attach_postgres=True) as conn:
        return conn.execute(
            "select count(*) from sandbox.stripe.charges s where s.created < ? "
            "and s.id not in (select id from raw_stripe.stripe.charges)",
            [created_before],
        ).fetchone()[0]


def test_a_killed_stripe_backfill_resumes_at_its_last_committed_window(shop: LocalShop) -> None:
    settings = shop.platform(extra=CHECKPOINT_ROWS)
    since = (datetime.now(UTC) - timedelta(days=35)).date()
    history = backfill.history_settings(settings, since)
    assert meltano.read_state(settings, JOB) == {}
    log_file = settings.log_dir / "el-stripe-backfill-killed.log"
    process = meltano.start(history, ["run", JOB], log_file)
    try:
        _wait_for_checkpoints(log_file, process, 2)
    finally:
        # The whole run dies at once, as when its worker is killed: Meltano, tap and loader.
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    bookmark = meltano.read_state(settings, JOB)["bookmarks"]["charges"]["created"]
    total = _sandbox_charges(shop)
    committed = _sandbox_charges(shop, created_before=bookmark)
    print(f"\nkilled at charges created < {bookmark}: {committed:,} of {total:,} charges behind it")
    assert 0 < committed < total
    assert _missing_in_raw(shop, bookmark) == 0  # the bookmark covers only committed rows

    load_start = stripe_api.newest_event_created(settings.stripe)
    progress: list[str] = []
    (run,) = backfill.run_jobs(settings, [JOB], progress.append, since, 1).values()
    read = backfill.records_read(run.log_file)
    print("resumed run read", read, f"in {run.seconds:.1f} s;", *progress[-2:], sep="\n")
    new, updated = inspect.stripe_objects_read(run.log_file, "charges")
    assert new + updated == read["charges"]
    # Resumed, not from scratch: exactly the charges from its bookmark on, none behind it again
    # (the updates are the last 30 days' charge events: the killed run had read charges).
    assert new == total - committed and updated > 0
    # The streams the killed run never reached were read whole by this one: their events from
    # before it began are not read again (nothing changed in the sandbox since), only those of
    # its start's second (the tap reads events created at or after its bookmark).
    for stream in ("customers", "disputes"):
        at_start = inspect.stripe_events_since(shop, load_start, stream)
        assert inspect.stripe_objects_read(run.log_file, stream)[1] <= at_start, stream
    # Progress came from the log while it ran: rows committed per stream, rate, time left.
    assert any("rows committed (charges" in line and "rows/s" in line for line in progress)
    assert any("s left" in line for line in progress)

    differences = inspect.stripe_differences(shop)
    assert differences == {table: dict.fromkeys(d, 0) for table, d in differences.items()}
    for result in reconcile.reconcile(settings, [JOB]):
        assert result.ok and result.duplicates == 0, result.describe()


def test_a_history_load_has_its_own_wall_and_the_daily_run_keeps_its_own() -> None:
    assert meltano.JOB_TIMEOUT_S == 1800
    assert backfill.BACKFILL_TIMEOUT_S > 8 * 3600


def test_progress_ticks_while_the_tool_runs_and_its_wall_still_stops_it(tmp_path: Path) -> None:
    ticks: list[float] = []
    started = time.monotonic()
    with pytest.raises(processes.ToolTimeoutError):
        processes.run(
            [sys.executable, "-c", "import time; time.sleep(30)"],
            tmp_path / "sleep.log",
            os.environ,
            tmp_path,
            timeout_s=1.2,
            what="sleep",
            tick=lambda: ticks.append(time.monotonic() - started),
            tick_every_s=0.3,
        )
    assert 3 <= len(ticks) <= 4, ticks
    assert time.monotonic() - started < 5


def test_progress_reads_rows_committed_and_the_history_read_from_the_log(tmp_path: Path) -> None:
    day = 86_400
    start = int(time.time()) - 10 * day
    log_file = tmp_path / "el-stripe.log"
    lines = [
        "2026-12-05T23:50:10.620909Z [info     ] meltano      Meltano 4.4.1",
        "[info     ] tap-stripe   INFO Started syncing stream charges",
        *(
            "[info     ] tap-stripe   INFO message='Request to Stripe api' method=get "
            f"path=http://127.0.0.1:1/v1/charges?limit=100&created[gte]={start + d * day}"
            f"&created[lt]={start + (d + 1) * day}"
            for d in range(5)
        ),
        '[info     ] target-duckdb-stripe Loaded 400 records into "stripe"."charges"',
        '[info     ] target-duckdb-stripe Loaded 250 records into "stripe"."charges"',
        "[info     ] tap-stripe   INFO Started syncing stream customers",
        "[info     ] tap-stripe   INFO message='Request to Stripe api' method=get "
        f"path=http://127.0.0.1:1/v1/customers?limit=100&created[gte]={start}",
        '[info     ] target-duckdb-stripe Loaded 30 records into "stripe"."cust',  # being written
    ]
    log_file.write_text("\n".join(lines))
    progress = backfill.JobProgress(
        JOB, log_file, {name: backfill.StreamProgress() for name in ("charges", "customers")}
    )
    progress.update()
    progress.started = time.time() - 10  # the history so far took 10 s
    assert progress.streams["charges"].committed == 650
    assert progress.streams["charges"].done and not progress.streams["customers"].done
    assert progress.fraction(time.time()) == pytest.approx(0.5, abs=0.01)  # one of two streams
    assert "650 rows committed (charges 650)" in progress.describe()
    assert "history read 50%, about 10 s left" in progress.describe()


def test_postgres_progress_is_the_rows_loaded_against_the_rows_to_read(tmp_path: Path) -> None:
    log_file = tmp_path / "el-postgres.log"
    batch = "['/tmp/b/tap-postgres--public-orders-1.parquet']"
    log_file.write_text(
        "2026-12-05T23:50:10.620909Z [info     ] meltano      Meltano 4.4.1\n"
        f'[info     ] target-duckdb-postgres Loaded 3000 rows of {batch} into "postgres"."orders"\n'
        f'[info     ] target-duckdb-postgres Loaded 1000 rows of {batch} into "postgres"."orders"\n'
    )
    streams = {"orders": backfill.StreamProgress(expected=6_000),
               "payments": backfill.StreamProgress(expected=2_000)}  # fmt: skip
    progress = backfill.JobProgress("el-postgres", log_file, streams)
    progress.update()
    progress.started = time.time() - 10
    assert progress.fraction(time.time()) == pytest.approx(0.5)  # 4,000 of 8,000 rows
    assert "4,000 rows committed (orders 4,000)" in progress.describe()
    assert "history read 50%, about 10 s left" in progress.describe()


def test_rows_to_read_are_the_source_rows_at_or_after_each_bookmark(shop: LocalShop) -> None:
    settings = shop.platform()
    meltano.clear_state(settings, "el-postgres")
    with inspect.connect(shop, attach_raw=False, attach_postgres=True) as conn:
        (orders,) = conn.execute("select count(*) from shop.public.orders").fetchone()
        (middle,) = conn.execute(
            "select updated_at from shop.public.orders order by updated_at "
            f"limit 1 offset {orders // 2}"
        ).fetchone()
        (after,) = conn.execute(
            "select count(*) from shop.public.orders where updated_at >= ?", [middle]
        ).fetchone()
    assert backfill.rows_to_read(settings, "el-postgres")["orders"] == orders  # no bookmark
    bookmark = {"replication_key": "updated_at", "replication_key_value": middle.isoformat()}
    meltano.write_state(settings, "el-postgres", {"bookmarks": {"public-orders": bookmark}})
    counts = backfill.rows_to_read(settings, "el-postgres")
    assert counts["orders"] == after < orders
    assert set(counts) == set(meltano.job_tables("el-postgres"))


def test_the_flows_history_load_has_the_backfill_wall_and_progress(
    monkeypatch: pytest.MonkeyPatch,
) -> None:

    calls: dict[bool, tuple] = {}

    def run_job(settings, job, timeout_s=meltano.JOB_TIMEOUT_S, progress=None):
        calls[progress is not None] = (job, timeout_s)

    monkeypatch.setattr(tasks.extract_load, "run_job", run_job)
    monkeypatch.setattr(tasks, "get_run_logger", lambda: logging.getLogger("test"))
    tasks.extract_load_job.fn(None, JOB, history=True)
    tasks.extract_load_job.fn(None, JOB)
    assert calls == {True: (JOB, backfill.BACKFILL_TIMEOUT_S), False: (JOB, meltano.JOB_TIMEOUT_S)}


def test_a_split_history_load_starts_its_parts_at_the_job_and_hands_their_bookmarks_back(
    tmp_path: Path,
) -> None:
    """Production splits el-stripe-prod into a job per stream (environments.yaml); the parts'
    bookmarks are kept under their own ids and return to the job once all of them are done."""
    settings = platform.load("dev", {**os.environ, "SHOP_HOME": str(tmp_path)})
    charges, customers = "el-stripe-charges-prod", "el-stripe-customers-prod"
    prod = platform.declared_environments()["prod"]["jobs"]["history_parallel"]
    assert prod == {
        "el-stripe-prod": [
            charges,
            customers,
            "el-stripe-disputes-prod",
            "el-stripe-balance-transactions-prod",
        ]
    }
    assert platform.declared_environments()["dev"]["jobs"]["history_parallel"] == {}  # one writer
    meltano.prepare(settings)
    meltano.write_state(
        settings,
        JOB,
        {"bookmarks": {"charges": {"created": 100}, "charges_events": {"updates_created": 90},
                       "customers": {"created": 50}}},
    )  # fmt: skip
    meltano.write_state(settings, customers, {"bookmarks": {"customers": {"created": 70}}})

    backfill.start_parts(settings, JOB, [charges, customers])
    assert meltano.read_state(settings, charges) == {
        "bookmarks": {"charges": {"created": 100}, "charges_events": {"updates_created": 90}}
    }
    # A part a killed run left behind resumes at its own bookmark.
    assert meltano.read_state(settings, customers) == {"bookmarks": {"customers": {"created": 70}}}

    meltano.write_state(settings, charges, {"bookmarks": {"charges": {"created": 300}}})
    backfill.end_parts(settings, JOB, [charges, customers])
    assert meltano.read_state(settings, JOB)["bookmarks"] == {
        "charges": {"created": 300},
        "charges_events": {"updates_created": 90},
        "customers": {"created": 70},
    }
    assert meltano.read_state(settings, charges) == meltano.read_state(settings, customers) == {}


def test_without_commit_lines_progress_counts_what_the_loader_received(tmp_path: Path) -> None:
    """target-snowflake logs no commits; singer-sdk's METRIC record_count (every 60 s) does."""
    log_file = tmp_path / "el-stripe-charges-prod.log"
    metric = '[info     ] {} METRIC: {{"type": "counter", "metric": "record_count", "value": {}, '
    log_file.write_text(
        "\n".join(
            [
                metric.format("target-snowflake-stripe", 300) + '"tags": {"stream": "charges"}}',
                metric.format("target-snowflake-stripe", 200) + '"tags": {"stream": "charges"}}',
                metric.format("tap-stripe   INFO", 900) + '"tags": {"endpoint": "charges"}}',
                "",
            ]
        )
    )
    progress = backfill.JobProgress(JOB, log_file, {"charges": backfill.StreamProgress()})
    progress.update()
    assert "500 rows received by the loader (charges 500)" in progress.describe()
