"""Scenario ingest-limit: the Singer path's rows/s against the machine's limit, same run.

The Singer side is the month scenario's full load (each job into an empty RAW file, wall time
including Meltano's start and discovery, the three jobs in parallel), and el-postgres' full load
once more, alone on the machine as DuckDB's copy is (in the month it shares the two cores with
tap-stripe). The limit is DuckDB copying the same rows itself, right after: its postgres
extension for the shop and for the Stripe sandbox's storage, read_csv for the marketing exports.
"""

from __future__ import annotations

import shutil
import time
from datetime import UTC, datetime

from bench.checks import BenchCheckError
from pipeline import backfill, catalog, extract_load, meltano, warehouse
from sandbox import inspect
from sandbox.config import LocalShop

SHOP_TABLES = [table.name for table in catalog.tables_of("postgres")]
STRIPE_TABLES = [table.name for table in catalog.tables_of("stripe")]  # tap-stripe's
MARKETING_TABLES = [table.name for table in catalog.tables_of("marketing")]
TARGET = 0.25  # issue 8: Singer >= 25 % of the DuckDB-extension limit


def _duckdb_copy(settings: LocalShop, sources: dict[str, str]) -> tuple[int, float]:
    """Copy each source relation into a fresh DuckDB file; (rows, seconds)."""
    target = settings.home / "limit.duckdb"
    target.unlink(missing_ok=True)
    conn = inspect.connect(settings, attach_raw=False, attach_postgres=True)
    conn.execute(f"attach '{target}' as copy")
    rows = 0
    started = time.perf_counter()
    for name, relation in sources.items():
        conn.execute(f"create table copy.{name} as select * from {relation}")
        rows += conn.execute(f"select count(*) from copy.{name}").fetchone()[0]
    seconds = time.perf_counter() - started
    conn.close()
    target.unlink()
    return rows, seconds


def _singer_alone(settings: LocalShop, job: str) -> tuple[int, float]:
    """The job's full load once more, alone, into the empty RAW of a home of its own (the same
    sources): (rows, seconds)."""
    home = settings.home / "ingest-alone"
    alone = settings.platform(extra={"SHOP_HOME": str(home)})
    meltano.prepare(alone)
    started = datetime.now(UTC)
    try:
        run = extract_load.run_job(alone, job, backfill.BACKFILL_TIMEOUT_S)
        loaded = warehouse.rows_loaded_since(alone, [meltano.source_of(job)], started)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return sum(loaded.values()), run.seconds


def measure(settings: LocalShop, month_stages: dict[str, dict]) -> dict[str, object]:
    """Per source: the month's Singer load against DuckDB copying the same rows."""
    exports = settings.marketing_dir
    limits = {
        "el-postgres": _duckdb_copy(settings, {t: f"shop.public.{t}" for t in SHOP_TABLES}),
        "el-stripe": _duckdb_copy(settings, {t: f"sandbox.stripe.{t}" for t in STRIPE_TABLES}),
        "el-marketing": _duckdb_copy(
            settings,
            {t: f"read_csv('{exports}/{t}/*.csv', header = true)" for t in MARKETING_TABLES},
        ),
    }
    sources = {}
    for job, (rows, seconds) in limits.items():
        singer = month_stages[job]
        if singer["rows"] != rows:
            raise BenchCheckError(
                f"{job}: the month's load moved {singer['rows']} rows, DuckDB copied {rows}"
            )
        limit_rate = round(rows / seconds)
        sources[job] = {
            "rows": rows,
            "singer_seconds": singer["seconds"],
            "singer_rows_per_s": singer["rows_per_s"],
            "duckdb_seconds": round(seconds, 2),
            "duckdb_rows_per_s": limit_rate,
            "ratio": round(singer["rows_per_s"] / limit_rate, 4),
        }
    (rows, seconds) = _singer_alone(settings, "el-postgres")
    postgres = sources["el-postgres"]
    if rows != postgres["rows"]:
        raise BenchCheckError(
            f"el-postgres alone moved {rows} rows, the month's load {postgres['rows']}"
        )
    postgres["singer_alone_seconds"] = round(seconds, 2)
    postgres["singer_alone_rows_per_s"] = round(rows / seconds)
    postgres["ratio_alone"] = round(rows / seconds / postgres["duckdb_rows_per_s"], 4)
    return {"ok": True, "target_ratio": TARGET, "sources": sources}
