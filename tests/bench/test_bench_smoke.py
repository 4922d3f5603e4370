"""The benchmark command at tiny scale: it runs, its scenarios pass their correctness checks,
and the report has the shape the cost model reads. Not a timed test.

Scenarios month, ingest-limit and year-queries only: day and realtime-lag repeat month's
pipeline (another ~70 s at any scale, Meltano's and dbt's start-up) and are covered by
tests/test_pipeline.py and tests/flows; `python -m bench --scale tiny` runs them all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.reports import source_queries
from sandbox.config import REPO_ROOT

pytestmark = pytest.mark.integration

SCENARIOS = ("--scenario", "ingest-limit", "--scenario", "year-queries")
STAGES = ("generate", "el-postgres", "el-stripe", "el-marketing", "reconcile", "dbt")


def test_tiny_bench_writes_a_complete_report(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("SHOP_")}
    result = subprocess.run(
        [sys.executable, "-m", "bench", "--scale", "tiny", "--query-runs", "1",
         *SCENARIOS, "--results-dir", str(tmp_path)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (json_file,) = tmp_path.glob("*.json")  # a tiny run does not replace latest.json
    assert json_file.with_suffix(".md").exists()
    report = json.loads(json_file.read_text())

    assert {"cpu_model", "cores", "ram_gb", "os", "versions"} <= report["machine"].keys()
    assert report["started_at"]
    assert report["scale"]["months"] == 1
    assert report["scale"]["orders_per_month"] == 300
    scenarios = report["scenarios"]
    assert set(scenarios) == {"month", "year-queries", "ingest-limit"}
    assert all(scenario["ok"] for scenario in scenarios.values())
    month = scenarios["month"]
    assert {"total_seconds", "peak_rss_mb", "stages"} <= month.keys()
    assert tuple(month["stages"]) == STAGES
    assert all("seconds" in stage for stage in month["stages"].values())
    for name in ("generate", "el-postgres", "el-stripe", "el-marketing", "reconcile"):
        assert {"rows", "rows_per_s"} <= month["stages"][name].keys()
    assert month["stages"]["el-postgres"]["rows"] > 1000

    queries = scenarios["year-queries"]["queries"]
    assert [query["name"] for query in queries] == list(source_queries("warehouse", "duckdb"))
    keys = {"page", "name", "warehouse_ms_median", "warehouse_ms_max"}
    assert all(keys <= query.keys() for query in queries)
    compared = [query for query in queries if "ratio" in query]
    assert {query["name"] for query in compared} >= {"daily_revenue", "freshness"}
    assert all(query["source_ms_median"] > 0 for query in compared)

    postgres = scenarios["ingest-limit"]["sources"]["el-postgres"]
    assert postgres["ratio"] > 0 and postgres["ratio_alone"] > 0
    assert "## year-queries" in json_file.with_suffix(".md").read_text()
