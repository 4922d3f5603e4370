"""Revenue alerts on the sandbox (issue 19): weeks of normal trading around Black Friday replayed
window by window, then a 45-minute checkout outage in a busy hour seen through the real-time path.

    .venv/bin/python -m bench.revenue_alerts [--orders-per-month 100000] [--weeks 5] [--keep]

In a temporary home: the shop's history from eight weeks before the replay up to the outage
day, copied into RAW by DuckDB (Singer would take hours for Stripe; the layout comes from a tiny
shop loaded by the real jobs), and dbt's `+fct_orders expected_order_bands`.

- Normal weeks: for each day from the Monday three weeks before the latest Black Friday, the
  band is rebuilt from the eight weeks before that day (`--vars anomaly_as_of`), and each of the
  day's 96 quarter hours is judged and followed as the real-time run would (pipeline.anomaly).
  Alerts on days of the retail calendar (sandbox.shopgen.demand.holiday_factors) are sale-day
  alerts; any other alert is false.
- Outage: the shop advances in 15-minute steps from 18:00 to 21:00 UTC on the day after the
  replay, taking no orders from 19:00 to 19:45 (`simulate(demand=0)`); after each
  step the real-time path runs for real: el-orders-realtime, dbt `+fct_orders
  expected_order_bands`, then the last quarter hour is judged. Minutes to alert: from the start
  of the outage to the end of the run that alerts.

Writes bench/results/revenue-alerts-<UTC time>.md and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bench import measure
from bench.checks import analytics
from bench.year_queries import load_raw_by_duckdb
from pipeline import anomaly, extract_load, meltano, transform
from sandbox import generator, postgres, services
from sandbox.config import REPO_ROOT, LocalShop, temporary_shop
from sandbox.shopgen.demand import black_friday, holiday_factors

RESULTS_DIR = REPO_ROOT / "bench" / "results"
REALTIME_JOB = "el-orders-realtime"
BAND_MODELS = ["+fct_orders", "expected_order_bands"]
HISTORY_WEEKS = 8  # transform/dbt_project.yml: vars anomaly.history_weeks
QUARTER = timedelta(minutes=15)
OUTAGE_FROM, OUTAGE_LENGTH = timedelta(hours=19), timedelta(minutes=45)
STEPS_FROM, STEPS_TO = timedelta(hours=18), timedelta(hours=21)


def timeline(today: date, weeks: int) -> dict[str, datetime]:
    """The replay starts on the Monday three weeks before the latest Black Friday whose Cyber
    Monday is over, and runs `weeks` weeks (up to yesterday); the outage is the next day."""
    friday = black_friday(today.year)
    if friday + timedelta(days=4) >= today:
        friday = black_friday(today.year - 1)
    replay_start = friday - timedelta(days=friday.weekday(), weeks=3)
    outage_day = min(replay_start + timedelta(weeks=weeks), today - timedelta(days=1))

    def midnight(day: date) -> datetime:
        return datetime(day.year, day.month, day.day, tzinfo=UTC)

    return {
        "history_start": midnight(replay_start - timedelta(weeks=HISTORY_WEEKS, days=1)),
        "replay_start": midnight(replay_start),
        "replay_end": midnight(outage_day),
        "outage_start": midnight(outage_day) + OUTAGE_FROM,
        "outage_end": midnight(outage_day) + OUTAGE_FROM + OUTAGE_LENGTH,
    }


def load_layout_home(layout: LocalShop) -> None:
    """A tiny shop loaded by the real Meltano jobs: the RAW layout the copies follow."""
    postgres.start(layout)
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    generator.generate(layout, months=2, orders_per_month=1500, end=end)
    services.start_stripe_sandbox(layout)
    extract_load.run_jobs(layout.platform())


def seed_realtime_bookmarks(settings: LocalShop, clock: datetime) -> None:
    """el-orders-realtime goes on from the end of the copied history (as if it had run all
    along); its first run would otherwise read the whole history again."""
    state = {
        "bookmarks": {
            f"public-{stream}": {
                "replication_key": "updated_at",
                "replication_key_value": clock.isoformat(timespec="microseconds"),
            }
            for stream in meltano.job_tables(REALTIME_JOB)
        }
    }
    meltano.write_state(settings.platform(), REALTIME_JOB, state)


def build_bands(settings: LocalShop, as_of: datetime | None = None) -> None:
    """The real-time path's models (with their tests), or the band alone as it stood at
    `as_of` (a replay)."""
    if as_of is None:
        summary = transform.build(settings.platform(), select=BAND_MODELS)
        if not summary.ok:
            raise RuntimeError(summary.describe())
        return
    variables = {"anomaly_as_of": as_of.replace(tzinfo=None).isoformat()}
    args = ["run", "--select", "expected_order_bands", "--vars", json.dumps(variables)]
    code, log_file = transform.run_dbt(settings.platform(), args)
    if code != 0:
        raise RuntimeError(f"dbt {' '.join(args)} failed:\n{log_file.read_text()[-3000:]}")


def judge(
    settings: LocalShop, windows: list[anomaly.Window], incident: anomaly.Incident | None
) -> tuple[anomaly.Incident | None, list[dict]]:
    """Assess and follow the windows in order, as successive real-time runs would."""
    judged = []
    with analytics(settings) as conn:
        for window in windows:
            band = anomaly.read_band(conn, window)
            assert band is not None, f"expected_order_bands has no band for {window}"
            assessment = anomaly.assess(window, anomaly.read_figures(conn, window), band)
            incident, alert = anomaly.follow(incident, assessment)
            judged.append(
                {
                    "window": window.describe(),
                    "start": window.start.isoformat(),
                    "verdict": assessment.verdict,
                    "assessment": assessment.describe(),
                    "alert": alert.text if alert else None,
                }
            )
    return incident, judged


def replay_normal_weeks(settings: LocalShop, span: dict[str, datetime]) -> dict:
    days = []
    incident = None
    day = span["replay_start"]
    sale_days = {**holiday_factors(day.year), **holiday_factors(day.year + 1)}
    while day < span["replay_end"]:
        build_bands(settings, as_of=day)
        naive = day.replace(tzinfo=None)
        windows = [
            anomaly.Window(naive + n * QUARTER, naive + (n + 1) * QUARTER) for n in range(96)
        ]
        incident, judged = judge(settings, windows, incident)
        opened = [j for j in judged if j["alert"] and "back to normal" not in j["alert"]]
        days.append(
            {
                "day": day.date().isoformat(),
                "weekday": f"{day:%a}",
                "sale_day": sale_days.get(day.date()),
                "abnormal_windows": sum(j["verdict"] != "normal" for j in judged),
                "alerts_opened": len(opened),
                "alerts": [j for j in judged if j["alert"]],
            }
        )
        print(f"   {days[-1]['day']} {days[-1]['weekday']}: {len(opened)} alerts", flush=True)
        day += timedelta(days=1)
    normal = [d for d in days if d["sale_day"] is None]
    return {
        "days": days,
        "normal_days": len(normal),
        "false_alerts": sum(d["alerts_opened"] for d in normal),
        "abnormal_windows_on_normal_days": sum(d["abnormal_windows"] for d in normal),
        "sale_days": len(days) - len(normal),
        "sale_day_alerts": sum(d["alerts_opened"] for d in days if d["sale_day"] is not None),
    }


def outage_through_the_realtime_path(settings: LocalShop, span: dict[str, datetime]) -> dict:
    steps = []
    incident = None
    day = span["replay_end"]
    clock = day + STEPS_FROM
    while clock < day + STEPS_TO:
        step_end = clock + QUARTER
        down = span["outage_start"] <= clock < span["outage_end"]
        generator.simulate(settings, until=step_end, demand=0 if down else 1)
        started = time.perf_counter()
        extract_load.run_job(settings.platform(), REALTIME_JOB)
        build_bands(settings)
        window = anomaly.last_window(step_end)
        incident, (judged,) = judge(settings, [window], incident)
        seconds = time.perf_counter() - started
        steps.append({**judged, "checkout_down": down, "run_seconds": round(seconds, 1)})
        print(f"   {judged['assessment']} -> {judged['verdict']}", flush=True)
        clock = step_end
    alerted = [s for s in steps if s["alert"] and "back to normal" not in s["alert"]]
    resolved = [s for s in steps if s["alert"] and "back to normal" in s["alert"]]
    result: dict = {"steps": steps, "alerts_sent": sum(bool(s["alert"]) for s in steps)}
    if alerted:
        first = alerted[0]
        window_end = datetime.fromisoformat(first["start"]) + QUARTER
        outage_start = span["outage_start"].replace(tzinfo=None)
        result["minutes_to_alert"] = round(
            (window_end - outage_start) / timedelta(minutes=1) + first["run_seconds"] / 60, 1
        )
    if resolved:
        window_end = datetime.fromisoformat(resolved[0]["start"]) + QUARTER
        outage_end = span["outage_end"].replace(tzinfo=None)
        result["minutes_to_resolution"] = round(
            (window_end - outage_end) / timedelta(minutes=1) + resolved[0]["run_seconds"] / 60, 1
        )
    return result


def markdown(report: dict) -> str:
    span, replay, outage = report["timeline"], report["normal_weeks"], report["outage"]
    lines = [
        f"# Revenue alerts on the sandbox, {report['started_at']}",
        "",
        f"{report['orders_per_month']:,} orders a month; bands from {HISTORY_WEEKS} weeks "
        f"(transform/dbt_project.yml vars anomaly); {report['machine']['cpu_model']}, "
        f"{report['machine']['cores']} cores, load {report['load_average_at_end']} at the end.",
        "",
        "## Outage through the real-time path",
        "",
        f"Checkout down {span['outage_start']} to {span['outage_end']} (no orders taken). "
        f"Alerts sent: {outage['alerts_sent']}; minutes from the outage's start to the alert: "
        f"{outage.get('minutes_to_alert', 'never')}; from its end to the resolution: "
        f"{outage.get('minutes_to_resolution', 'never')}.",
        "",
        "| window | checkout | orders, paid revenue against the band | verdict | alert | run s |",
        "|---|---|---|---|---|---|",
    ]
    for step in outage["steps"]:
        lines.append(
            f"| {step['window']} | {'down' if step['checkout_down'] else 'up'} | "
            f"{step['assessment'].split(': ', 1)[1]} | {step['verdict']} | "
            f"{step['alert'] or ''} | {step['run_seconds']} |"
        )
    lines += [
        "",
        f"## Normal weeks, {span['replay_start'][:10]} to {span['replay_end'][:10]}",
        "",
        f"{replay['normal_days']} normal days: **{replay['false_alerts']} false alerts** "
        f"({replay['abnormal_windows_on_normal_days']} abnormal quarter hours). "
        f"{replay['sale_days']} days of the retail calendar: {replay['sale_day_alerts']} alerts.",
        "",
        "| day | demand factor of the calendar | abnormal quarter hours | alerts |",
        "|---|---|---|---|",
    ]
    for day in replay["days"]:
        alerts = "<br>".join(f"{a['window']}: {a['alert']}" for a in day["alerts"])
        lines.append(
            f"| {day['day']} {day['weekday']} | {day['sale_day'] or ''} | "
            f"{day['abnormal_windows']} | {alerts} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.revenue_alerts", description=__doc__)
    parser.add_argument("--orders-per-month", type=int, default=100_000)
    parser.add_argument("--weeks", type=int, default=5, help="normal weeks replayed")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--keep", action="store_true", help="keep the temporary homes")
    args = parser.parse_args(argv)

    # Plugins are shared by every home on the machine: never (re)install one here.
    os.environ["MELTANO_AUTO_INSTALL"] = "false"
    started = datetime.now(UTC).replace(microsecond=0)
    span = timeline(started.date(), args.weeks)
    report: dict = {
        "started_at": started.isoformat(),
        "machine": measure.machine(),
        "orders_per_month": args.orders_per_month,
        "timeline": {name: moment.isoformat() for name, moment in span.items()},
    }
    layout, shop = temporary_shop("alerts-layout"), temporary_shop("alerts-shop")
    try:
        print("-- a tiny shop through the real jobs, for RAW's layout", flush=True)
        load_layout_home(layout)
        print(f"-- the history {span['history_start']:%Y-%m-%d} to {span['replay_end']:%Y-%m-%d}")
        postgres.start(shop)
        history_end = span["replay_end"] + STEPS_FROM
        months = (history_end - span["history_start"]) / timedelta(days=generator.DAYS_PER_MONTH)
        generator.generate(
            shop, months=months, orders_per_month=args.orders_per_month, end=history_end
        )
        report["raw_rows_copied"] = load_raw_by_duckdb(shop, layout)
        seed_realtime_bookmarks(shop, history_end)
        build_bands(shop)
        print("-- normal weeks, a quarter hour at a time", flush=True)
        report["normal_weeks"] = replay_normal_weeks(shop, span)
        print("-- the outage, through the real-time path", flush=True)
        report["outage"] = outage_through_the_realtime_path(shop, span)
    finally:
        for home in (layout, shop):
            services.stop_stripe_sandbox(home)
            postgres.stop(home)
            if not args.keep:
                shutil.rmtree(home.home, ignore_errors=True)
    report["load_average_at_end"] = measure.load_average()
    stem = f"revenue-alerts-{started:%Y-%m-%dT%H%M%SZ}"
    args.results_dir.mkdir(parents=True, exist_ok=True)
    (args.results_dir / f"{stem}.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.results_dir / f"{stem}.md").write_text(markdown(report))
    print(f"written: {args.results_dir / stem}.md")


if __name__ == "__main__":
    main()
