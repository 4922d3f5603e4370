"""Ingestion throughput: rows/s of each source into local RAW through Meltano (the Singer
path), against the physical limit on the same machine in the same run — DuckDB copying the
same rows itself (its postgres extension for the shop and the Stripe sandbox's storage,
read_csv for the marketing exports).

    .venv/bin/python bench/ingest_limit.py [--months 0.5] [--orders-per-month 100000]

Everything runs in a temporary home of its own (PostgreSQL on a free port, the Stripe
sandbox, RAW files), removed afterwards. Variants of the Singer path for PostgreSQL:
target-duckdb with its default batch (100k rows) and a larger one, tap-postgres alone
emitting records, and tap-postgres alone emitting BATCH files (what target-snowflake takes).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from pipeline import extract_load, services, warehouse
from sandbox import generator, postgres
from sandbox.config import Settings, load_settings

SHOP_TABLES = (
    "countries", "categories", "products", "customers",
    "orders", "order_items", "order_status_history", "payments",
)  # fmt: skip
STRIPE_TABLES = ("customers", "charges", "disputes", "balance_transactions")  # tap-stripe's
MARKETING_TABLES = ("marketing_spend", "campaign_performance")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _home() -> Settings:
    home = Path(tempfile.mkdtemp(prefix="shop-bench-", dir="/tmp"))
    home.chmod(0o755)
    return replace(load_settings(), home=home, pg_port=_free_port(), stripe_port=_free_port())


def _duckdb_copy(settings: Settings, sources: dict[str, str]) -> tuple[int, float]:
    """Copy each source relation into a fresh DuckDB file; (rows, seconds)."""
    target = settings.home / "limit.duckdb"
    target.unlink(missing_ok=True)
    conn = warehouse.connect(settings, attach_raw=False, attach_postgres=True)
    conn.execute(f"attach '{target}' as copy")
    rows = 0
    started = time.perf_counter()
    for name, relation in sources.items():
        conn.execute(f"create table copy.{name} as select * from {relation}")
        rows += conn.execute(f"select count(*) from copy.{name}").fetchone()[0]
    seconds = time.perf_counter() - started
    conn.close()
    return rows, seconds


def _raw_rows(settings: Settings, source: str, tables: tuple[str, ...]) -> int:
    conn = duckdb.connect(str(warehouse.raw_file(settings, source)), read_only=True)
    try:
        return sum(
            conn.execute(f"select count(*) from {source}.{table}").fetchone()[0] for table in tables
        )
    finally:
        conn.close()


def _fresh_job(settings: Settings, job: str, source: str, extra_env: dict[str, str]) -> float:
    """Seconds of a full load by `job` into an empty RAW file."""
    warehouse.raw_file(settings, source).unlink(missing_ok=True)
    extract_load.run_meltano(
        settings, ["state", "clear", "--force", extract_load.state_id(job)],
        settings.log_dir / "bench-state-clear.log",
    )  # fmt: skip
    started = time.perf_counter()
    extract_load.run_meltano(settings, ["run", job], settings.log_dir / f"bench-{job}.log",
                             extra_env=extra_env)  # fmt: skip
    return time.perf_counter() - started


def _tap_alone(settings: Settings, extra_env: dict[str, str]) -> float:
    """Seconds of tap-postgres reading every table, its output discarded."""
    env = {**os.environ, **extract_load.meltano_env(settings), **extra_env}
    started = time.perf_counter()
    subprocess.run(
        [extract_load.meltano_executable(), "invoke", "tap-postgres"],
        cwd=extract_load.MELTANO_PROJECT, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, check=True,
    )  # fmt: skip
    return time.perf_counter() - started


def measure(settings: Settings, months: float, orders_per_month: int) -> dict[str, object]:
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    generator.generate(settings, months=months, orders_per_month=orders_per_month, end=end)
    extract_load.prepare(settings)
    services.start_stripe_sandbox(settings)
    results: dict[str, object] = {"months": months, "orders_per_month": orders_per_month}

    # Stripe first: tap-stripe reads objects created up to its own clock.
    stripe_s = _fresh_job(settings, "el-stripe", "stripe", {})
    stripe_rows = _raw_rows(settings, "stripe", STRIPE_TABLES)
    stripe_limit = _duckdb_copy(
        settings, {t: f"sandbox.stripe.{t}" for t in STRIPE_TABLES}
    )  # fmt: skip
    marketing_s = _fresh_job(settings, "el-marketing", "marketing", {})
    marketing_rows = _raw_rows(settings, "marketing", MARKETING_TABLES)
    marketing_limit = _duckdb_copy(
        settings,
        {
            t: f"read_csv('{settings.marketing_dir}/{t}/*.csv', header = true)"
            for t in MARKETING_TABLES
        },
    )
    postgres_limit = _duckdb_copy(settings, {t: f"shop.public.{t}" for t in SHOP_TABLES})
    postgres_s = _fresh_job(settings, "el-postgres", "postgres", {})
    postgres_rows = _raw_rows(settings, "postgres", SHOP_TABLES)
    big_batch_s = _fresh_job(
        settings, "el-postgres", "postgres", {"TARGET_DUCKDB_POSTGRES_BATCH_SIZE_ROWS": "1000000"}
    )
    tap_records_s = _tap_alone(settings, {})
    batch_dir = settings.home / "batches"
    batch_dir.mkdir()
    batch_config = {
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "storage": {"root": f"file://{batch_dir}"},
    }
    tap_batch_s = _tap_alone(settings, {"TAP_POSTGRES_BATCH_CONFIG": json.dumps(batch_config)})
    services.stop_stripe_sandbox(settings)

    def rate(rows: int, seconds: float) -> dict[str, float]:
        return {"rows": rows, "seconds": round(seconds, 2), "rows_per_s": round(rows / seconds)}

    limit_pg = rate(*postgres_limit)
    singer_pg = rate(postgres_rows, postgres_s)
    results["postgres"] = {
        "duckdb_postgres_extension": limit_pg,
        "el-postgres (target-duckdb, batch 100k)": singer_pg,
        "el-postgres (target-duckdb, batch 1M)": rate(postgres_rows, big_batch_s),
        "tap-postgres alone, RECORD messages": rate(postgres_rows, tap_records_s),
        "tap-postgres alone, BATCH jsonl.gz": rate(postgres_rows, tap_batch_s),
        "ratio singer / limit": round(singer_pg["rows_per_s"] / limit_pg["rows_per_s"], 4),
    }
    limit_stripe, singer_stripe = rate(*stripe_limit), rate(stripe_rows, stripe_s)
    results["stripe"] = {
        "duckdb_postgres_extension (sandbox storage)": limit_stripe,
        "el-stripe (API -> target-duckdb)": singer_stripe,
        "ratio singer / limit": round(singer_stripe["rows_per_s"] / limit_stripe["rows_per_s"], 4),
    }
    limit_mkt, singer_mkt = rate(*marketing_limit), rate(marketing_rows, marketing_s)
    results["marketing"] = {
        "duckdb_read_csv": limit_mkt,
        "el-marketing (tap-spreadsheets -> target-duckdb)": singer_mkt,
        "ratio singer / limit": round(singer_mkt["rows_per_s"] / limit_mkt["rows_per_s"], 4),
    }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--months", type=float, default=0.5)
    parser.add_argument("--orders-per-month", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true", help="keep the temporary home")
    args = parser.parse_args()
    settings = _home()
    postgres.start(settings)
    try:
        results = measure(settings, args.months, args.orders_per_month)
    finally:
        services.stop_stripe_sandbox(settings)
        postgres.stop(settings)
        if not args.keep:
            shutil.rmtree(settings.home, ignore_errors=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
