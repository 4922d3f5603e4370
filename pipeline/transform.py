"""Run the dbt project (transform/) on the embedded default and summarise what it did."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from pipeline.extract_load import error_cause
from sandbox.config import REPO_ROOT, Settings

DBT_PROJECT = REPO_ROOT / "transform"


class TransformError(RuntimeError):
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


def run_dbt(settings: Settings, args: list[str]) -> subprocess.CompletedProcess[str]:
    """Run a dbt command on the DuckDB target of this home; output captured in the result."""
    log_dir = settings.log_dir / "dbt"
    log_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SHOP_HOME": str(settings.home), "DBT_TARGET": "duckdb"}
    command = [
        dbt_executable(),
        *args,
        "--project-dir", str(DBT_PROJECT),
        "--profiles-dir", str(DBT_PROJECT),
        "--target-path", str(target_dir(settings)),
        "--log-path", str(log_dir),
    ]  # fmt: skip
    return subprocess.run(command, env=env, capture_output=True, text=True, check=False)


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
    lookback_days: int | None = None,
) -> BuildSummary:
    """`dbt build` (models, snapshots, tests) over the RAW files of this home; `select` builds
    part of the project, with only the tests that need nothing outside it.

    Raises TransformError when dbt could not run at all; failed models or tests are reported
    in the summary (`summary.ok`), with dbt's log in <home>/logs/dbt/dbt.log.
    """
    run_results = target_dir(settings) / "run_results.json"
    run_results.unlink(missing_ok=True)
    started = time.monotonic()
    args = ["build"]
    if full_refresh:
        args.append("--full-refresh")
    if select:
        args += ["--select", *select, "--indirect-selection", "cautious"]
    if lookback_days is not None:  # reprocess changes of the last N days (a backfill)
        args += ["--vars", json.dumps({"lookback_days": lookback_days})]
    result = run_dbt(settings, args)
    seconds = time.monotonic() - started
    if result.returncode not in (0, 1) or not run_results.exists():
        lines = (result.stdout + result.stderr).splitlines()
        tail = "\n".join(lines[-25:])
        raise TransformError(
            f"dbt build failed to run (exit {result.returncode}): {error_cause(lines)}\n{tail}"
        )
    return summarise(json.loads(run_results.read_text()), seconds)


def docs_dir(settings: Settings) -> Path:
    return settings.home / "dbt" / "docs"


def build_docs(settings: Settings) -> Path:
    """`dbt docs generate --static`: the project's documentation — models, columns, tests and the
    lineage from every report page (exposures) back to RAW — as one self-contained HTML file,
    <home>/dbt/docs/index.html, which pipeline.reports serves at /dbt-docs/ beside the site.

    It reads the warehouse's catalog, so it runs after a build, under the warehouse's lock.
    """
    result = run_dbt(settings, ["docs", "generate", "--static"])
    built = target_dir(settings) / "static_index.html"
    if result.returncode != 0 or not built.exists():
        lines = (result.stdout + result.stderr).splitlines()
        raise TransformError(
            f"dbt docs generate failed (exit {result.returncode}): {error_cause(lines)}\n"
            + "\n".join(lines[-25:])
        )
    page = docs_dir(settings) / "index.html"
    page.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(built, page)
    return page
