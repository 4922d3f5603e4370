"""The cost model: Terraform's sizes and budgets, prefect.yaml's schedules and the benchmark's
stage times in; credits, dollars and the cost page's CSV files out."""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path

import duckdb
import pytest
import yaml

from pipeline import cost_model
from sandbox.config import REPO_ROOT

FIXTURE = Path(__file__).parent / "bench_results_fixture.json"
PAGE_SOURCES = REPO_ROOT / "reports" / "sources" / "cost_model"


def test_pricing_is_what_terraform_declares() -> None:
    platform = yaml.safe_load((cost_model.TERRAFORM_DIR / "platform.yaml").read_text())
    pricing = cost_model.load_pricing("prod")
    assert {name: w.size for name, w in pricing.warehouses.items()} == {
        name: spec["size"]["prod"] for name, spec in platform["warehouses"].items()
    }
    assert pricing.usd_per_credit == 3.0
    assert {w.auto_suspend_seconds for w in pricing.warehouses.values()} == {60}
    # The monitors split the environment's budget: $120 at $3 is 40 credits.
    quotas = sum(w.monitor_quota_credits for w in pricing.warehouses.values())
    assert quotas == pytest.approx(pricing.monthly_budget_usd / pricing.usd_per_credit)
    assert pricing.account_monthly_budget_usd == cost_model.SEED_ESTIMATE_USD


def test_runs_a_day_come_from_the_schedules() -> None:
    assert cost_model.schedule_runs_per_day() == {"day": 1, "realtime-lag": 96}


def test_estimate_from_measured_stage_times(tmp_path: Path) -> None:
    summary, rows = cost_model.run(FIXTURE, output_dir=tmp_path)
    by_key = {(row.workload.split()[0], row.warehouse): row for row in rows}
    # Daily run: the three loads in parallel bill as the longest (30 s); reconcile + dbt back
    # to back (4 + 26 s); the site's queries 1.2 + 0.8 s; each plus 60 s before suspending.
    assert by_key["day", "LOADING_WH"].active_seconds_per_run == 30
    assert by_key["day", "TRANSFORMING_WH"].active_seconds_per_run == 30
    assert by_key["day", "REPORTING_WH"].active_seconds_per_run == 2
    assert by_key["day", "LOADING_WH"].billed_seconds_per_run == 90
    # Real-time: 96 runs a day, 12 s busy, 72 s billed on a MEDIUM (4 credits/hour).
    realtime = by_key["realtime-lag", "TRANSFORMING_WH"]
    assert realtime.runs_per_month == pytest.approx(96 * 365 / 12, abs=0.1)
    assert realtime.credits_per_month == pytest.approx(96 * 365 / 12 * 72 / 3600 * 4, abs=0.01)
    assert realtime.usd_per_month == pytest.approx(realtime.credits_per_month * 3, abs=0.01)
    assert summary.credits_per_month == pytest.approx(sum(r.credits_per_month for r in rows))
    assert (
        summary.usd_per_month_at_half_the_time
        < summary.usd_per_month
        < summary.usd_per_month_at_twice_the_time
    )
    report = cost_model.describe(summary, rows)
    assert "seed estimate $150" in report
    assert "TRANSFORMING_WH: 236.6 credits a month exceed its monitor's quota of 20" in report


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

    assert page_source("estimate") == page_source("summary") == []
    cost_model.run(FIXTURE, output_dir=tmp_path / "sources" / "cost_model")
    assert len(page_source("estimate")) == 6
    assert page_source("summary")[0][:4] == (
        "prod",
        "10,000 orders a month, 1 months (bench_results_fixture.json)",
        456.59,
        1369.75,
    )
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
    platform.write_text(platform.read_text().replace("prod: MEDIUM", "prod: HUGE"))
    with pytest.raises(cost_model.CostModelError, match="TRANSFORMING_WH has size 'HUGE'"):
        cost_model.load_pricing("prod", terraform)
    with pytest.raises(cost_model.CostModelError, match=r"cron '0 6 \* \* 1'"):
        cost_model.runs_per_day("0 6 * * 1")
