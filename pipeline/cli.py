"""`shop`: run the platform's embedded default — the local sources, the extract-load, the checks."""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from pipeline import extract_load, reconcile, services
from pipeline.exports import validate_exports
from sandbox import postgres
from sandbox.config import Settings, load_settings

DEMO_MONTHS = 6
DEMO_ORDERS_PER_MONTH = 10_000


class StageTimer:
    """Wall-clock time per named stage, for the run summary."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        print(f"-- {name}", flush=True)
        started = time.monotonic()
        try:
            yield
        finally:
            self.seconds[name] = time.monotonic() - started


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

        stripe_api.serve(settings, rate_limit_per_s=args.rate_limit)
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
    if "el-marketing" in jobs:
        validate_exports(settings.marketing_dir)
    for run in extract_load.run_jobs(settings, jobs).values():
        print(f"{run.job}: {run.seconds:.1f} s (log: {run.log_file})")


def cmd_reconcile(settings: Settings, args: argparse.Namespace) -> None:
    for result in reconcile.reconcile(settings):
        print(result.describe())


def cmd_env(settings: Settings, args: argparse.Namespace) -> None:
    for name, value in extract_load.meltano_env(settings).items():
        print(f"export {name}={shlex.quote(value)}")


def cmd_down(settings: Settings, args: argparse.Namespace) -> None:
    services.stop_stripe_sandbox(settings)
    postgres.stop(settings)
    print("Stripe sandbox and PostgreSQL stopped")


def cmd_demo(settings: Settings, args: argparse.Namespace) -> None:
    """The platform's main job on the embedded default: sources up, shop data, extract-load, checks.

    The first run generates the shop's history; every later run advances the shop to the
    real clock and moves only what changed since.
    """
    from sandbox import generator

    timer = StageTimer()
    with timer.stage("start sources (PostgreSQL, Stripe sandbox)"):
        postgres.start(settings)
        services.start_stripe_sandbox(settings)
    first_run = generator.shop_clock(settings) is None
    if first_run:
        with timer.stage(f"generate {args.months} months x {args.orders_per_month} orders"):
            generator.generate(settings, months=args.months, orders_per_month=args.orders_per_month)
    with timer.stage("simulate the shop up to now"):
        changes = generator.simulate(settings, until=datetime.now(UTC))
    with timer.stage("validate marketing exports"):
        validate_exports(settings.marketing_dir)
    with timer.stage("extract-load (postgres, stripe, marketing in parallel)"):
        runs = extract_load.run_jobs(settings)
    with timer.stage("reconcile RAW with the sources"):
        results = reconcile.reconcile(settings)
    _print_summary(settings, first_run, timer, runs, results, changes)


def _print_counts(rows: dict[str, int]) -> None:
    for name, count in rows.items():
        print(f"{name:45} {count:>12,}")


def _print_summary(
    settings: Settings,
    first_run: bool,
    timer: StageTimer,
    runs: dict[str, extract_load.JobRun],
    results: list[reconcile.TableReconciliation],
    changes: dict[str, int],
) -> None:
    print("\n== Summary:", "first run (full load)" if first_run else "incremental run")
    print(f"{'RAW table':40} {'source rows':>12} {'RAW rows':>12} {'deleted at src':>15}  check")
    for r in results:
        print(
            f"{r.source + '.' + r.table:40} {r.source_rows:>12,} {r.raw_rows:>12,} "
            f"{r.deleted_at_source:>15,}  {'ok' if r.ok else 'MISMATCH'}"
        )
    if not first_run:
        print("\nShop changes simulated since the last run:")
        _print_counts({name: count for name, count in changes.items() if count})
    print("\nTime per stage:")
    for name, seconds in timer.seconds.items():
        print(f"  {name:60} {seconds:7.1f} s")
    for run in runs.values():
        print(f"    {run.job:58} {run.seconds:7.1f} s")
    print("\nWhere things are:")
    print(
        f"  shop PostgreSQL   postgresql://{settings.pg_user}@127.0.0.1:{settings.pg_port}/{settings.shop_db}"
    )
    print(f"  Stripe sandbox    {settings.stripe_api_base}/v1 (key {settings.stripe_api_key})")
    print(f"  marketing exports {settings.marketing_dir}")
    print(f"  RAW warehouse     {settings.warehouse_dir}/raw_<source>.duckdb")
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
    command("env", cmd_env, "print the environment for running `meltano` by hand")
    command("down", cmd_down, "stop the local sources")
    demo = command("demo", cmd_demo, "the main job: sources, data, extract-load, reconcile")
    demo.add_argument("--months", type=float, default=DEMO_MONTHS)
    demo.add_argument("--orders-per-month", type=int, default=DEMO_ORDERS_PER_MONTH)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        args.handler(load_settings(), args)
    except (
        postgres.PostgresError,
        services.ServiceError,
        extract_load.ExtractLoadError,
        reconcile.ReconciliationError,
        ValueError,
        FileNotFoundError,
    ) as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
