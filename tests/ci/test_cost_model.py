"""The cost model: platform.yaml's prices, sizes, workloads and monitors, prefect.yaml's schedules
and the benchmark's stage times in; credits, dollars and the cost page's CSV files out. Expected
numbers are written here by hand, not read from the files the model reads."""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path

import duckdb
import pytest

from pipeline import cost_model
from sandbox.config import REPO_ROOT

FIXTURE = Path(__file__).parent / "bench_results_fixture.json"
PAGE_SOURCES = REPO_ROOT / "reports" / "sources" / "cost_model"
MONTH = 365 / 12


def test_the_platform_is_what_platform_yaml_declares() -> None:
    platform = cost_model.load_platform("prod")
    assert {name: (w.size, w.monitor_quota_credits) for name, w in platform.warehouses.items()} == {
        "LOADING_WH": ("XSMALL", 2),
        "TRANSFORMING_WH": ("SMALL", 2),
        "REPORTING_WH": ("XSMALL", 1),
        "REALTIME_WH": ("XSMALL", 51),
    }
    assert platform.usd_per_credit == 3.0
    assert platform.storage_usd_per_tb_month == 40
    assert platform.monthly_budget_usd == cost_model.SEED_ESTIMATE_USD == 150
    assert platform.account_monitor_quota_credits == 61
    assert {w.auto_suspend_seconds for w in platform.warehouses.values()} == {60}
    realtime = platform.workloads["realtime_orders"]
    assert {realtime.load, realtime.transform, realtime.report} == {"REALTIME_WH"}
    assert realtime.suspend_after_run
    assert not platform.workloads["daily_refresh"].suspend_after_run


@pytest.mark.parametrize(
    ("cron", "runs"),
    [
        ("0 6 * * *", 1),
        ("*/15 * * * *", 96),
        ("*/12 9-22 * * *", 70),
        ("30 0-8,23 * * *", 10),
        ("0,30 * * * *", 48),
    ],
)
def test_runs_a_day_of_a_cron(cron: str, runs: int) -> None:
    assert cost_model.runs_per_day(cron) == runs


def test_runs_a_day_come_from_the_schedules() -> None:
    # Every 12 minutes from 09:00 to 22:59 (70), hourly the other 10 hours; daily once.
    assert cost_model.schedule_runs_per_day() == {"daily_refresh": 1, "realtime_orders": 80}


def test_estimate_from_measured_stage_times(tmp_path: Path) -> None:
    summary, rows, monitors = cost_model.run(FIXTURE, output_dir=tmp_path)
    by_key = {(row.workload.split()[0], row.warehouse): row for row in rows}
    assert set(by_key) == {
        ("day", "LOADING_WH"),
        ("day", "TRANSFORMING_WH"),
        ("day", "REPORTING_WH"),
        ("realtime-lag", "REALTIME_WH"),
    }
    # Daily run: the three loads in parallel bill as the longest (30 s); reconcile + dbt back
    # to back (4 + 26 s); the site's queries 1.2 + 0.8 s; each plus 60 s before suspending.
    assert by_key["day", "LOADING_WH"].active_seconds_per_run == 30
    assert by_key["day", "LOADING_WH"].billed_seconds_per_run == 90
    assert by_key["day", "TRANSFORMING_WH"].active_seconds_per_run == 30
    assert by_key["day", "TRANSFORMING_WH"].credits_per_month == pytest.approx(
        MONTH * 90 / 3600 * 2, abs=0.01
    )
    assert by_key["day", "REPORTING_WH"].billed_seconds_per_run == 62
    # Real-time: the whole run on one X-Small (12 + 2 + 10 + 2 s), suspended by the flow when
    # done, so it bills the 60-second minimum, 80 times a day.
    realtime = by_key["realtime-lag", "REALTIME_WH"]
    assert realtime.active_seconds_per_run == 26
    assert realtime.billed_seconds_per_run == 60
    assert realtime.runs_per_month == pytest.approx(80 * MONTH, abs=0.1)
    assert realtime.credits_per_month == pytest.approx(80 * MONTH / 60, abs=0.01)  # 40.56
    assert realtime.usd_per_month == pytest.approx(121.67, abs=0.01)
    assert summary.compute_credits_per_month == pytest.approx(43.36, abs=0.01)
    assert summary.compute_usd_per_month == pytest.approx(130.08, abs=0.01)
    assert summary.cloud_services_usd_per_month == pytest.approx(13.01, abs=0.01)
    assert summary.storage_usd_per_month == 4.0
    assert summary.usd_per_month == pytest.approx(147.09, abs=0.01)
    assert (
        summary.usd_per_month_at_half_the_time
        <= summary.usd_per_month
        < summary.usd_per_month_at_twice_the_time
    )
    use = {m.monitor: m for m in monitors}
    assert use["REALTIME_WH"].percent_of_quota == pytest.approx(79.5, abs=0.1)
    assert use["REALTIME_WH"].quota_needed_credits == 51
    assert use["ACCOUNT"].modelled_credits == pytest.approx(43.36, abs=0.01)
    report = cost_model.describe(summary, rows, monitors)
    assert "seed estimate $150; budget $150" in report
    assert "monitor REALTIME_WH: 40.6 of 51 credits (80 %)" in report
    assert "over the headroom" not in report


def test_the_shops_month_stays_within_budget_and_monitors(tmp_path: Path) -> None:
    """The repository's own bench results, scaled to 500,000 orders a month: at most $150 all
    in, and no monitor above 80 % of its quota."""
    summary, _rows, monitors = cost_model.run(output_dir=tmp_path)
    assert summary.usd_per_month <= 150
    assert max(m.percent_of_quota for m in monitors) <= 80
    assert summary.bench_scale.endswith("scaled to 500,000")


def test_a_monitor_below_the_model_needs_a_bigger_quota(tmp_path: Path) -> None:
    terraform = tmp_path / "terraform"
    shutil.copytree(cost_model.TERRAFORM_DIR, terraform, ignore=shutil.ignore_patterns(".*"))
    platform = terraform / "platform.yaml"
    platform.write_text(
        platform.read_text().replace("{ dev: 1, prod: 51 }", "{ dev: 1, prod: 40 }")
    )
    summary, rows, monitors = cost_model.run(
        FIXTURE, output_dir=tmp_path / "out", terraform_dir=terraform
    )
    report = cost_model.describe(summary, rows, monitors)
    assert (
        "monitor REALTIME_WH: 40.6 of 40 credits (101 %): over the headroom, needs a quota "
        "of 51" in report
    )


def test_stages_scale_by_their_extra_rows() -> None:
    """From 100,000 to 500,000 orders a month (x5): a real-time load of 150 rows moves 600 more
    at el-postgres's marginal (90 - 20 s) / (100,000 - 3,000 rows); dbt gains the run's 600
    extra loaded rows at (40 - 26 s) / (140,400 - 4,014 rows)."""
    bench = json.loads(FIXTURE.read_text())
    stages = bench["scenarios"]["realtime-lag"]["stages"]
    scale = cost_model.scale_stage
    assert scale("el-orders-realtime", stages, bench, FIXTURE, 5) == pytest.approx(
        12 + 600 * 70 / 97_000
    )
    assert scale("dbt build", stages, bench, FIXTURE, 5) == pytest.approx(10 + 600 * 14 / 136_386)
    assert scale("dbt build", stages, bench, FIXTURE, 1) == 10


def test_the_flows_stage_names_have_their_warehouse_and_scale(tmp_path: Path) -> None:
    """Results whose day is a daily_refresh run (the run log's stage names, with mark deletes,
    source freshness and the docs) and whose real-time run has mark deletes and the revenue
    watch: each stage bills on its workload's warehouse, scaled like the work it does."""
    bench = json.loads(FIXTURE.read_text())
    day = bench["scenarios"]["day"]["stages"]
    day["dbt build"] = day.pop("dbt")
    day["report build"] = day.pop("reports")
    day |= {"mark deletes": {"seconds": 1.0}, "source freshness": {"seconds": 2.0},
            "dbt docs": {"seconds": 3.0}}  # fmt: skip
    realtime = bench["scenarios"]["realtime-lag"]["stages"]
    realtime |= {"mark deletes": {"seconds": 1.5}, "revenue watch": {"seconds": 0.5}}
    results = tmp_path / "bench.json"
    results.write_text(json.dumps(bench))
    _summary, rows, _monitors = cost_model.run(results, output_dir=tmp_path / "out")
    by_key = {(row.workload.split()[0], row.warehouse): row for row in rows}
    # reconcile 4 + mark deletes 1 + freshness 2 + dbt 26 + docs 3; the loads as before (30 s).
    assert by_key["day", "TRANSFORMING_WH"].active_seconds_per_run == 36
    assert by_key["day", "LOADING_WH"].active_seconds_per_run == 30
    assert by_key["realtime-lag", "REALTIME_WH"].active_seconds_per_run == 28
    # x5: mark deletes at reconcile's marginal (5 - 4 s over 136,386 rows), dbt build at dbt's
    # (the month's "dbt" against the day's "dbt build"); the docs as measured.
    scale = cost_model.scale_stage
    assert scale("mark deletes", day, bench, results, 5) == pytest.approx(1 + 4 * 4014 / 136_386)
    assert scale("dbt build", day, bench, results, 5) == pytest.approx(26 + 4 * 4014 * 14 / 136_386)
    assert scale("dbt docs", day, bench, results, 5) == 3


def test_the_cost_page_reads_the_output(tmp_path: Path) -> None:
    """The page's source queries, as the DuckDB connector runs them: statements before the last
    one may fail (no CSV yet) and are ignored; paths are relative to reports/."""

    def page_source(name: str) -> list[tuple]:
        with duckdb.connect() as con:
            con.execute(f"set file_search_path = '{tmp_path}'")
            *setup, query = duckdb.extract_statements((PAGE_SOURCES / f"{name}.sql").read_text())
            for statement in setup:
                with contextlib.suppress(duckdb.Error):
                    con.execute(statement)
            return con.execute(query).fetchall()

    assert page_source("estimate") == page_source("summary") == page_source("monitors") == []
    cost_model.run(FIXTURE, output_dir=tmp_path / "sources" / "cost_model")
    assert len(page_source("estimate")) == 4
    assert page_source("summary")[0][:4] == (
        "prod",
        "500,000 orders a month, 1 months (bench_results_fixture.json), scaled to 500,000",
        43.36,
        130.08,
    )
    assert ("REALTIME_WH", 40.56, 51.0, 79.5, 51) in page_source("monitors")
    assert ("time factor used", "1", "--time-factor") in page_source("assumptions")


def _bench_with(tmp_path: Path, change) -> Path:
    bench = json.loads(FIXTURE.read_text())
    change(bench)
    path = tmp_path / "latest.json"
    path.write_text(json.dumps(bench))
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda b: b["scenarios"]["day"]["stages"].update({"vacuum": {"seconds": 1}}),
            "benchmark stage 'vacuum': no warehouse known for it",
        ),
        (lambda b: b["scenarios"].pop("realtime-lag"), "latest.json: no scenarios.realtime-lag"),
        (
            lambda b: b["scenarios"]["year-queries"].update(queries=[]),
            "latest.json: scenarios.year-queries has no queries",
        ),
        (lambda b: b.pop("scale"), "latest.json: no scale.orders_per_month and scale.months"),
    ],
)
def test_bad_benchmark_results_name_the_cause(tmp_path: Path, change, message: str) -> None:
    with pytest.raises(cost_model.CostModelError, match=message):
        cost_model.run(_bench_with(tmp_path, change), output_dir=tmp_path / "out")


def test_unreadable_inputs_name_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "latest.json"
    broken.write_text("{")
    with pytest.raises(cost_model.CostModelError, match=r"latest\.json: not JSON"):
        cost_model.run(broken, output_dir=tmp_path / "out")
    terraform = tmp_path / "terraform"
    shutil.copytree(cost_model.TERRAFORM_DIR, terraform, ignore=shutil.ignore_patterns(".*"))
    platform = terraform / "platform.yaml"
    platform.write_text(platform.read_text().replace("prod: SMALL }", "prod: HUGE }"))
    with pytest.raises(cost_model.CostModelError, match="TRANSFORMING_WH has size 'HUGE'"):
        cost_model.load_platform("prod", terraform)
    with pytest.raises(cost_model.CostModelError, match=r"cron '0 6 \* \* 1'"):
        cost_model.runs_per_day("0 6 * * 1")
