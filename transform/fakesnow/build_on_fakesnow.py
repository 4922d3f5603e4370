"""Run `dbt build` with the Snowflake adapter against fakesnow (Snowflake emulated on DuckDB).

Runs in the venv of requirements.txt (setup.sh). RAW comes from the embedded default's RAW files:
each table is copied into the emulator's RAW database, upper-cased as Snowflake would name it.

    .venv/bin/python build_on_fakesnow.py --raw-dir RAW_DIR --work-dir WORK_DIR [dbt args]

Exit status is dbt's; run_results.json is left in <work-dir>/target.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import fakesnow
import snowflake.connector
from dbt.cli.main import dbtRunner

TRANSFORM_DIR = Path(__file__).resolve().parent.parent
RAW_SOURCES = ("postgres", "stripe", "marketing")
# DuckDB cannot tell a catalog from a schema of the same name (STAGING.STAGING is ambiguous to
# it), so the emulated staging database gets another name.
STAGING_DATABASE = "STAGING_DB"
# Terraform creates these in production (terraform/platform.yaml); the emulator starts empty.
DATABASES = {
    "RAW": ("POSTGRES", "STRIPE", "MARKETING"),
    STAGING_DATABASE: ("STAGING", "INTERMEDIATE"),
    "ANALYTICS": ("MARTS", "SNAPSHOTS"),
}


def create_platform(raw_dir: Path) -> None:
    conn = snowflake.connector.connect(account="fakesnow", user="fake", password="fake")
    cursor = conn.cursor()
    for database, schemas in DATABASES.items():
        cursor.execute(f"create database if not exists {database}")
        for schema in schemas:
            cursor.execute(f"create schema if not exists {database}.{schema}")
    # Loading RAW is the loader's job (target-snowflake), which fakesnow cannot emulate (stages,
    # PUT): copy the local RAW tables in through the emulator's own DuckDB connection.
    duck = conn._duck_conn
    for source in RAW_SOURCES:
        duck.execute(f"attach '{raw_dir / f'raw_{source}.duckdb'}' as local_raw (read_only)")
        # tmp_*: a loader's staging table left behind by an interrupted load
        tables = duck.execute(
            "select table_name from information_schema.tables where table_catalog = 'local_raw' "
            "and table_schema = ? and table_name not like 'tmp_%'",
            [source],
        ).fetchall()
        for (table,) in tables:
            duck.execute(
                f"create or replace table RAW.{source.upper()}.{table.upper()} as "
                f"select * from local_raw.{source}.{table}"
            )
        duck.execute("detach local_raw")
    conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw-dir", type=Path, required=True)
    parser.add_argument("--work-dir", type=Path, required=True)
    args, dbt_args = parser.parse_known_args()
    db_dir = args.work_dir / "fakesnow"
    db_dir.mkdir(parents=True, exist_ok=True)
    os.environ["DBT_TARGET"] = "fakesnow"
    os.environ["SNOWFLAKE_EMULATOR"] = "fakesnow"  # macros/fakesnow/is_fakesnow.sql
    os.environ["SNOWFLAKE_STAGING_DATABASE"] = STAGING_DATABASE
    with fakesnow.patch(db_path=db_dir):
        create_platform(args.raw_dir.resolve())
        command = [
            *(dbt_args or ["build"]),
            *("--project-dir", str(TRANSFORM_DIR)),
            *("--profiles-dir", str(TRANSFORM_DIR)),
            *("--target-path", str(args.work_dir / "target")),
            *("--log-path", str(args.work_dir / "logs")),
        ]
        result = dbtRunner().invoke(command)
    return 0 if result.success else 1


if __name__ == "__main__":
    sys.exit(main())
