"""The benchmark command: the scenarios of issue 8 on the embedded default, one report.

    .venv/bin/python -m bench                 # full scale (500,000 orders a month); long
    .venv/bin/python -m bench --scale tiny    # a few hundred orders: checks the command works

Every scenario runs in a temporary home of the bench's own (its PostgreSQL and Stripe sandbox
on free ports), checks its result before it reports a time, and the report is rewritten after
each scenario: bench/results/<UTC time>.json and .md (a full run also as latest.json/.md).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench import measure, report
from bench.checks import BenchScenarioError
from pipeline import settings as platform
from sandbox import postgres, services
from sandbox.config import REPO_ROOT, temporary_shop

SCENARIOS = ("month", "ingest-limit", "day", "realtime-lag", "year-queries")
RESULTS_DIR = REPO_ROOT / "bench" / "results"


@dataclass(frozen=True)
class Scale:
    orders_per_month: int
    year_months: int
    year_orders_per_month: int
    query_runs: int
    build_reports: bool


SCALES = {
    # issue 8: the seed's scale, 500,000 orders a month; 12 months for the report queries
    "full": Scale(500_000, 12, 500_000, 5, True),
    # the smoke test's: every scenario end to end in about a minute, no report site build
    "tiny": Scale(300, 12, 300, 2, False),
}


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, Scale]:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=SCALES, default="full")
    parser.add_argument("--orders-per-month", type=int, help="month and day scenarios")
    parser.add_argument("--year-months", type=int, help="year-queries: months of history")
    parser.add_argument("--year-orders-per-month", type=int)
    parser.add_argument("--query-runs", type=int, help="year-queries: runs of each query")
    parser.add_argument("--no-reports", action="store_true", help="no report site builds")
    parser.add_argument("--scenario", action="append", choices=SCENARIOS,
                        help="run only these (month runs whenever another needs it)")  # fmt: skip
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--keep", action="store_true", help="keep the temporary homes")
    args = parser.parse_args(argv)
    preset = SCALES[args.scale]
    scale = Scale(
        orders_per_month=args.orders_per_month or preset.orders_per_month,
        year_months=args.year_months or preset.year_months,
        year_orders_per_month=args.year_orders_per_month or preset.year_orders_per_month,
        query_runs=args.query_runs or preset.query_runs,
        build_reports=preset.build_reports and not args.no_reports,
    )
    return args, scale


class Bench:
    def __init__(self, args: argparse.Namespace, scale: Scale) -> None:
        self.args = args
        self.scale = scale
        self.failed = False
        started = datetime.now(UTC).replace(microsecond=0)
        self.stem = started.strftime("%Y-%m-%dT%H%M%SZ")
        self.report: dict = {
            "machine": measure.machine(),
            "started_at": started.isoformat(),
            "scale": {
                "months": 1,
                "orders_per_month": scale.orders_per_month,
                "year_months": scale.year_months,
                "year_orders_per_month": scale.year_orders_per_month,
                "query_runs": scale.query_runs,
                "report_builds": scale.build_reports,
                "preset": args.scale,
            },
            "scenarios": {},
        }

    def run(self, name: str, scenario: Callable[[], dict]) -> dict | None:
        print(f"-- {name}", flush=True)
        try:
            result = scenario()
        except Exception as error:
            traceback.print_exc()
            self.failed = True
            result = {"ok": False, "error": f"{type(error).__name__}: {error}"}
            if isinstance(error, BenchScenarioError) and error.stages:
                result["stages_before_failure"] = error.stages
        result["load_average_after"] = measure.load_average()
        self.report["scenarios"][name] = result
        self.save()
        return result if result["ok"] else None

    def save(self) -> None:
        self.report["load_average_at_end"] = measure.load_average()
        _, md_path = report.write(self.report, self.args.results_dir, self.stem)
        print(f"   report: {md_path}", flush=True)


def main(argv: list[str] | None = None) -> None:
    args, scale = parse_args(argv)
    wanted = set(args.scenario or SCENARIOS)
    bench = Bench(args, scale)
    shop = temporary_shop("bench-shop")
    year_home = temporary_shop("bench-year")
    # The flows (realtime-lag) read their settings from the environment, Prefect its own at
    # its first import: both point at the bench's home before anything imports Prefect.
    os.environ.update(shop.platform_variables())
    # The bench publishes its site in its home, never over a developer's reports/build; the
    # real-time run then refreshes the site the day built, as on a worker.
    os.environ["SHOP_SITE_DIR"] = str(shop.home / "site")
    os.environ.update(platform.prefect_variables(shop.platform()))
    # Plugins are shared by every home: the bench must never (re)install one.
    os.environ["MELTANO_AUTO_INSTALL"] = "false"
    from bench import ingest_limit, pipeline_runs, year_queries

    postgres.start(shop)
    try:
        # The shop's history ends a day before now: the day scenario simulates that day.
        month_end = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
        month = bench.run(
            "month",
            lambda: pipeline_runs.month(
                shop, scale.orders_per_month, scale.build_reports, month_end
            ),
        )
        if month and "ingest-limit" in wanted:
            bench.run("ingest-limit", lambda: ingest_limit.measure(shop, month["stages"]))
        if month and "day" in wanted:
            bench.run("day", lambda: pipeline_runs.day(shop, month, scale.build_reports))
        # After the daily pipeline, even a failed day: the flow checks its own tables.
        if month and "realtime-lag" in wanted:
            bench.run("realtime-lag", lambda: pipeline_runs.realtime_lag(shop, scale.build_reports))
        if month and "year-queries" in wanted:
            postgres.start(year_home)
            bench.run(
                "year-queries",
                lambda: year_queries.measure(
                    year_home, shop, scale.year_months, scale.year_orders_per_month,
                    scale.query_runs,
                ),
            )  # fmt: skip
    finally:
        for home in (shop, year_home):
            services.stop_stripe_sandbox(home)
            postgres.stop(home)
            if not args.keep:
                shutil.rmtree(home.home, ignore_errors=True)
    if args.scale == "full" and not args.scenario:  # failed scenarios say so in the file
        for suffix in ("json", "md"):
            shutil.copyfile(
                args.results_dir / f"{bench.stem}.{suffix}", args.results_dir / f"latest.{suffix}"
            )
    if bench.failed:
        sys.exit("bench: a scenario failed (see the report); its times are not valid")


if __name__ == "__main__":
    main()
