"""The embedded default's `shop` commands (added to the platform's through the entry-point group
`shop.commands`): the local sources, the shop's history and clock, `demo` and `scheduler`.

They prepare the local sources, then run the platform's flows exactly as a production worker
does, with environment dev.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta

from flows.cli import Command
from pipeline.run_log import RunLog
from pipeline.settings import Settings
from sandbox import config, generator, postgres, services
from sandbox.config import DEMO_MONTHS, DEMO_ORDERS_PER_MONTH, REPO_ROOT, LocalShop


def _shop(settings: Settings) -> LocalShop:
    if settings.environment != "dev":
        sys.exit(f"error: the local sources serve environment dev, not {settings.environment}")
    return config.load(settings.variables)


def _parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def cmd_postgres(settings: Settings, args: argparse.Namespace) -> None:
    shop = _shop(settings)
    if args.action == "start":
        postgres.start(shop)
        print(f"PostgreSQL running on {shop.pg_host}:{shop.pg_port} ({shop.pg_data_dir})")
    elif args.action == "stop":
        postgres.stop(shop)
    else:
        print("running" if postgres.is_running(shop) else "stopped")


def cmd_stripe(settings: Settings, args: argparse.Namespace) -> None:
    shop = _shop(settings)
    if args.action == "serve":
        from sandbox import stripe_api

        stripe_api.serve(
            shop,
            rate_limit_per_s=args.rate_limit,
            fail_every_n=args.fail_every,
            fault_bursts=tuple(stripe_api.FaultBurst.parse(spec) for spec in args.fault_burst),
        )
    elif args.action == "start":
        pid = services.start_stripe_sandbox(shop)
        print(f"Stripe sandbox running at {shop.stripe_api_base} (pid {pid})")
    else:
        services.stop_stripe_sandbox(shop)


def cmd_generate(settings: Settings, args: argparse.Namespace) -> None:
    rows = generator.generate(
        _shop(settings),
        months=args.months,
        orders_per_month=args.orders_per_month,
        seed=args.seed,
        end=_parse_time(args.end) if args.end else None,
    )
    _print_counts(rows)


def cmd_simulate(settings: Settings, args: argparse.Namespace) -> None:
    shop = _shop(settings)
    clock = generator.shop_clock(shop)
    if clock is None:
        sys.exit("nothing generated yet: run `shop generate` first")
    until = datetime.now(UTC) if args.until_now else clock + timedelta(days=args.days)
    _print_counts(generator.simulate(shop, until=until))


def cmd_down(settings: Settings, args: argparse.Namespace) -> None:
    shop = _shop(settings)
    services.stop_stripe_sandbox(shop)
    postgres.stop(shop)
    print("Stripe sandbox and PostgreSQL stopped")


def start_local_shop(shop: LocalShop, months: float, orders_per_month: int) -> bool:
    """The sources up and the shop lived up to now: its history generated on first use, then
    its clock moved forward. Returns whether this was the first use."""
    postgres.start(shop)
    services.start_stripe_sandbox(shop)
    first_run = generator.shop_clock(shop) is None
    if first_run:
        print(f"-- generating {months} months x {orders_per_month:,} orders", flush=True)
        generator.generate(shop, months=months, orders_per_month=orders_per_month)
    generator.simulate(shop, until=datetime.now(UTC))
    return first_run


def cmd_demo(settings: Settings, args: argparse.Namespace) -> None:
    """The platform's main job on the embedded default: the local shop brought up to now, then
    one run of the daily flow, as the production worker runs it."""
    from flows.daily_refresh import daily_refresh

    shop = _shop(settings)
    first_run = start_local_shop(shop, args.months, args.orders_per_month)
    run_log = daily_refresh(environment="dev", build_reports=not args.skip_reports)
    _print_summary(shop, first_run, run_log)


def cmd_scheduler(settings: Settings, args: argparse.Namespace) -> None:
    from sandbox import scheduler

    scheduler.run(_shop(settings), port=args.port)


def _print_counts(rows: dict[str, int]) -> None:
    for name, count in rows.items():
        print(f"{name:45} {count:>12,}")


def _print_summary(shop: LocalShop, first_run: bool, run_log: RunLog) -> None:
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
    print(f"{'RAW table (reconciled with its source)':48} {'source rows':>12} {'loaded now':>12}")
    for table, source_rows in reconciled.items():
        print(f"{table:48} {source_rows:>12,} {loaded.get(table, 0):>12,}")
    print(f"\ndbt: {stages['dbt build'][2]['summary']}" if "dbt build" in stages else "")
    if "report build" in stages:
        print(f"reports: {stages['report build'][2]['summary']}")
    print("\nTime per stage:")
    for name, (seconds, rows, _) in stages.items():
        moved = f"  {rows:,} rows" if rows is not None else ""
        print(f"  {name:30} {seconds:7.1f} s{moved}")
    print("\nWhere things are:")
    print(
        f"  shop PostgreSQL   postgresql://{shop.pg_user}@127.0.0.1:{shop.pg_port}/{shop.shop_db}"
    )
    print(f"  Stripe sandbox    {shop.stripe_api_base}/v1 (key: see `shop env`)")
    print(f"  marketing exports {shop.marketing_dir}")
    print(f"  warehouse         {shop.warehouse_dir} (raw_<source>.duckdb, analytics.duckdb)")
    print(f"  report site       {REPO_ROOT / 'reports' / 'build'} (`shop serve`)")
    print(f"  logs              {shop.log_dir}")


def add_commands(command: Command) -> None:
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
    command("down", cmd_down, "stop the local sources")
    demo = command("demo", cmd_demo, "the main job, once: the local shop, then the daily flow")
    demo.add_argument("--months", type=float, default=DEMO_MONTHS)
    demo.add_argument("--orders-per-month", type=int, default=DEMO_ORDERS_PER_MONTH)
    demo.add_argument("--skip-reports", action="store_true", help="no report site build")
    scheduler = command("scheduler", cmd_scheduler, "Prefect server + worker + deployments")
    scheduler.add_argument("--port", type=int, default=4200)
