"""`shop`: the platform's commands, in either environment (`--environment`, default
$SHOP_ENVIRONMENT or dev): run a flow once, extract-load, reconcile, change data capture, the
cost model. They never start or change a source.

Other packages add commands through the entry-point group `shop.commands` (a function that takes
the `command` adder): the embedded default's local sources, `demo` and `scheduler` come from
sandbox/cli.py that way, so the platform itself knows nothing of its stand-ins. It lives beside
the flows it runs: flows -> pipeline, never back.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Callable
from datetime import date
from importlib.metadata import entry_points
from pathlib import Path

from pipeline import (
    backfill,
    cdc,
    cost_model,
    extract_load,
    meltano,
    reconcile,
    reports,
    transform,
)
from pipeline import settings as platform
from pipeline.errors import PlatformError
from pipeline.settings import Settings
from pipeline.writer import one_writer

Handler = Callable[[Settings, argparse.Namespace], None]
Command = Callable[[str, Handler, str], argparse.ArgumentParser]


def cmd_run(settings: Settings, args: argparse.Namespace) -> None:
    """One run of a flow, as its deployment would start it (a temporary Prefect server unless
    PREFECT_API_URL names one)."""
    if args.flow == "daily":
        from flows.daily_refresh import daily_refresh

        run_log = daily_refresh(
            environment=settings.environment, build_reports=not args.skip_reports
        )
    else:
        from flows.realtime_orders import realtime_orders

        run_log = realtime_orders(
            environment=settings.environment, build_reports=not args.skip_reports
        )
    for name, seconds, rows, _ in run_log.stages:
        moved = f"  {rows:,} rows" if rows is not None else ""
        print(f"{name:30} {seconds:7.1f} s{moved}")


def cmd_install_alerts(settings: Settings, args: argparse.Namespace) -> None:
    """The failure and lateness alerts of the deployments (automations.yaml) on the Prefect server
    PREFECT_API_URL names, sent to ALERT_WEBHOOK_URL: run after each `prefect deploy`."""
    webhook_url = os.environ.get("ALERT_WEBHOOK_URL")
    if not webhook_url:
        raise PlatformError("ALERT_WEBHOOK_URL is not set: the alerts would have nowhere to go")
    from flows.alerts import NOTIFICATION_BLOCK, install_alerts

    for name in install_alerts(webhook_url):
        print(f"automation {name} -> notification block {NOTIFICATION_BLOCK}")


def cmd_extract_load(settings: Settings, args: argparse.Namespace) -> None:
    jobs = args.job or settings.daily_jobs
    # Kept apart from the flows as they are: two loads of one RAW table would interleave.
    with one_writer(settings, holder=f"shop extract-load {' '.join(jobs)}"):
        runs = extract_load.run_jobs(settings, jobs)
    for run in runs.values():
        print(f"{run.ran}: {run.seconds:.1f} s (log: {run.log_file})")


def cmd_backfill(settings: Settings, args: argparse.Namespace) -> None:
    """The jobs' history (pipeline/backfill.py): run again after a stop, it resumes."""
    jobs = args.job or settings.daily_jobs
    with one_writer(settings, holder=f"shop backfill {' '.join(jobs)}"):
        runs = backfill.run_jobs(
            settings, jobs, lambda line: print(line, flush=True), args.since, args.progress_every
        )
    for run in runs.values():
        read = backfill.records_read(run.log_file)
        counted = f", {sum(read.values()):,} records read" if read else ""
        print(f"{run.ran}: {run.seconds:.1f} s{counted} (log: {run.log_file})")


def cmd_transform(settings: Settings, args: argparse.Namespace) -> None:
    """dbt build on the environment's target, kept apart from the flows as they are."""
    with one_writer(settings, holder="shop transform", wait_s=args.wait):
        summary = transform.build(settings, select=args.select or None, unit_tests=True)
    print(summary.describe())
    if not summary.ok:
        raise transform.TransformError(summary.describe())


def cmd_serve(settings: Settings, args: argparse.Namespace) -> None:
    """The published report site and, at /dbt-docs/, the dbt docs, on 127.0.0.1."""
    server = reports.site_server(settings.site_dir, transform.docs_dir(settings), args.port)
    print(f"report site: http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C stops it)")
    print(f"dbt docs:    http://127.0.0.1:{server.server_address[1]}{reports.DOCS_URL_PATH}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.shutdown()


def cmd_reconcile(settings: Settings, args: argparse.Namespace) -> None:
    jobs = [cdc.job_for(settings, job) for job in settings.daily_jobs]
    for result in reconcile.reconcile(settings, jobs):
        print(result.describe())


def cmd_cdc(settings: Settings, args: argparse.Namespace) -> None:
    slot = settings.postgres.cdc_slot
    if args.action == "enable":
        cdc.enable(settings)
        print(f"change data capture on: slot {slot}; the daily flow runs {settings.cdc_job}")
    elif args.action == "disable":
        cdc.disable(settings)
        print(f"change data capture off: slot {slot} dropped; {settings.job_cdc_replaces} runs")
    elif args.action == "advance":
        print(f"slot {slot} confirmed up to {cdc.advance(settings)}")
    else:
        status = cdc.status(settings)
        print(f"off (no replication slot {slot})" if status is None else status)


def cmd_env(settings: Settings, args: argparse.Namespace) -> None:
    """The variables to run `meltano` by hand in this environment."""
    inherited = os.environ
    for name, value in meltano.environment(settings).items():
        if inherited.get(name) != value:
            print(f"export {name}={shlex.quote(value)}")


def cmd_cost_model(settings: Settings, args: argparse.Namespace) -> None:
    summary, rows, monitors = cost_model.run(
        args.bench, args.terraform_environment, args.time_factor, args.output_dir
    )
    print(cost_model.describe(summary, rows, monitors))
    print(f"\nwritten: {args.output_dir}/{{estimate,monitors,summary,assumptions}}.csv")


def add_commands(command: Command) -> None:
    """The platform's commands; `command(name, handler, help)` adds one and returns its parser."""
    run = command("run", cmd_run, "run a flow once: daily or realtime")
    run.add_argument("flow", choices=["daily", "realtime"])
    run.add_argument("--skip-reports", action="store_true", help="no report site build")
    command("install-alerts", cmd_install_alerts, "the deployments' alerts on the Prefect server")
    extract = command("extract-load", cmd_extract_load, "run Meltano extract-load jobs")
    extract.add_argument("--job", action="append", help="a job of meltano.yml (default: daily)")
    history = command("backfill", cmd_backfill, "load the sources' history, resumably")
    history.add_argument("--job", action="append", help="a job of meltano.yml (default: daily)")
    history.add_argument(
        "--since",
        type=date.fromisoformat,
        help="the first day of Stripe history for streams without a bookmark "
        "(default: TAP_STRIPE_START_DATE)",
    )
    history.add_argument(
        "--progress-every",
        type=float,
        default=backfill.PROGRESS_EVERY_S,
        help="seconds between progress lines",
    )
    build = command(
        "transform", cmd_transform, "dbt build on the environment's target, unit tests included"
    )
    build.add_argument("--select", action="append", help="dbt selectors (default: everything)")
    build.add_argument(
        "--wait", type=float, default=1800, help="seconds to wait for a running flow"
    )
    command("reconcile", cmd_reconcile, "compare RAW with the sources")
    serve = command("serve", cmd_serve, "serve the report site and the dbt docs on 127.0.0.1")
    serve.add_argument("--port", type=int, default=3000)
    command("cdc", cmd_cdc, "change data capture of the shop (replication slot)").add_argument(
        "action", choices=["enable", "disable", "status", "advance"]
    )
    command("env", cmd_env, "print the environment for running `meltano` by hand")
    cost = command("cost-model", cmd_cost_model, "monthly Snowflake credits from the benchmark")
    cost.add_argument("--bench", type=Path, default=cost_model.BENCH_RESULTS)
    cost.add_argument(
        "--terraform-environment",
        choices=["dev", "prod"],
        default="prod",
        help="the Snowflake account's environment (terraform/environments/)",
    )
    cost.add_argument(
        "--time-factor", type=float, default=1.0, help="Snowflake seconds per local second"
    )
    cost.add_argument("--output-dir", type=Path, default=cost_model.OUTPUT_DIR)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shop", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--environment",
        "-e",
        choices=list(platform.declared_environments()),
        default=os.environ.get("SHOP_ENVIRONMENT", "dev"),
        help="environments.yaml: dev (the embedded default) or prod (default: $SHOP_ENVIRONMENT "
        "or dev)",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, handler: Handler, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help)
        sub.set_defaults(handler=handler)
        return sub

    add_commands(command)
    for extension in entry_points(group="shop.commands"):
        extension.load()(command)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        settings = platform.load(args.environment)
        # Before Prefect is first imported: it reads its settings then.
        for name, value in platform.prefect_variables(settings).items():
            os.environ.setdefault(name, value)
        args.handler(settings, args)
    except PlatformError as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
