"""Monthly Snowflake credits and dollars of the platform, from what is declared and measured.

Inputs, none of them guessed here:
- terraform/platform.yaml: the price of a credit and of storage, the monthly budget, each
  warehouse's size per environment, auto-suspend and monitor quota, the monitors' headroom, and
  which warehouse each flow's steps run on (workloads);
- prefect.yaml: when each flow runs (its cron schedules);
- the benchmark's results (bench/results/latest.json): seconds and rows per stage of one daily
  run (`day`), one real-time run (`realtime-lag`) and one month of history (`month`), at the
  bench's scale, and the report site's source queries on a year of data (`year-queries`).

The bench ran at a smaller scale than the shop's; scale_stage takes each stage to the shop's
scale by the extra rows it would move, at the stage's marginal seconds per row (the bench's
month against its day). What is assumed is listed in ASSUMPTIONS and written next to the
estimate.
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from pipeline.settings import REPO_ROOT

TERRAFORM_DIR = REPO_ROOT / "terraform"
PREFECT_YAML = REPO_ROOT / "prefect.yaml"
BENCH_RESULTS = REPO_ROOT / "bench" / "results" / "latest.json"
OUTPUT_DIR = REPO_ROOT / "reports" / "sources" / "cost_model"

# Snowflake's credits per hour of a standard (Gen1) warehouse, by size
# (docs.snowflake.com/en/user-guide/warehouses-overview).
CREDITS_PER_HOUR = {
    "XSMALL": 1,
    "SMALL": 2,
    "MEDIUM": 4,
    "LARGE": 8,
    "XLARGE": 16,
    "XXLARGE": 32,
    "XXXLARGE": 64,
    "X4LARGE": 128,
}
# Each start or resume bills at least one minute (docs.snowflake.com/en/user-guide/
# cost-understanding-compute).
MINIMUM_BILLED_SECONDS = 60
DAYS_PER_MONTH = 365 / 12
SEED_ESTIMATE_USD = 150  # the seed's "about $150/month" (terraform/README.md, Cost caps)
SHOP_ORDERS_PER_MONTH = 500_000  # the shop this platform is for (docs: DESIGN, section 1)
# Cloud services are billed only where a day's use passes 10 % of its warehouse credits
# (cost-understanding-compute). No account was reachable to measure the use; a workload of many
# small metadata-heavy statements (dbt's DDL, Meltano's merges) is taken to use 20 %, so 10 % of
# the compute is billed.
CLOUD_SERVICES_BILLED_SHARE = 0.10
# Stored after a year at the shop's scale, Time Travel and Fail-safe included: ~6 M orders and
# their items, payments and history, compressed, in RAW and again in the marts and snapshots.
STORAGE_TB = 0.1
# Which flow each benchmark scenario measured (prefect.yaml's entrypoints).
SCENARIO_OF_FLOW = {"daily_refresh": "day", "realtime_orders": "realtime-lag"}
# Stages that do the same work as another, whose month and day scale them: the real-time load
# the shop's, mark deletes (key ranges of both sides, as reconcile compares) reconcile's; the run
# log's name for what the bench's month calls dbt. (The report stages bill the site's queries.)
SAME_WORK_AS = {
    "el-orders-realtime": "el-postgres",
    "dbt build": "dbt",
    "mark deletes": "reconcile",
}
# Stages whose work does not grow with the rows a run loads: the newest change per table, dbt's
# catalog, one window of orders.
UNSCALED_STAGES = ("source freshness", "dbt docs", "revenue watch")
REPORT_STAGES = ("reports", "report build")
# dbt and the platform's own queries: the transform warehouse (settings.on_workload).
TRANSFORM_STAGES = ("reconcile", "mark deletes", "dbt", "dbt build", *UNSCALED_STAGES)
# Stages that do not run in Snowflake: the shop itself (its generator stands in for real orders).
SOURCE_SIDE_STAGES = ("generate", "simulate shop", "raw-by-duckdb")

ASSUMPTIONS = [
    (
        "billing",
        "credits/hour by size (XSMALL 1, SMALL 2, MEDIUM 4, ...); per second, at least "
        f"{MINIMUM_BILLED_SECONDS} s per resume; a warehouse stays up auto-suspend seconds "
        "after its last query unless the flow suspends it (workloads.suspend_after_run)",
        "docs.snowflake.com/en/user-guide/cost-understanding-compute and warehouses-overview; "
        "sizes, auto-suspend and workloads from terraform/platform.yaml",
    ),
    (
        "price",
        "usd_per_credit and storage_usd_per_tb_month of terraform/platform.yaml",
        "Enterprise edition on demand, AWS US East: about $3.00 a credit (snowflake.com/en/"
        "pricing-options, as quoted by finout.io and others; the consumption table is a PDF)",
    ),
    (
        "one resume per warehouse and run",
        "a run's stages on one warehouse bill as one stretch: parallel extract-loads for as "
        "long as the longest, reconcile, dbt and the site's queries back to back",
        "the flows run el-* in parallel, then reconcile, dbt, the site, in order",
    ),
    (
        "warehouse time = local stage time x the time factor",
        "extract-load: the whole stage (the loader's session keeps its warehouse up while the "
        "tap reads); reconcile and dbt: the whole stage",
        "an upper bound for loads; dbt and reconcile time is mostly SQL",
    ),
    (
        "time factor (Snowflake seconds per local second)",
        "1.0, with 0.5 and 2.0 as the range",
        "the benchmark ran DuckDB on 2 shared cores. A Snowflake warehouse has more compute "
        "per query but adds compilation, remote storage and a round trip per statement; at "
        "this volume (thousands of rows a run) those overheads and dbt's per-model DDL "
        "dominate, so the local seconds are taken as they are. No account was reachable to "
        "measure it",
    ),
    (
        "the shop's scale",
        f"{SHOP_ORDERS_PER_MONTH:,} orders a month: each stage's seconds plus the extra rows "
        "of the run at that scale times the stage's marginal seconds per row (the bench's month "
        "minus its day over their rows); the site's queries in proportion to the orders",
        "the seed-scale month (2026-11-25T141824Z) did not finish, so stage times come from "
        "the 100,000-a-month runs; a real-time run is mostly fixed cost (process start, dbt's "
        "per-model work), which does not grow with the rows",
    ),
    (
        "report site",
        "a site build runs the site's source queries once (their medians on a year of data, "
        "from year-queries, scaled); viewers read the static site and query nothing",
        "Evidence builds a static site; the daily run builds it, every real-time run refreshes "
        "its data (npm run sources: every source query)",
    ),
    (
        "cloud services",
        f"{CLOUD_SERVICES_BILLED_SHARE:.0%} of the compute credits billed on top",
        "billed only above 10 % of a day's warehouse credits (cost-understanding-compute); "
        "taken to be 20 % of them for many small statements; not measured",
    ),
    (
        "storage",
        f"{STORAGE_TB:g} TB",
        "a year at the shop's scale, compressed, with Time Travel and Fail-safe; not measured",
    ),
    (
        "not included",
        "data transfer (none leaves the region), the report build's Node time (no warehouse), "
        "the dev environment's use (capped by its monitors), one-off history loads (below)",
        "not the platform's running cost",
    ),
]


class CostModelError(ValueError):
    pass


@dataclass(frozen=True)
class Warehouse:
    name: str
    size: str
    credits_per_hour: float
    auto_suspend_seconds: int
    monitor_quota_credits: float


@dataclass(frozen=True)
class Workload:
    """Which warehouse each kind of stage of a flow runs on."""

    load: str
    transform: str
    report: str
    suspend_after_run: bool


@dataclass(frozen=True)
class Platform:
    environment: str
    usd_per_credit: float
    storage_usd_per_tb_month: float
    monthly_budget_usd: float
    monitor_headroom: float
    account_monitor_quota_credits: float
    warehouses: dict[str, Warehouse]
    workloads: dict[str, Workload]


@dataclass(frozen=True)
class EstimateRow:
    workload: str
    warehouse: str
    size: str
    credits_per_hour: float
    runs_per_month: float
    active_seconds_per_run: float
    billed_seconds_per_run: float
    credits_per_month: float
    usd_per_month: float
    monitor_quota_credits: float


def load_platform(environment: str = "prod", terraform_dir: Path = TERRAFORM_DIR) -> Platform:
    """Prices, budget, warehouses, monitors and workloads, as terraform/platform.yaml declares."""
    platform = yaml.safe_load((terraform_dir / "platform.yaml").read_text())
    auto_suspend = int(platform["warehouse_defaults"]["auto_suspend_seconds"])
    warehouses = {}
    for name, spec in platform["warehouses"].items():
        size = str(spec["size"][environment]).upper()
        if size not in CREDITS_PER_HOUR:
            raise CostModelError(
                f"terraform/platform.yaml: warehouse {name} has size {size!r} in {environment}; "
                f"known sizes: {', '.join(CREDITS_PER_HOUR)}"
            )
        warehouses[name] = Warehouse(
            name=name,
            size=size,
            credits_per_hour=CREDITS_PER_HOUR[size],
            auto_suspend_seconds=auto_suspend,
            monitor_quota_credits=float(spec["monitor_quota_credits"][environment]),
        )
    workloads = {flow: Workload(**spec) for flow, spec in platform["workloads"].items()}
    for flow, workload in workloads.items():
        for warehouse in (workload.load, workload.transform, workload.report):
            if warehouse not in warehouses:
                raise CostModelError(
                    f"terraform/platform.yaml: workloads.{flow} names warehouse {warehouse!r}, "
                    "which is not declared"
                )
    return Platform(
        environment=environment,
        usd_per_credit=float(platform["pricing"]["usd_per_credit"]),
        storage_usd_per_tb_month=float(platform["pricing"]["storage_usd_per_tb_month"]),
        monthly_budget_usd=float(platform["monthly_budget_usd"]),
        monitor_headroom=float(platform["monitor_headroom"]),
        account_monitor_quota_credits=float(platform["account_monitor_quota_credits"]),
        warehouses=warehouses,
        workloads=workloads,
    )


def runs_per_day(cron: str) -> float:
    """Runs a day of a cron schedule `M H * * *`: minute and hour each a value, `*` or a range
    `A-B`, with an optional step `/N`, or a list of those (`*/12 9-22`, `48 0-8,23`)."""
    minute, hour, *rest = cron.split()
    if rest != ["*", "*", "*"]:
        raise CostModelError(f"prefect.yaml: cron {cron!r}: only daily schedules are supported")
    return _cron_field_count(minute, 60, cron) * _cron_field_count(hour, 24, cron)


def _cron_field_count(field: str, span: int, cron: str) -> int:
    values: set[int] = set()
    for part in field.split(","):
        match = re.fullmatch(r"(\*|\d+(?:-\d+)?)(?:/(\d+))?", part)
        if not match:
            raise CostModelError(f"prefect.yaml: cron {cron!r}: cannot read {part!r}")
        first, _, last = match.group(1).partition("-")
        lo, hi = (0, span - 1) if first == "*" else (int(first), int(last or first))
        if match.group(2) and not last and first != "*":
            hi = span - 1  # `5/15` means from 5 to the end, every 15
        values.update(range(lo, hi + 1, int(match.group(2) or 1)))
    return len(values)


def schedule_runs_per_day(prefect_yaml: Path = PREFECT_YAML) -> dict[str, float]:
    """Runs a day per flow, from the schedules of the deployments that run on Snowflake
    (parameter environment: prod)."""
    runs: dict[str, float] = {}
    for deployment in yaml.safe_load(prefect_yaml.read_text())["deployments"]:
        if deployment.get("parameters", {}).get("environment") != "prod":
            continue
        flow = deployment["entrypoint"].rsplit(":", 1)[-1]
        if flow not in SCENARIO_OF_FLOW:
            raise CostModelError(f"{prefect_yaml}: flow {flow!r} has no benchmark scenario")
        for schedule in deployment.get("schedules", []):
            runs[flow] = runs.get(flow, 0) + runs_per_day(schedule["cron"])
    return runs


def warehouse_of_stage(stage: str, workload: Workload) -> str | None:
    if stage in SOURCE_SIDE_STAGES:
        return None
    if stage.startswith("el-"):
        return workload.load
    if stage in TRANSFORM_STAGES:
        return workload.transform
    if stage in REPORT_STAGES:
        return workload.report
    raise CostModelError(f"benchmark stage {stage!r}: no warehouse known for it (cost_model.py)")


def _scenario(bench: dict, name: str, bench_path: Path) -> dict:
    scenario = bench.get("scenarios", {}).get(name)
    if not scenario:
        raise CostModelError(f"{bench_path}: no scenarios.{name}")
    return scenario


def _stages(bench: dict, name: str, bench_path: Path) -> dict:
    return _scenario(bench, name, bench_path).get("stages") or {}


def _rows_loaded(stages: dict) -> float:
    return sum(float(s.get("rows", 0)) for name, s in stages.items() if name.startswith("el-"))


def report_query_seconds(bench: dict, bench_path: Path, orders_per_month: float) -> float:
    """Warehouse time of one site build at orders_per_month: the source queries' medians on a
    year of data, in proportion to the orders."""
    scenario = _scenario(bench, "year-queries", bench_path)
    queries = scenario.get("queries") or []
    if not queries:
        raise CostModelError(f"{bench_path}: scenarios.year-queries has no queries")
    measured_at = float(bench["scale"].get("year_orders_per_month") or orders_per_month)
    seconds = sum(float(query["warehouse_ms_median"]) for query in queries) / 1000
    return seconds * orders_per_month / measured_at


def scale_stage(stage: str, stages: dict, bench: dict, bench_path: Path, factor: float) -> float:
    """A stage's seconds with `factor` times the rows: its measured seconds plus the extra rows
    (its own for an extract-load, the run's loaded rows otherwise) at the marginal seconds per
    row of the same work in the bench (month against day, at the bench's scale)."""
    measured = float(stages[stage]["seconds"])
    if factor == 1 or stage in UNSCALED_STAGES:
        return measured
    work = SAME_WORK_AS.get(stage, stage)
    month_stages = _stages(bench, "month", bench_path)
    day_stages = _stages(bench, "day", bench_path)
    month, day = _doing(month_stages, work), _doing(day_stages, work)
    if month is None or day is None:
        raise CostModelError(f"{bench_path}: no {work!r} in both month and day to scale {stage}")
    if work.startswith("el-"):
        extra_rows = (factor - 1) * float(stages[stage].get("rows", 0))
        span = float(month["rows"]) - float(day["rows"])
    else:
        extra_rows = (factor - 1) * _rows_loaded(stages)
        span = _rows_loaded(month_stages) - _rows_loaded(day_stages)
    marginal = max(0.0, float(month["seconds"]) - float(day["seconds"])) / span
    return measured + extra_rows * marginal


def _doing(stages: dict, work: str) -> dict | None:
    """The scenario's stage doing `work`: the stage of that name, else one of the same work."""
    if work in stages:
        return stages[work]
    return next((s for name, s in stages.items() if SAME_WORK_AS.get(name) == work), None)


def active_seconds(
    stages: dict,
    workload: Workload,
    seconds_of: dict[str, float],
    report_seconds: float,
    time_factor: float,
) -> dict[str, float]:
    """Warehouse-up seconds of one run, per warehouse (parallel loads: the longest)."""
    busy: dict[str, float] = {}
    loads: dict[str, float] = {}
    for stage in stages:
        warehouse = warehouse_of_stage(stage, workload)
        if warehouse is None:
            continue
        if stage.startswith("el-"):
            loads[warehouse] = max(loads.get(warehouse, 0), seconds_of[stage])
            continue
        seconds = report_seconds if stage in REPORT_STAGES else seconds_of[stage]
        busy[warehouse] = busy.get(warehouse, 0) + seconds
    for warehouse, seconds in loads.items():
        busy[warehouse] = busy.get(warehouse, 0) + seconds
    return {warehouse: seconds * time_factor for warehouse, seconds in sorted(busy.items())}


def billed_seconds(active: float, warehouse: Warehouse, suspended_by_flow: bool) -> float:
    idle = 0 if suspended_by_flow else warehouse.auto_suspend_seconds
    return max(MINIMUM_BILLED_SECONDS, active + idle)


def _scale_factor(bench: dict, bench_path: Path) -> float:
    scale = bench.get("scale") or {}
    if "orders_per_month" not in scale or "months" not in scale:
        raise CostModelError(f"{bench_path}: no scale.orders_per_month and scale.months")
    return SHOP_ORDERS_PER_MONTH / float(scale["orders_per_month"])


def estimate(
    bench: dict, platform: Platform, runs: dict[str, float], time_factor: float, bench_path: Path
) -> list[EstimateRow]:
    factor = _scale_factor(bench, bench_path)
    report_seconds = report_query_seconds(bench, bench_path, SHOP_ORDERS_PER_MONTH)
    rows = []
    for flow, per_day in runs.items():
        scenario = SCENARIO_OF_FLOW[flow]
        workload = platform.workloads[flow]
        stages = _stages(bench, scenario, bench_path)
        seconds_of = {
            stage: scale_stage(stage, stages, bench, bench_path, factor)
            for stage in stages
            if stage not in SOURCE_SIDE_STAGES and stage not in REPORT_STAGES
        }
        busy = active_seconds(stages, workload, seconds_of, report_seconds, time_factor)
        for name, active in busy.items():
            warehouse = platform.warehouses[name]
            billed = billed_seconds(active, warehouse, workload.suspend_after_run)
            runs_per_month = per_day * DAYS_PER_MONTH
            credits = runs_per_month * billed / 3600 * warehouse.credits_per_hour
            rows.append(
                EstimateRow(
                    workload=f"{scenario} ({per_day:g} a day)",
                    warehouse=name,
                    size=warehouse.size,
                    credits_per_hour=warehouse.credits_per_hour,
                    runs_per_month=round(runs_per_month, 1),
                    active_seconds_per_run=round(active, 1),
                    billed_seconds_per_run=round(billed, 1),
                    credits_per_month=round(credits, 2),
                    usd_per_month=round(credits * platform.usd_per_credit, 2),
                    monitor_quota_credits=warehouse.monitor_quota_credits,
                )
            )
    return rows


def history_load_credits(
    bench: dict, platform: Platform, time_factor: float, bench_path: Path
) -> float:
    """One-off: the credits of loading one month of history (scenario `month`, at the bench's
    scale: the seed-scale month did not finish), once, as the daily flow would."""
    stages = _stages(bench, "month", bench_path)
    workload = platform.workloads["daily_refresh"]
    seconds_of = {s: float(v["seconds"]) for s, v in stages.items() if s not in REPORT_STAGES}
    report_seconds = report_query_seconds(bench, bench_path, SHOP_ORDERS_PER_MONTH)
    return sum(
        billed_seconds(active, platform.warehouses[name], workload.suspend_after_run)
        / 3600
        * platform.warehouses[name].credits_per_hour
        for name, active in active_seconds(
            stages, workload, seconds_of, report_seconds, time_factor
        ).items()
    )


@dataclass(frozen=True)
class Summary:
    environment: str
    bench_scale: str
    compute_credits_per_month: float
    compute_usd_per_month: float
    cloud_services_usd_per_month: float
    storage_usd_per_month: float
    usd_per_month: float
    usd_per_month_at_half_the_time: float
    usd_per_month_at_twice_the_time: float
    seed_estimate_usd: float
    budget_usd: float
    account_monitor_quota_credits: float
    usd_per_credit: float
    history_load_usd_per_month_of_history: float


@dataclass(frozen=True)
class MonitorUse:
    monitor: str
    modelled_credits: float
    quota_credits: float
    percent_of_quota: float
    quota_needed_credits: float  # the model's month over monitor_headroom, rounded up


def monitor_use(platform: Platform, rows: list[EstimateRow]) -> list[MonitorUse]:
    """Each monitor's modelled month against its quota (the account's: every warehouse)."""

    def use(monitor: str, credits: float, quota: float) -> MonitorUse:
        return MonitorUse(
            monitor=monitor,
            modelled_credits=round(credits, 2),
            quota_credits=quota,
            percent_of_quota=round(100 * credits / quota, 1),
            quota_needed_credits=math.ceil(credits / platform.monitor_headroom),
        )

    uses = [
        use(
            name,
            sum(r.credits_per_month for r in rows if r.warehouse == name),
            w.monitor_quota_credits,
        )
        for name, w in platform.warehouses.items()
    ]
    total = sum(r.credits_per_month for r in rows)
    return [*uses, use("ACCOUNT", total, platform.account_monitor_quota_credits)]


def _total_usd(rows: list[EstimateRow], platform: Platform) -> tuple[float, float, float, float]:
    """Compute, cloud services, storage and all-in dollars a month."""
    compute = sum(row.usd_per_month for row in rows)
    cloud_services = compute * CLOUD_SERVICES_BILLED_SHARE
    storage = STORAGE_TB * platform.storage_usd_per_tb_month
    return compute, cloud_services, storage, compute + cloud_services + storage


def run(
    bench_path: Path = BENCH_RESULTS,
    environment: str = "prod",
    time_factor: float = 1.0,
    output_dir: Path = OUTPUT_DIR,
    terraform_dir: Path = TERRAFORM_DIR,
    prefect_yaml: Path = PREFECT_YAML,
) -> tuple[Summary, list[EstimateRow], list[MonitorUse]]:
    """Estimate; write estimate.csv, monitors.csv, summary.csv and assumptions.csv to
    output_dir."""
    if not bench_path.exists():
        raise CostModelError(f"{bench_path}: no benchmark results (run the benchmark first)")
    try:
        bench = json.loads(bench_path.read_text())
    except json.JSONDecodeError as error:
        raise CostModelError(f"{bench_path}: not JSON: {error}") from None
    platform = load_platform(environment, terraform_dir)
    runs = schedule_runs_per_day(prefect_yaml)

    def all_in(factor: float) -> float:
        return round(
            _total_usd(estimate(bench, platform, runs, factor, bench_path), platform)[3], 2
        )

    rows = estimate(bench, platform, runs, time_factor, bench_path)
    compute, cloud_services, storage, total = _total_usd(rows, platform)
    scale = bench["scale"]
    summary = Summary(
        environment=environment,
        bench_scale=(
            f"{scale['orders_per_month']:,} orders a month, {scale['months']} months "
            f"({bench_path.name}), scaled to {SHOP_ORDERS_PER_MONTH:,}"
        ),
        compute_credits_per_month=round(sum(row.credits_per_month for row in rows), 2),
        compute_usd_per_month=round(compute, 2),
        cloud_services_usd_per_month=round(cloud_services, 2),
        storage_usd_per_month=round(storage, 2),
        usd_per_month=round(total, 2),
        usd_per_month_at_half_the_time=all_in(time_factor / 2),
        usd_per_month_at_twice_the_time=all_in(time_factor * 2),
        seed_estimate_usd=SEED_ESTIMATE_USD,
        budget_usd=platform.monthly_budget_usd,
        account_monitor_quota_credits=platform.account_monitor_quota_credits,
        usd_per_credit=platform.usd_per_credit,
        history_load_usd_per_month_of_history=round(
            history_load_credits(bench, platform, time_factor, bench_path)
            * platform.usd_per_credit,
            2,
        ),
    )
    monitors = monitor_use(platform, rows)
    output_dir.mkdir(parents=True, exist_ok=True)
    _write_csv(output_dir / "estimate.csv", [asdict(row) for row in rows])
    _write_csv(output_dir / "monitors.csv", [asdict(m) for m in monitors])
    _write_csv(output_dir / "summary.csv", [asdict(summary)])
    assumptions = [
        *ASSUMPTIONS,
        ("time factor used", f"{time_factor:g}", "--time-factor"),
        ("runs a day", ", ".join(f"{f}: {n:g}" for f, n in runs.items()), "prefect.yaml"),
    ]
    _write_csv(
        output_dir / "assumptions.csv",
        [{"assumption": a, "value": v, "why": w} for a, v, w in assumptions],
    )
    return summary, rows, monitors


def _write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def describe(summary: Summary, rows: list[EstimateRow], monitors: list[MonitorUse]) -> str:
    lines = [
        f"{'workload':28} {'warehouse':16} {'size':7} {'runs/mo':>8} {'active s':>9} "
        f"{'billed s':>9} {'credits/mo':>11} {'$/mo':>9} {'quota cr':>9}"
    ]
    for row in rows:
        lines.append(
            f"{row.workload:28} {row.warehouse:16} {row.size:7} {row.runs_per_month:>8,.0f} "
            f"{row.active_seconds_per_run:>9,.1f} {row.billed_seconds_per_run:>9,.1f} "
            f"{row.credits_per_month:>11,.1f} {row.usd_per_month:>9,.0f} "
            f"{row.monitor_quota_credits:>9,.0f}"
        )
    lines += [
        "",
        f"{summary.environment}: {summary.compute_credits_per_month:,.1f} credits = "
        f"${summary.compute_usd_per_month:,.0f} compute + "
        f"${summary.cloud_services_usd_per_month:,.0f} cloud services + "
        f"${summary.storage_usd_per_month:,.0f} storage = "
        f"${summary.usd_per_month:,.0f} a month at ${summary.usd_per_credit:g}/credit "
        f"(${summary.usd_per_month_at_half_the_time:,.0f} at half the warehouse time, "
        f"${summary.usd_per_month_at_twice_the_time:,.0f} at twice)",
        f"seed estimate ${summary.seed_estimate_usd:,.0f}; budget ${summary.budget_usd:,.0f}",
        f"one-off history load: ${summary.history_load_usd_per_month_of_history:,.2f} per month "
        "of history",
        f"bench: {summary.bench_scale}",
    ]
    for use in monitors:
        lines.append(
            f"monitor {use.monitor}: {use.modelled_credits:,.1f} of {use.quota_credits:,.0f} "
            f"credits ({use.percent_of_quota:,.0f} %)"
            + (
                f": over the headroom, needs a quota of {use.quota_needed_credits:,.0f}"
                if use.quota_needed_credits > use.quota_credits
                else ""
            )
        )
    return "\n".join(lines)
