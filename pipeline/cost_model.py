"""Monthly Snowflake credits and dollars of the platform, from what is declared and measured.

Inputs, none of them guessed here:
- terraform/platform.yaml: each warehouse's size per environment and its auto-suspend;
- terraform/environments/<env>.tfvars and variables.tf: the budgets and the price of a credit;
- prefect.yaml: how often each flow runs (its cron schedule);
- the benchmark's results (bench/results/latest.json): seconds per stage of one daily run
  (`day`), one real-time run (`realtime-lag`), one month of history loaded (`month`), and the
  report site's source queries on a year of data (`year-queries`).

What is assumed is listed in ASSUMPTIONS and written next to the estimate.
"""

from __future__ import annotations

import csv
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from pipeline.settings import REPO_ROOT

TERRAFORM_DIR = REPO_ROOT / "terraform"
PREFECT_YAML = REPO_ROOT / "prefect.yaml"
BENCH_RESULTS = REPO_ROOT / "bench" / "results" / "latest.json"
OUTPUT_DIR = REPO_ROOT / "reports" / "sources" / "cost_model"

# Snowflake's credits per hour of a standard warehouse, by size.
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
MINIMUM_BILLED_SECONDS = 60  # each resume bills at least one minute
DAYS_PER_MONTH = 365 / 12
SEED_ESTIMATE_USD = 150  # the seed's "about $150/month" (terraform/README.md, Cost caps)
# Which flow each benchmark scenario measured (prefect.yaml's entrypoints).
SCENARIO_OF_FLOW = {"daily_refresh": "day", "realtime_orders": "realtime-lag"}
REPORT_STAGES = ("reports", "report build")
# Stages that do not run in Snowflake: the shop itself (its generator stands in for real orders).
SOURCE_SIDE_STAGES = ("generate", "simulate shop", "raw-by-duckdb")

ASSUMPTIONS = [
    (
        "billing",
        "credits/hour by size (XSMALL 1, SMALL 2, MEDIUM 4, ...); per second, at least "
        f"{MINIMUM_BILLED_SECONDS} s per resume; a warehouse stays up auto-suspend seconds "
        "after its last query",
        "Snowflake's standard warehouses; sizes and auto-suspend from terraform/platform.yaml",
    ),
    (
        "one resume per warehouse and run",
        "a run's stages on one warehouse bill as one stretch: parallel extract-loads for as "
        "long as the longest, reconcile and dbt back to back",
        "the flows run el-* in parallel, then reconcile, dbt, the site, in order",
    ),
    (
        "warehouse time = local stage time x the time factor",
        "extract-load: the whole stage (the loader's session keeps LOADING_WH busy while the "
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
        "report site",
        "REPORTING_WH runs the site's source queries once per site build (their medians on a "
        "year of data, from year-queries); viewers read the static site and query nothing",
        "Evidence builds a static site; the daily run builds it, and so does every real-time "
        "run whose benchmark has a report stage",
    ),
    (
        "not included",
        "storage, cloud services (free up to 10 % of daily compute), data transfer, the "
        "report build's Node time (no warehouse), the dev environment's use",
        "storage is priced per TB, not in credits; the others are small or not the platform's",
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
    monitor_quota_credits: float  # the environment's budget x budget_share (monitors.tf)


@dataclass(frozen=True)
class Pricing:
    environment: str
    usd_per_credit: float
    monthly_budget_usd: float
    account_monthly_budget_usd: float
    warehouses: dict[str, Warehouse]


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


def _tfvars_number(path: Path, name: str) -> float:
    match = re.search(rf"^\s*{name}\s*=\s*([0-9.]+)\s*$", path.read_text(), re.MULTILINE)
    if not match:
        raise CostModelError(f"{path}: no numeric `{name} = ...`")
    return float(match.group(1))


def _variable_default(path: Path, name: str) -> float:
    block = re.search(rf'variable "{name}" \{{(.*?)\n\}}', path.read_text(), re.DOTALL)
    default = block and re.search(r"^\s*default\s*=\s*([0-9.]+)\s*$", block.group(1), re.M)
    if not default:
        raise CostModelError(f"{path}: no numeric default of variable {name!r}")
    return float(default.group(1))


def load_pricing(environment: str = "prod", terraform_dir: Path = TERRAFORM_DIR) -> Pricing:
    """Warehouse sizes, auto-suspend, budgets and the price of a credit, as Terraform has them."""
    platform = yaml.safe_load((terraform_dir / "platform.yaml").read_text())
    tfvars = terraform_dir / "environments" / f"{environment}.tfvars"
    usd_per_credit = _variable_default(terraform_dir / "variables.tf", "usd_per_credit")
    budget = _tfvars_number(tfvars, "monthly_budget_usd")
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
            monitor_quota_credits=budget * float(spec["budget_share"]) / usd_per_credit,
        )
    return Pricing(
        environment=environment,
        usd_per_credit=usd_per_credit,
        monthly_budget_usd=budget,
        account_monthly_budget_usd=_tfvars_number(tfvars, "account_monthly_budget_usd"),
        warehouses=warehouses,
    )


def runs_per_day(cron: str) -> float:
    """Runs a day of a deployment's cron schedule: `M H * * *` (daily) or `*/N * * * *`."""
    minute, hour, *rest = cron.split()
    if rest != ["*", "*", "*"]:
        raise CostModelError(f"prefect.yaml: cron {cron!r}: only daily schedules are supported")
    if minute.isdigit() and hour.isdigit():
        return 1
    step = re.fullmatch(r"\*/(\d+)", minute)
    if step and hour == "*":
        return 24 * 60 / int(step.group(1))
    raise CostModelError(f"prefect.yaml: cron {cron!r}: expected `M H * * *` or `*/N * * * *`")


def schedule_runs_per_day(prefect_yaml: Path = PREFECT_YAML) -> dict[str, float]:
    """Runs a day per benchmark scenario, from the schedules of the deployments that run on
    Snowflake (parameter environment: prod)."""
    runs: dict[str, float] = {}
    for deployment in yaml.safe_load(prefect_yaml.read_text())["deployments"]:
        if deployment.get("parameters", {}).get("environment") != "prod":
            continue
        flow = deployment["entrypoint"].rsplit(":", 1)[-1]
        if flow not in SCENARIO_OF_FLOW:
            raise CostModelError(f"{prefect_yaml}: flow {flow!r} has no benchmark scenario")
        scenario = SCENARIO_OF_FLOW[flow]
        for schedule in deployment.get("schedules", []):
            runs[scenario] = runs.get(scenario, 0) + runs_per_day(schedule["cron"])
    return runs


def warehouse_of_stage(stage: str) -> str | None:
    if stage in SOURCE_SIDE_STAGES:
        return None
    if stage.startswith("el-"):
        return "LOADING_WH"
    if stage in ("reconcile", "dbt", "dbt build"):
        return "TRANSFORMING_WH"
    if stage in REPORT_STAGES:
        return "REPORTING_WH"
    raise CostModelError(f"benchmark stage {stage!r}: no warehouse known for it (cost_model.py)")


def _scenario(bench: dict, name: str, bench_path: Path) -> dict:
    scenario = bench.get("scenarios", {}).get(name)
    if not scenario:
        raise CostModelError(f"{bench_path}: no scenarios.{name}")
    return scenario


def report_query_seconds(bench: dict, bench_path: Path) -> float:
    """REPORTING_WH time of one site build: the source queries' medians on a year of data."""
    queries = _scenario(bench, "year-queries", bench_path).get("queries") or []
    if not queries:
        raise CostModelError(f"{bench_path}: scenarios.year-queries has no queries")
    return sum(float(query["warehouse_ms_median"]) for query in queries) / 1000


def active_seconds(stages: dict, report_seconds: float, time_factor: float) -> dict[str, float]:
    """Warehouse-busy seconds of one run, per warehouse (parallel loads: the longest)."""
    busy: dict[str, float] = {}
    loads = []
    for stage, measured in stages.items():
        warehouse = warehouse_of_stage(stage)
        if warehouse is None:
            continue
        seconds = report_seconds if stage in REPORT_STAGES else float(measured["seconds"])
        if warehouse == "LOADING_WH":
            loads.append(seconds)
        else:
            busy[warehouse] = busy.get(warehouse, 0) + seconds
    if loads:
        busy["LOADING_WH"] = max(loads)
    return {warehouse: seconds * time_factor for warehouse, seconds in sorted(busy.items())}


def billed_seconds(active: float, warehouse: Warehouse) -> float:
    return max(MINIMUM_BILLED_SECONDS, active + warehouse.auto_suspend_seconds)


def estimate(
    bench: dict, pricing: Pricing, runs: dict[str, float], time_factor: float, bench_path: Path
) -> list[EstimateRow]:
    report_seconds = report_query_seconds(bench, bench_path)
    rows = []
    for scenario, per_day in runs.items():
        stages = _scenario(bench, scenario, bench_path).get("stages") or {}
        for name, active in active_seconds(stages, report_seconds, time_factor).items():
            warehouse = pricing.warehouses[name]
            billed = billed_seconds(active, warehouse)
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
                    usd_per_month=round(credits * pricing.usd_per_credit, 2),
                    monitor_quota_credits=round(warehouse.monitor_quota_credits, 2),
                )
            )
    return rows


def history_load_credits(
    bench: dict, pricing: Pricing, time_factor: float, bench_path: Path
) -> float:
    """One-off: the credits of loading one month of history (scenario `month`), once."""
    stages = _scenario(bench, "month", bench_path).get("stages") or {}
    report_seconds = report_query_seconds(bench, bench_path)
    return sum(
        billed_seconds(active, pricing.warehouses[name])
        / 3600
        * pricing.warehouses[name].credits_per_hour
        for name, active in active_seconds(stages, report_seconds, time_factor).items()
    )


@dataclass(frozen=True)
class Summary:
    environment: str
    bench_scale: str
    credits_per_month: float
    usd_per_month: float
    usd_per_month_at_half_the_time: float
    usd_per_month_at_twice_the_time: float
    seed_estimate_usd: float
    environment_budget_usd: float
    account_budget_usd: float
    usd_per_credit: float
    history_load_usd_per_month_of_history: float


def run(
    bench_path: Path = BENCH_RESULTS,
    environment: str = "prod",
    time_factor: float = 1.0,
    output_dir: Path = OUTPUT_DIR,
    terraform_dir: Path = TERRAFORM_DIR,
    prefect_yaml: Path = PREFECT_YAML,
) -> tuple[Summary, list[EstimateRow]]:
    """Estimate, write estimate.csv, summary.csv and assumptions.csv to output_dir."""
    if not bench_path.exists():
        raise CostModelError(f"{bench_path}: no benchmark results (run the benchmark first)")
    try:
        bench = json.loads(bench_path.read_text())
    except json.JSONDecodeError as error:
        raise CostModelError(f"{bench_path}: not JSON: {error}") from None
    pricing = load_pricing(environment, terraform_dir)
    runs = schedule_runs_per_day(prefect_yaml)

    def total_usd(factor: float) -> float:
        rows = estimate(bench, pricing, runs, factor, bench_path)
        return round(sum(row.usd_per_month for row in rows), 2)

    rows = estimate(bench, pricing, runs, time_factor, bench_path)
    scale = bench.get("scale") or {}
    if "orders_per_month" not in scale or "months" not in scale:
        raise CostModelError(f"{bench_path}: no scale.orders_per_month and scale.months")
    summary = Summary(
        environment=environment,
        bench_scale=(
            f"{scale['orders_per_month']:,} orders a month, {scale['months']} months "
            f"({bench_path.name})"
        ),
        credits_per_month=round(sum(row.credits_per_month for row in rows), 2),
        usd_per_month=round(sum(row.usd_per_month for row in rows), 2),
        usd_per_month_at_half_the_time=total_usd(time_factor / 2),
        usd_per_month_at_twice_the_time=total_usd(time_factor * 2),
        seed_estimate_usd=SEED_ESTIMATE_USD,
        environment_budget_usd=pricing.monthly_budget_usd,
        account_budget_usd=pricing.account_monthly_budget_usd,
        usd_per_credit=pricing.usd_per_credit,
        history_load_usd_per_month_of_history=round(
            history_load_credits(bench, pricing, time_factor, bench_path) * pricing.usd_per_credit,
            2,
        ),
    )
    output_dir.mkdir(parents=True, exist_ok=True)
    _write_csv(output_dir / "estimate.csv", [asdict(row) for row in rows])
    _write_csv(output_dir / "summary.csv", [asdict(summary)])
    assumptions = [
        *ASSUMPTIONS,
        ("time factor used", f"{time_factor:g}", "--time-factor"),
        ("runs a day", ", ".join(f"{s}: {n:g}" for s, n in runs.items()), "prefect.yaml"),
    ]
    _write_csv(
        output_dir / "assumptions.csv",
        [{"assumption": a, "value": v, "why": w} for a, v, w in assumptions],
    )
    return summary, rows


def _write_csv(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def describe(summary: Summary, rows: list[EstimateRow]) -> str:
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
        f"{summary.environment}: {summary.credits_per_month:,.1f} credits = "
        f"${summary.usd_per_month:,.0f} a month at ${summary.usd_per_credit:g}/credit "
        f"(${summary.usd_per_month_at_half_the_time:,.0f} at half the warehouse time, "
        f"${summary.usd_per_month_at_twice_the_time:,.0f} at twice)",
        f"seed estimate ${summary.seed_estimate_usd:,.0f}; Terraform budgets: "
        f"{summary.environment} ${summary.environment_budget_usd:,.0f}, account "
        f"${summary.account_budget_usd:,.0f}",
        f"one-off history load: ${summary.history_load_usd_per_month_of_history:,.2f} per month "
        "of history",
        f"bench: {summary.bench_scale}",
    ]
    for warehouse in sorted({row.warehouse for row in rows}):
        credits = sum(r.credits_per_month for r in rows if r.warehouse == warehouse)
        quota = next(r.monitor_quota_credits for r in rows if r.warehouse == warehouse)
        if credits > quota:
            lines.append(
                f"{warehouse}: {credits:,.1f} credits a month exceed its monitor's quota of "
                f"{quota:,.0f}: the monitor would suspend it after "
                f"{quota / credits * DAYS_PER_MONTH:,.1f} days"
            )
    return "\n".join(lines)
