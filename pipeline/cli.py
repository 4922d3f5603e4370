"""`shop`: run the platform's embedded default — the local sources, the extract-load, the checks."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipeline import cost_model, extract_load, reconcile, services
from pipeline.lock import WarehouseBusyError, WarehouseUnwritableError, warehouse_writer
from pipeline.run_log import RunLog
from pipeline.scheduler import prefect_environment
from sandbox import postgres
from sandbox.config import DEMO_MONTHS, DEMO_ORDERS_PER_MONTH, REPO_ROOT, Settings, load_settings


def _parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def cmd_postgres(settings: Settings, args: argparse.Namespace) -> None:
    if args.action == "start":
        postgres.start(settings)
        print(
            f"PostgreSQL running on {settings.pg_host}:{settings.pg_port} ({settings.pg_data_dir})"
        )
    elif args.action == "stop":
        postgres.stop(settings)
    else:
        print("running" if postgres.is_running(settings) else "stopped")


def cmd_stripe(settings: Settings, args: argparse.Namespace) -> None:
    if args.action == "serve":
        from sandbox import stripe_api

        stripe_api.serve(
            settings,
            rate_limit_per_s=args.rate_limit,
            fail_every_n=args.fail_every,
            fault_bursts=tuple(stripe_api.FaultBurst.parse(spec) for spec in args.fault_burst),
        )
    elif args.action == "start":
        pid = services.start_stripe_sandbox(settings)
        print(f"Stripe sandbox running at {settings.stripe_api_base} (pid {pid})")
    else:
        services.stop_stripe_sandbox(settings)


def cmd_generate(settings: Settings, args: argparse.Namespace) -> None:
    from sandbox import generator

    rows = generator.generate(
        settings,
        months=args.months,
        orders_per_month=args.orders_per_month,
        seed=args.seed,
        end=_parse_time(args.end) if args.end else None,
    )
    _print_counts(rows)


def cmd_simulate(settings: Settings, args: argparse.Namespace) -> None:
    from sandbox import generator

    clock = generator.shop_clock(settings)
    if clock is None:
        sys.exit("nothing generated yet: run `shop generate` first")
    until = datetime.now(UTC) if args.until_now else clock + timedelta(days=args.days)
    _print_counts(generator.simulate(settings, until=until))


def cmd_extract_load(settings: Settings, args: argparse.Namespace) -> None:
    jobs = args.job or list(extract_load.JOBS)
    # The same lock as the flows: two loads of one RAW file would collide on DuckDB's.
    with warehouse_writer(settings, holder=f"shop extract-load {' '.join(jobs)}"):
        runs = extract_load.run_jobs(settings, jobs)
    for run in runs.values():
        print(f"{run.job}: {run.seconds:.1f} s (log: {run.log_file})")


def cmd_reconcile(settings: Settings, args: argparse.Namespace) -> None:
    for result in reconcile.reconcile(settings):
        print(result.describe())


def cmd_cdc(settings: Settings, args: argparse.Namespace) -> None:
    from pipeline import cdc

    if args.action == "enable":
        cdc.enable(settings)
        print(f"change data capture on: slot {cdc.SLOT}; el-postgres now runs as {cdc.JOB}")
    elif args.action == "disable":
        cdc.disable(settings)
        print(f"change data capture off: slot {cdc.SLOT} dropped; el-postgres is INCREMENTAL")
    elif args.action == "advance":
        print(f"slot {cdc.SLOT} confirmed up to {cdc.advance(settings)}")
    else:
        status = cdc.status(settings)
        print("off (no replication slot)" if status is None else status)


def cmd_env(settings: Settings, args: argparse.Namespace) -> None:
    for name, value in extract_load.meltano_env(settings).items():
        print(f"export {name}={shlex.quote(value)}")


def cmd_cost_model(settings: Settings, args: argparse.Namespace) -> None:
    summary, rows = cost_model.run(args.bench, args.environment, args.time_factor, args.output_dir)
    print(cost_model.describe(summary, rows))
    print(f"\nwritten: {args.output_dir}/{{estimate,summary,assumptions}}.csv")


def cmd_down(settings: Settings, args: argparse.Namespace) -> None:
    services.stop_stripe_sandbox(settings)
    postgres.stop(settings)
    print("Stripe sandbox and PostgreSQL stopped")


def cmd_demo(settings: Settings, args: argparse.Namespace) -> None:
    """The platform's main job on the embedded default, as a one-off run of the daily flow.

    The first run generates the shop's history; every later run advances the shop to the
    real clock and moves only what changed since.
    """
    from flows.daily_refresh import daily_refresh
    from sandbox import generator

    postgres.start(settings)
    first_run = generator.shop_clock(settings) is None
    if first_run:
        print(f"-- generating {args.months} months x {args.orders_per_month:,} orders", flush=True)
        generator.generate(settings, months=args.months, orders_per_month=args.orders_per_month)
    run_log = daily_refresh(build_reports=not args.skip_reports)
    _print_summary(settings, first_run, run_log)


def cmd_scheduler(settings: Settings, args: argparse.Namespace) -> None:
    """A standing local deployment: Prefect server, work pool, deployments, worker."""
    from pipeline import scheduler

    scheduler.run(settings, port=args.port)


def _print_counts(rows: dict[str, int]) -> None:
    for name, count in rows.items():
        print(f"{name:45} {count:>12,}")


def _print_summary(settings: Settings, first_run: bool, run_log: RunLog) -> None:
    stages = {name: (seconds, rows, detail) for name, seconds, rows, detail in run_log.stages}
    print("\n== Summary:", "first run (full load)" if first_run else "incremental run")
    loaded = {
        table: rows
        for name, (_, _, detail) in stages.items()
        if name.startswith("el-")
        for table, rows in detail.items()
    }
    reconciled = stages.get("reconcile", (0, None, {}))[2]
    # The flow fails at its reconcile step on any mismatch: these tables all matched.
    print(f"{'RAW table (reconciled with its source)':40} {'source rows':>12} {'loaded now':>12}")
    for table, source_rows in reconciled.items():
        print(f"{table:40} {source_rows:>12,} {loaded.get(table, 0):>12,}")
    print(f"\ndbt: {stages['dbt build'][2]['summary']}" if "dbt build" in stages else "")
    if "report build" in stages:
        print(f"reports: {stages['report build'][2]['summary']}")
    print("\nTime per stage:")
    for name, (seconds, rows, _) in stages.items():
        moved = f"  {rows:,} rows" if rows is not None else ""
        print(f"  {name:30} {seconds:7.1f} s{moved}")
    print("\nWhere things are:")
    print(
        f"  shop PostgreSQL   postgresql://{settings.pg_user}@127.0.0.1:{settings.pg_port}/{settings.shop_db}"
    )
    print(f"  Stripe sandbox    {settings.stripe_api_base}/v1 (key: see `shop env`)")
    print(f"  marketing exports {settings.marketing_dir}")
    print(f"  warehouse         {settings.warehouse_dir} (raw_<source>.duckdb, analytics.duckdb)")
    print(f"  report site       {REPO_ROOT / 'reports' / 'build'} (python3 -m http.server -d ...)")
    print(f"  logs              {settings.log_dir}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shop", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, handler: Callable[[Settings, argparse.Namespace], None], help: str):
        sub = commands.add_parser(name, help=help)
        sub.set_defaults(handler=handler)
        return sub

    command("postgres", cmd_postgres, "the local shop PostgreSQL").add_argument(
        "action", choices=["start", "stop", "status"]
    )
    stripe = command("stripe", cmd_stripe, "the local Stripe API sandbox")
    stripe.add_argument("action", choices=["serve", "start", "stop"])
    stripe.add_argument("--rate-limit", type=float, default=None, help="requests per second")
    stripe.add_argument(
        "--fail-every", type=int, default=None, help="answer every n-th request with a 500"
    )
    stripe.add_argument(
        "--fault-burst",
        action="append",
        default=[],
        metavar="STATUS:EVERY:LENGTH",
        help="after every EVERY requests, answer LENGTH in a row with STATUS (500 or 429)",
    )

    generate = command("generate", cmd_generate, "generate the shop's history (replaces data)")
    generate.add_argument("--months", type=float, default=DEMO_MONTHS)
    generate.add_argument("--orders-per-month", type=int, default=DEMO_ORDERS_PER_MONTH)
    generate.add_argument("--seed", type=int, default=42)
    generate.add_argument("--end", help="end of history, ISO time (default: start of today UTC)")

    simulate = command("simulate", cmd_simulate, "advance the shop: new orders, changes, deletes")
    until = simulate.add_mutually_exclusive_group(required=True)
    until.add_argument("--days", type=float)
    until.add_argument("--until-now", action="store_true")

    extract = command("extract-load", cmd_extract_load, "run the Meltano extract-load jobs")
    extract.add_argument("--job", action="append", choices=extract_load.JOBS)

    command("reconcile", cmd_reconcile, "compare RAW with the sources")
    command("cdc", cmd_cdc, "change data capture of the shop (replication slot)").add_argument(
        "action", choices=["enable", "disable", "status", "advance"]
    )
    command("env", cmd_env, "print the environment for running `meltano` by hand")
    command("down", cmd_down, "stop the local sources")
    cost = command("cost-model", cmd_cost_model, "monthly Snowflake credits from the benchmark")
    cost.add_argument("--bench", type=Path, default=cost_model.BENCH_RESULTS)
    cost.add_argument("--environment", choices=["dev", "prod"], default="prod")
    cost.add_argument(
        "--time-factor", type=float, default=1.0, help="Snowflake seconds per local second"
    )
    cost.add_argument("--output-dir", type=Path, default=cost_model.OUTPUT_DIR)
    demo = command("demo", cmd_demo, "the main job, once: the daily flow on the local shop")
    demo.add_argument("--months", type=float, default=DEMO_MONTHS)
    demo.add_argument("--orders-per-month", type=int, default=DEMO_ORDERS_PER_MONTH)
    demo.add_argument("--skip-reports", action="store_true", help="no report site build")
    scheduler = command("scheduler", cmd_scheduler, "Prefect server + worker + deployments")
    scheduler.add_argument("--port", type=int, default=4200)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    settings = load_settings()
    # Before Prefect is first imported: it reads its settings then.
    for name, value in prefect_environment(settings).items():
        os.environ.setdefault(name, value)
    try:
        args.handler(settings, args)
    except (
        postgres.PostgresError,
        services.ServiceError,
        extract_load.ExtractLoadError,
        reconcile.ReconciliationError,
        ValueError,
        FileNotFoundError,
        WarehouseBusyError,
        WarehouseUnwritableError,
    ) as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
