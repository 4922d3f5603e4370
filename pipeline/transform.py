"""Run the dbt project (transform/) on the environment's target and summarise what it did."""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from pipeline import processes
from pipeline.errors import PlatformError
from pipeline.settings import REPO_ROOT, Settings

DBT_PROJECT = REPO_ROOT / "transform"
DBT_TIMEOUT_S = 3600


class TransformError(PlatformError):
    pass


@dataclass(frozen=True)
class BuildSummary:
    models_ok: int
    models_failed: int
    snapshots_ok: int
    snapshots_failed: int
    tests_passed: int  # data tests and unit tests
    tests_warned: int
    tests_failed: int
    skipped: int
    seconds: float
    failed_nodes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not (self.models_failed or self.snapshots_failed or self.tests_failed)

    def describe(self) -> str:
        return (
            f"dbt build: {self.models_ok} models, {self.snapshots_ok} snapshots built; "
            f"{self.tests_passed} tests passed, {self.tests_warned} warned, "
            f"{self.tests_failed} failed; {self.models_failed + self.snapshots_failed} failed, "
            f"{self.skipped} skipped; {self.seconds:.1f} s"
            + (f"; failed: {', '.join(self.failed_nodes)}" if self.failed_nodes else "")
        )


def dbt_executable() -> str:
    return str(Path(sys.executable).with_name("dbt"))


def target_dir(settings: Settings) -> Path:
    # Per home, not transform/target: tests and the demo may build side by side.
    return settings.home / "dbt" / "target"


def run_dbt(settings: Settings, args: list[str], log_name: str = "dbt") -> tuple[int, Path]:
    """Run a dbt command on the environment's target; its output goes to <logs>/<log_name>.log.
    Returns dbt's exit code and that log."""
    log_dir = settings.log_dir / "dbt"
    log_file = settings.log_dir / f"{log_name}.log"
    env = {**settings.variables, "DBT_TARGET": settings.dbt_target}
    command = [
        dbt_executable(),
        *args,
        "--project-dir", str(DBT_PROJECT),
        "--profiles-dir", str(DBT_PROJECT),
        "--target-path", str(target_dir(settings)),
        "--log-path", str(log_dir),
    ]  # fmt: skip
    try:
        code = processes.run(
            command, log_file, env, DBT_PROJECT, DBT_TIMEOUT_S, f"dbt {' '.join(args[:1])}"
        )
    except processes.ToolTimeoutError as error:
        raise TransformError(str(error)) from None
    return code, log_file


def _did_not_run(command: str, code: int, log_file: Path) -> TransformError:
    """dbt ended without its results: the cause from its log, and the log's tail."""
    lines = log_file.read_text(errors="replace").splitlines()
    return TransformError(
        f"{command} failed to run (exit {code}): {processes.error_cause(lines)}\n"
        f"log: {log_file}\n{processes.log_tail(log_file)}"
    )


def downstream_models(settings: Settings, sources: list[str]) -> dict[str, list[str]]:
    """Per dbt source (postgres, stripe, ...), the models and snapshots built from it, from
    dbt's graph (the manifest of the last build)."""
    if not sources:
        return {}
    manifest = json.loads((target_dir(settings) / "manifest.json").read_text())
    children = manifest["child_map"]
    downstream = {}
    for source in sources:
        seen: set[str] = set()
        todo = [node for node in children if node.startswith(f"source.shop.{source}.")]
        while todo:
            for child in children.get(todo.pop(), []):
                if child not in seen:
                    seen.add(child)
                    todo.append(child)
        downstream[source] = sorted(
            node.split(".")[-1] for node in seen if node.startswith(("model.", "snapshot."))
        )
    return downstream


def summarise(run_results: dict, seconds: float) -> BuildSummary:
    counts: Counter[tuple[str, str]] = Counter()
    for result in run_results["results"]:
        kind = result["unique_id"].split(".", 1)[0]
        kind = "test" if kind == "unit_test" else kind
        counts[kind, result["status"]] += 1
    return BuildSummary(
        models_ok=counts["model", "success"],
        models_failed=counts["model", "error"],
        snapshots_ok=counts["snapshot", "success"],
        snapshots_failed=counts["snapshot", "error"],
        tests_passed=counts["test", "pass"],
        tests_warned=counts["test", "warn"],
        tests_failed=counts["test", "fail"] + counts["test", "error"],
        skipped=sum(n for (_, status), n in counts.items() if status == "skipped"),
        seconds=seconds,
        failed_nodes=tuple(
            result["unique_id"]
            for result in run_results["results"]
            if result["status"] in ("error", "fail")
        ),
    )


def build(
    settings: Settings,
    *,
    full_refresh: bool = False,
    select: list[str] | None = None,
    exclude: list[str] | None = None,
    lookback_days: int | None = None,
    unit_tests: bool = False,
) -> BuildSummary:
    """`dbt build` (models, snapshots, tests) over RAW; `select` builds part of the project,
    with only the tests that need nothing outside it.

    dbt's unit tests run only with `unit_tests`: they test the models' SQL on fixtures, which no
    run over the data changes, so (as dbt advises) they belong to development and CI (`shop
    transform`, the pull-request workflow, tests/transform), not to the flows' runs.

    Raises TransformError when dbt could not run at all; failed models or tests are reported
    in the summary (`summary.ok`), with dbt's output in <home>/logs/dbt-build.log.
    """
    run_results = target_dir(settings) / "run_results.json"
    run_results.unlink(missing_ok=True)
    started = time.monotonic()
    args = ["build"]
    if full_refresh:
        args.append("--full-refresh")
    if select:
        args += ["--select", *select, "--indirect-selection", "cautious"]
    if exclude:
        args += ["--exclude", *exclude]
    if lookback_days is not None:  # reprocess changes of the last N days (a backfill)
        args += ["--vars", json.dumps({"lookback_days": lookback_days})]
    if not unit_tests:
        args += ["--exclude-resource-type", "unit_test"]
    code, log_file = run_dbt(settings, args, "dbt-build")
    seconds = time.monotonic() - started
    if code not in (0, 1) or not run_results.exists():
        raise _did_not_run("dbt build", code, log_file)
    return summarise(json.loads(run_results.read_text()), seconds)


@dataclass(frozen=True)
class SourceFreshness:
    """One source table's newest change in RAW against its `freshness` limits (the dbt sources)."""

    table: str  # <source>.<table>
    status: str  # dbt's: pass | warn | error | runtime error
    max_loaded_at: str | None
    hours_behind: float | None
    limits: str
    error: str | None = None  # why dbt could not query it (status `runtime error`)

    @property
    def late(self) -> bool:
        return self.status != "pass"

    def describe(self) -> str:
        if self.error:
            return f"{self.table}: {self.status}, {self.error}"
        if self.max_loaded_at is None:
            return f"{self.table}: {self.status}, no rows in RAW ({self.limits})"
        return (
            f"{self.table}: {self.status}, newest change {self.max_loaded_at} "
            f"({self.hours_behind:.1f} h ago; {self.limits})"
        )


def source_freshness(settings: Settings, sources: list[str]) -> list[SourceFreshness]:
    """`dbt source freshness` over the sources' tables that declare limits: how far behind the
    shop each is in RAW. A late table is a result, not an error; dbt failing to run raises."""
    results_file = target_dir(settings) / "sources.json"
    results_file.unlink(missing_ok=True)
    selected = [f"source:{source}" for source in sources]
    code, log_file = run_dbt(
        settings, ["source", "freshness", "--select", *selected], "dbt-source-freshness"
    )
    if code not in (0, 1) or not results_file.exists():
        raise _did_not_run("dbt source freshness", code, log_file)
    return [_freshness(result) for result in json.loads(results_file.read_text())["results"]]


def _freshness(result: dict) -> SourceFreshness:
    criteria = result.get("criteria") or {}
    limits = ", ".join(
        f"{kind.split('_')[0]} after {limit['count']} {limit['period']}"
        for kind, limit in criteria.items()
        if kind.endswith("_after") and limit and limit.get("count")
    )
    # dbt reports an empty table as changed at 0001-01-01
    empty = str(result.get("max_loaded_at")).startswith("0001-01-01")
    age = None if empty else result.get("max_loaded_at_time_ago_in_s")
    return SourceFreshness(
        table=result["unique_id"].split(".", 2)[-1],
        status=result["status"],
        max_loaded_at=None if empty else result.get("max_loaded_at"),
        hours_behind=age / 3600 if age is not None else None,
        limits=limits,
        error=result.get("error"),
    )


def docs_dir(settings: Settings) -> Path:
    return settings.home / "dbt" / "docs"


def build_docs(settings: Settings) -> Path:
    """`dbt docs generate --static`: the project's documentation — models, columns, tests and the
    lineage from every report page (exposures) back to RAW — as one self-contained HTML file,
    <home>/dbt/docs/index.html, which pipeline.reports serves at /dbt-docs/ beside the site.

    It reads the warehouse's catalog, so it runs after a build, under the warehouse's lock.
    """
    code, log_file = run_dbt(settings, ["docs", "generate", "--static"], "dbt-docs")
    built = target_dir(settings) / "static_index.html"
    if code != 0 or not built.exists():
        raise _did_not_run("dbt docs generate", code, log_file)
    page = docs_dir(settings) / "index.html"
    page.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(built, page)
    return page
