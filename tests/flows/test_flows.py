"""The Prefect flows end to end on a small local shop, under Prefect's test harness, with a
webhook receiver on 127.0.0.1 standing in for Slack."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import duckdb
import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import TaskRun
from prefect.client.schemas.sorting import TaskRunSort
from prefect.settings import PREFECT_API_URL
from prefect.testing.utilities import prefect_test_harness
from webhook_receiver import WebhookReceiver

from flows import tasks
from flows.daily_refresh import daily_refresh
from flows.realtime_orders import realtime_orders
from pipeline import meltano, shop_database, source_changes, transform
from pipeline import settings as platform
from sandbox import generator, postgres, services
from sandbox.config import REPO_ROOT, LocalShop

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def shop(shop_home: LocalShop, webhook: WebhookReceiver) -> Iterator[LocalShop]:
    """A small shop reaching now, its sources running, the flows pointed at it through the
    environment (as `shop demo` and `shop scheduler` do)."""
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    generator.generate(shop_home, months=0.05, orders_per_month=60_000, seed=11, end=end)
    services.start_stripe_sandbox(shop_home)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in shop_home.platform_variables().items():
            patch.setenv(name, value)
        patch.setenv("ALERT_WEBHOOK_URL", webhook.url)
        with prefect_test_harness(server_startup_timeout=90):
            yield shop_home


def advance(shop: LocalShop) -> None:
    """The shop lives on to now, as the local scheduler keeps it living between runs."""
    generator.simulate(shop, until=datetime.now(UTC))


def run_log(settings: LocalShop) -> list[dict]:
    path = settings.warehouse_dir / "analytics.duckdb"
    with duckdb.connect(str(path), read_only=True) as conn:
        result = conn.execute("select * from ops.pipeline_runs order by started_at")
        columns = [column[0] for column in result.description]
        return [dict(zip(columns, row, strict=True)) for row in result.fetchall()]


def stages_of(settings: LocalShop, run_id: str) -> dict[str, dict]:
    path = settings.warehouse_dir / "analytics.duckdb"
    with duckdb.connect(str(path), read_only=True) as conn:
        rows = conn.execute(
            "select stage, rows, detail from ops.pipeline_stages where run_id = ?", [run_id]
        ).fetchall()
    return {stage: {"rows": rows, **json.loads(detail)} for stage, rows, detail in rows}


def test_daily_refresh_runs_end_to_end(shop: LocalShop, webhook: WebhookReceiver) -> None:
    state = daily_refresh(environment="dev", build_reports=False, return_state=True)
    assert state.is_completed(), state.message
    last = run_log(shop)[-1]
    assert last["flow"] == "daily_refresh" and last["status"] == "completed"
    assert last["rows_loaded"] > 10_000
    assert last["models_built"] > 20 and last["tests_passed"] > 50 and last["tests_failed"] == 0
    # Every data test passed, and no unit test ran: those are development's and CI's
    # (tests/transform), not the runs'. (The docs, generated after the build, replaced its
    # run_results.json: the run log has its counts.)
    project = json.loads((transform.target_dir(shop.platform()) / "manifest.json").read_text())
    data_tests = sum(node["resource_type"] == "test" for node in project["nodes"].values())
    assert last["tests_passed"] == data_tests, f"{len(project['unit_tests'])} unit tests in all"
    stages = stages_of(shop, last["run_id"])
    assert {"el-postgres", "el-stripe", "el-marketing", "reconcile", "dbt build"} <= set(stages)
    assert stages["el-postgres"]["postgres.orders"] > 0
    freshness = stages["source freshness"]
    assert freshness["postgres.orders"] == freshness["stripe.charges"] == "pass"
    assert "postgres.countries" not in freshness  # reference data: no limits
    assert webhook.payloads == []
    # A source is checked (deletes, reconcile) as soon as its own load ends, not after all loads.
    runs = asyncio.run(_task_runs(state.state_details.flow_run_id))
    loads_ended = max(r.end_time for r in runs if r.name.startswith("extract_load_job"))
    first_check = min(r.start_time for r in runs if r.name.startswith("check_loaded_job"))
    assert first_check < loads_ended


async def _task_runs(flow_run_id: UUID) -> list[TaskRun]:
    async with get_client() as client:
        return await client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )


def test_realtime_orders_moves_only_orders(shop: LocalShop, webhook: WebhookReceiver) -> None:
    time.sleep(2)  # let the shop take a few orders
    advance(shop)
    state = realtime_orders(environment="dev", build_reports=False, return_state=True)
    assert state.is_completed(), state.message
    last = run_log(shop)[-1]
    assert last["flow"] == "realtime_orders" and last["status"] == "completed"
    loaded = stages_of(shop, last["run_id"])["el-orders-realtime"]
    moved_tables = {key for key, rows in loaded.items() if key != "rows" and rows}
    assert moved_tables, "the shop took orders, so the realtime run moves some"
    realtime_tables = meltano.job_tables(shop.platform().realtime_jobs[0])
    assert set(realtime_tables) < set(meltano.job_tables("el-postgres"))
    assert moved_tables <= {f"postgres.{table}" for table in realtime_tables}
    # Its dbt build tests the marts the page reads, and leaves the views' tests to the daily run
    # (and the unit tests to development and CI).
    tested = _tests_of_the_last_build(shop)
    assert "models/marts/core/_core__models.yml" in tested.values()
    assert not {
        path
        for path in tested.values()
        if path.startswith(("models/staging", "models/intermediate"))
    }
    assert not [uid for uid in _ran_in_the_last_build(shop) if uid.startswith("unit_test.")]
    assert webhook.payloads == []


def _ran_in_the_last_build(shop: LocalShop) -> list[str]:
    """The unique ids of what the last dbt build ran (models, data tests, unit tests)."""
    target = transform.target_dir(shop.platform())
    results = json.loads((target / "run_results.json").read_text())["results"]
    return [result["unique_id"] for result in results]


def _tests_of_the_last_build(shop: LocalShop) -> dict[str, str]:
    """The data tests the last dbt build ran: unique id -> the file that declares the test."""
    nodes = json.loads((transform.target_dir(shop.platform()) / "manifest.json").read_text())
    return {
        uid: nodes["nodes"][uid]["original_file_path"]
        for uid in _ran_in_the_last_build(shop)
        if uid.startswith("test.")
    }


def _touch_an_order(shop: LocalShop) -> None:
    """A change at the source the next real-time run must load."""
    with shop_database.connect(platform.load("dev").postgres) as conn:
        conn.execute(
            "update orders set updated_at = now()"
            " where order_id = (select min(order_id) from orders)"
        )


def test_a_realtime_run_with_nothing_new_opens_no_warehouse(
    shop: LocalShop, webhook: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing new at the source since the last completed run (and no new window for the
    revenue watch): the run stops before the warehouse; the next run that loads logs the skip."""
    monkeypatch.setattr(source_changes, "watch_window_end", lambda now: "one window")
    analytics = shop.warehouse_dir / "analytics.duckdb"
    _touch_an_order(shop)
    assert realtime_orders(environment="dev", build_reports=False, return_state=True).is_completed()
    runs_before, written_before = len(run_log(shop)), analytics.stat().st_mtime_ns

    skipped = realtime_orders(environment="dev", build_reports=False, return_state=True)
    assert skipped.is_completed(), skipped.message
    assert analytics.stat().st_mtime_ns == written_before, "the skipped run wrote the warehouse"
    assert len(run_log(shop)) == runs_before

    _touch_an_order(shop)
    assert realtime_orders(environment="dev", build_reports=False, return_state=True).is_completed()
    runs = run_log(shop)[runs_before:]
    assert [(r["flow"], r["status"]) for r in runs] == [
        ("realtime_orders", "skipped"),
        ("realtime_orders", "completed"),
    ]
    assert stages_of(shop, runs[0]["run_id"]) == {}
    assert stages_of(shop, runs[1]["run_id"])["el-orders-realtime"]["postgres.orders"] >= 1
    assert webhook.payloads == []


def _marts(shop: LocalShop, sql: str) -> list[tuple]:
    with duckdb.connect(str(shop.warehouse_dir / "analytics.duckdb"), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def test_a_bad_export_holds_back_only_marketing(shop: LocalShop, webhook: WebhookReceiver) -> None:
    """One malformed marketing row: the shop's orders and payments still load and their marts
    build; marketing waits, the alert names the file and line, and the run after the fix loads
    what waited."""
    header = "date,channel,campaign_id,campaign_name,spend,currency\n"
    bad_file = shop.marketing_dir / "marketing_spend" / "marketing_spend_2000-01-01.csv"
    bad_file.write_text(header + "2000-01-01,paid_social,cmp_late,Late file,12O5.00,USD\n")
    marketing_before = _marts(shop, "select * from marts.fct_marketing_performance order by all")
    time.sleep(2)
    advance(shop)  # new orders to load
    webhook.payloads.clear()

    state = daily_refresh(environment="dev", build_reports=False, return_state=True)

    assert state.is_failed()
    assert len(webhook.payloads) == 1
    alert = webhook.payloads[0]
    fields = {
        f["text"].split("\n")[0]: f["text"].split("\n", 1)[1] for f in alert["blocks"][1]["fields"]
    }
    assert "daily_refresh" in alert["text"] and "failed" in alert["text"]
    assert fields["*failed step*"].startswith("extract_load_job")
    cause = f"{bad_file}:2: spend='12O5.00' is not a non-negative amount with at most 2 decimals"
    assert cause in fields["*error*"] and "marketing" in fields["*error*"]
    last = run_log(shop)[-1]
    assert last["status"] == "failed" and cause in last["error"]
    stages = stages_of(shop, last["run_id"])
    # The other sources loaded, reconciled and built.
    assert {"el-postgres", "el-stripe", "reconcile", "dbt build"} <= set(stages)
    assert "el-marketing" not in stages
    assert not any(key.startswith("marketing.") for key in stages["reconcile"])
    ((mart_newest,),) = _marts(shop, "select max(placed_at) from marts.fct_orders")
    assert mart_newest.replace(tzinfo=mart_newest.tzinfo or UTC) == source_newest_order(shop)
    # What marketing feeds is left as it was, and the run log says since when and why.
    assert _marts(shop, "select * from marts.fct_marketing_performance order by all") == (
        marketing_before
    )
    held = _marts(shop, "select source, model, reason from ops.held_back order by model")
    assert {row[1] for row in held} >= {"stg_marketing__spend", "fct_marketing_performance"}
    assert all(row[0] == "marketing" and cause in row[2] for row in held)
    assert "fct_orders" not in {row[1] for row in held}

    bad_file.write_text(header + "2000-01-01,paid_social,cmp_late,Late file,1205.00,USD\n")
    webhook.payloads.clear()
    state = daily_refresh(environment="dev", build_reports=False, return_state=True)
    assert state.is_completed(), state.message
    assert _marts(shop, "select count(*) from ops.held_back") == [(0,)]
    spend = _marts(
        shop,
        "select sum(spend) from marts.fct_marketing_performance where campaign_id = 'cmp_late'",
    )
    assert spend == [(1205,)]
    assert webhook.payloads == []


def source_newest_order(shop: LocalShop) -> object:
    with postgres.connect(shop, shop.shop_db) as conn:
        (newest,) = conn.execute("select max(placed_at) from orders").fetchone()
    return newest.astimezone(UTC)


def test_a_late_run_sends_the_lateness_alert(shop: LocalShop, webhook: WebhookReceiver) -> None:
    webhook.payloads.clear()
    state = realtime_orders(
        environment="dev", sla_seconds=1, build_reports=False, return_state=True
    )
    assert state.is_completed()
    assert len(webhook.payloads) == 1
    assert "realtime_orders" in webhook.texts()[0] and "is late" in webhook.texts()[0]
    assert "not finished after 1 s" in webhook.texts()[0]


def test_extract_load_retries_until_postgres_is_back(shop: LocalShop) -> None:
    """PostgreSQL down when the job starts: the task's retry catches up once it is back."""

    @flow
    def extract_postgres() -> object:
        return tasks.extract_load_job(shop.platform(), "el-postgres")

    postgres.stop(shop)
    restart = threading.Thread(target=_start_once_a_retry_awaits, args=[shop])
    restart.start()
    state = extract_postgres(return_state=True)
    restart.join()
    assert state.is_completed(), state.message

    assert max(run.run_count for run in asyncio.run(_extract_load_runs())) >= 2


async def _extract_load_runs() -> list[TaskRun]:
    """The newest runs of the extract_load_job task, on the module's Prefect server."""
    async with get_client() as client:
        runs = await client.read_task_runs(sort=TaskRunSort.EXPECTED_START_TIME_DESC, limit=50)
    return [run for run in runs if run.name.startswith("extract_load_job")]


def _start_once_a_retry_awaits(shop: LocalShop) -> None:
    """PostgreSQL started again once the first attempt failed: the second (10 s later) finds it
    up, whatever the time the first took to fail."""

    def awaiting_retry() -> bool:
        return any(run.state_name == "AwaitingRetry" for run in asyncio.run(_extract_load_runs()))

    deadline = time.monotonic() + 120
    while not awaiting_retry() and time.monotonic() < deadline:
        time.sleep(0.5)
    postgres.start(shop)


def test_two_flows_at_once_never_write_together(shop: LocalShop) -> None:
    threads = [
        threading.Thread(
            target=daily_refresh, kwargs={"environment": "dev", "build_reports": False}
        ),
        threading.Thread(
            target=realtime_orders, kwargs={"environment": "dev", "build_reports": False}
        ),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=900)
    runs = run_log(shop)[-2:]
    assert {run["flow"] for run in runs} == {"daily_refresh", "realtime_orders"}
    assert all(run["status"] == "completed" for run in runs)
    first, second = sorted(runs, key=lambda run: run["started_at"])
    assert first["finished_at"] <= second["started_at"], "the second run waited for the first"


def test_prefect_yaml_deploys_both_environments(shop: LocalShop) -> None:
    env = {
        **os.environ,
        "PREFECT_API_URL": PREFECT_API_URL.value(),
        "SHOP_REPO_ROOT": str(REPO_ROOT),
    }
    prefect = str(Path(sys.executable).with_name("prefect"))
    for pool in ("shop-local", "shop-prod"):
        subprocess.run(
            [prefect, "work-pool", "create", pool, "--type", "process"], env=env, check=True
        )
    subprocess.run(
        [prefect, "--no-prompt", "deploy", "--all"], env=env, cwd=REPO_ROOT, check=True, timeout=300
    )

    # Every 12 minutes in the shop's busy hours, hourly otherwise (prefect.yaml).
    realtime_crons = ("*/12 9-22 * * *", "48 0-8,23 * * *")

    async def deployed() -> dict[str, tuple]:
        async with get_client() as client:
            deployments = await client.read_deployments()
        return {
            d.name: (
                tuple(sorted(s.schedule.cron for s in d.schedules)),
                d.parameters["environment"],
                d.work_pool_name,
                d.global_concurrency_limit.limit if d.global_concurrency_limit else None,
            )
            for d in deployments
        }

    assert asyncio.run(deployed()) == {
        "dev-daily": (("0 6 * * *",), "dev", "shop-local", 1),
        "dev-realtime": (realtime_crons, "dev", "shop-local", 1),
        "prod-daily": (("0 6 * * *",), "prod", "shop-prod", 1),
        "prod-realtime": (realtime_crons, "prod", "shop-prod", 1),
    }
