"""The production path end to end against an emulated Snowflake (fakesnow's server): Meltano's
`prod` environment (tap-postgres BATCH files, target-snowflake, the Snowflake state backend)
loads a small local shop into RAW, dbt builds the `snowflake` target on it, a second run resumes
from the bookmarks stored in RAW.MELTANO, and dbt merges what changed.

Only the clients' address and target-snowflake's stage step are the emulator's
(tests/prod/emulator_hooks); users, roles, warehouses, databases and every other setting are
production's: .env.example's variables, pointed at the local sources.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
import yaml
from dotenv import dotenv_values
from snowflake_emulator import Emulator, private_key_pem

from pipeline import extract_load, reconcile, services, transform, warehouse
from sandbox import generator, postgres
from sandbox.config import REPO_ROOT, Settings

pytestmark = pytest.mark.integration

PLATFORM = yaml.safe_load((REPO_ROOT / "terraform" / "platform.yaml").read_text())
PROD_JOBS = ("el-postgres-prod", "el-stripe-prod", "el-marketing-prod")
# DuckDB cannot tell database STAGING from its schema STAGING (STAGING.STAGING is ambiguous to
# it): on the emulator that database has another name, given to dbt as production's dev
# environments give theirs (SNOWFLAKE_STAGING_DATABASE).
EMULATED_DATABASE_NAMES = {"STAGING": "STAGING_DB"}
# The state backend's schema (MELTANO_STATE_BACKEND_URI of .env.example). Terraform does not
# declare it in platform.yaml; the test creates it beside what Terraform creates.
STATE_SCHEMA = "RAW.MELTANO"
JWT = "SNOWFLAKE_JWT"  # what a key-pair login announces


def platform_schemas() -> set[str]:
    """DATABASE.SCHEMA of every schema terraform/databases.tf creates, as named on the emulator."""
    governance = PLATFORM["governance"]
    pairs = {
        (db, schema) for db, spec in PLATFORM["databases"].items() for schema in spec["schemas"]
    }
    pairs.add((governance["database"], governance["schema"]))
    return {f"{EMULATED_DATABASE_NAMES.get(db, db)}.{schema}" for db, schema in pairs}


def create_platform(emulator: Emulator) -> None:
    """What `terraform apply` leaves before the first run: databases and schemas (the emulator
    has no roles, warehouses or grants; who connected as what is checked from its logins)."""
    with emulator.connect() as conn:
        for schema in sorted(platform_schemas() | {STATE_SCHEMA}):
            conn.cursor().execute(f"create database if not exists {schema.split('.')[0]}")
            conn.cursor().execute(f"create schema if not exists {schema}")


@dataclass
class ProdPath:
    settings: Settings
    emulator: Emulator
    meltano_env: dict[str, str]
    dbt_env: dict[str, str]
    started: float
    seconds: dict[str, float] = field(default_factory=dict)

    def meltano_run(self, job: str, label: str) -> Path:
        log = self.settings.log_dir / f"{job}-{label}.log"
        started = time.monotonic()
        extract_load.run_meltano(self.settings, ["run", job], log, extra_env=self.meltano_env)
        self.seconds[f"{job} ({label})"] = time.monotonic() - started
        return log

    def dbt_build(self, label: str) -> tuple[transform.BuildSummary, dict[str, str]]:
        """`dbt build` on the snowflake target: the summary and each node's status."""
        work = self.settings.home / "dbt-snowflake"
        run_results = work / "target" / "run_results.json"
        run_results.unlink(missing_ok=True)
        started = time.monotonic()
        result = subprocess.run(
            [
                transform.dbt_executable(),
                "build",
                *("--project-dir", str(transform.DBT_PROJECT)),
                *("--profiles-dir", str(transform.DBT_PROJECT)),
                *("--target-path", str(work / "target")),
                *("--log-path", str(work / "logs")),
            ],
            env=self.dbt_env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        seconds = time.monotonic() - started
        self.seconds[f"dbt build ({label})"] = seconds
        assert run_results.exists(), result.stdout[-3000:] + result.stderr[-3000:]
        results = json.loads(run_results.read_text())
        statuses = {node["unique_id"]: node["status"] for node in results["results"]}
        return transform.summarise(results, seconds), statuses

    def stored_state(self, job: str) -> dict[str, Any]:
        """The job's Singer state as the Snowflake state backend stored it in RAW.MELTANO."""
        with self.emulator.connect("RAW") as conn:
            row = (
                conn.cursor()
                .execute(
                    "select state from RAW.MELTANO.MELTANO_STATE where state_id = %s",
                    (extract_load.state_id(job, "prod"),),
                )
                .fetchone()
            )
        assert row is not None, f"no state stored for {job}"
        state = json.loads(row[0])
        assert state["partial"] == {}, state  # the run completed
        return state["completed"]["singer_state"]

    def source_scalar(self, sql: str, *params: object) -> Any:
        conn = warehouse.connect(self.settings, attach_raw=False, attach_postgres=True)
        try:
            conn.execute("set TimeZone = 'UTC'")
            row = conn.execute(sql, list(params)).fetchone()
        finally:
            conn.close()
        assert row is not None
        return row[0]


def prod_meltano_environment(
    settings: Settings, emulator: Emulator, key_file: Path, key: str
) -> dict[str, str]:
    """.env.example's variables: identities (user, role, warehouse, RAW.MELTANO) as documented,
    the account, keys and sources pointed at the emulator and the local shop."""
    documented = dotenv_values(REPO_ROOT / ".env.example")
    example = {name: value or "" for name, value in documented.items()}
    local = {
        "SNOWFLAKE_ACCOUNT": emulator.account,
        "SNOWFLAKE_LOADER_PRIVATE_KEY_PATH": str(key_file),
        "MELTANO_STATE_BACKEND_URI": example["MELTANO_STATE_BACKEND_URI"].replace(
            example["SNOWFLAKE_ACCOUNT"], emulator.account
        ),
        "MELTANO_STATE_BACKEND_SNOWFLAKE_PRIVATE_KEY": key,
        "TAP_POSTGRES_HOST": settings.pg_host,
        "TAP_POSTGRES_PORT": str(settings.pg_port),
        "TAP_POSTGRES_USER": settings.pg_user,
        "TAP_POSTGRES_PASSWORD": settings.pg_password,
        "TAP_POSTGRES_DATABASE": settings.shop_db,
        "MELTANO_BATCH_DIR": str(settings.home / "batches"),
        "TAP_STRIPE_CLIENT_SECRET": settings.stripe_api_key,
        "TAP_STRIPE_ACCOUNT_ID": settings.stripe_account_id,
        "TAP_STRIPE_START_DATE": "2020-01-01T00:00:00Z",
        "MARKETING_EXPORTS_URL": str(settings.marketing_dir),
    }
    assert set(local) <= set(example), set(local) - set(example)
    return {**example, **local, **emulator.meltano_environment()}


@pytest.fixture(scope="module")
def prod(shop_home: Settings, emulator: Emulator) -> Iterator[ProdPath]:
    started = time.monotonic()
    # A few hundred orders up to the real "now" (tap-stripe bookmarks at its own clock), at a
    # rate that gives the second run new orders a minute later.
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    generator.generate(shop_home, months=0.001, orders_per_month=600_000, seed=11, end=end)
    key = private_key_pem()
    key_file = shop_home.home / "snowflake_key.p8"
    key_file.write_text(key)
    key_file.chmod(0o600)
    (shop_home.home / "batches").mkdir()
    create_platform(emulator)
    extract_load.prepare(shop_home)
    dbt_env = {
        **os.environ,
        **emulator.client_environment(),
        "DBT_TARGET": "snowflake",
        "SNOWFLAKE_PRIVATE_KEY_PATH": str(key_file),
        "SNOWFLAKE_STAGING_DATABASE": EMULATED_DATABASE_NAMES["STAGING"],
    }
    services.start_stripe_sandbox(shop_home)
    try:
        yield ProdPath(
            shop_home,
            emulator,
            prod_meltano_environment(shop_home, emulator, key_file, key),
            dbt_env,
            started=started,
        )
    finally:
        services.stop_stripe_sandbox(shop_home)


def copy_raw_into_local_files(prod: ProdPath) -> None:
    """RAW as the emulator holds it, copied into this home's local RAW files, so that the
    platform's own reconciliation (pipeline.reconcile) compares it with the sources key by key."""
    settings = prod.settings
    with prod.emulator.connect("RAW") as conn:
        for source in warehouse.RAW_SOURCES:
            path = warehouse.raw_file(settings, source)
            path.unlink(missing_ok=True)
            tables = conn.cursor().execute(
                "select table_name from RAW.information_schema.tables where table_schema = %s",
                (source.upper(),),
            )
            with duckdb.connect(str(path)) as local:
                local.execute(f"create schema {source}")
                for (table,) in tables.fetchall():
                    cursor = conn.cursor().execute(f'select * from RAW.{source.upper()}."{table}"')
                    names = [column.name.lower() for column in cursor.description]
                    columns = list(zip(*cursor.fetchall(), strict=True)) or [()] * len(names)
                    local.register(
                        "emulated",
                        pa.Table.from_arrays([pa.array(c) for c in columns], names=names),
                    )
                    local.execute(f'create table {source}."{table.lower()}" as from emulated')
                    local.unregister("emulated")


def records_read(log: Path) -> Counter[str]:
    """Rows tap-postgres read per stream, from its metrics in the run's log."""
    counts: Counter[str] = Counter()
    for line in re.findall(r"tap-postgres METRIC: (\{.*\})$", log.read_text(), re.MULTILINE):
        metric = json.loads(line)
        if metric["metric"] == "record_count":
            counts[metric["tags"]["stream"]] += metric["value"]
    return counts


def postgres_tables(settings: Settings) -> list[str]:
    return [spec.table for spec in reconcile.table_specs(settings) if spec.source == "postgres"]


def max_updated_at(prod: ProdPath, table: str) -> datetime:
    return prod.source_scalar(f"select max(updated_at) from shop.public.{table}")


def test_prod_jobs_load_raw_and_store_their_bookmarks_in_snowflake(prod: ProdPath) -> None:
    for job in PROD_JOBS:
        prod.meltano_run(job, "first")

    copy_raw_into_local_files(prod)
    results = reconcile.reconcile(prod.settings)  # raises naming the table when RAW is wrong
    assert len(results) == 14
    assert all(r.raw_rows > 0 for r in results if r.table != "disputes"), results

    with prod.emulator.connect("RAW") as conn:
        state_ids = {
            row[0]
            for row in conn.cursor().execute("select state_id from RAW.MELTANO.MELTANO_STATE")
        }
    assert state_ids == {extract_load.state_id(job, "prod") for job in PROD_JOBS}
    bookmarks = prod.stored_state("el-postgres-prod")["bookmarks"]
    for table in postgres_tables(prod.settings):
        stored = bookmarks[f"public-{table}"]["replication_key_value"]
        assert datetime.fromisoformat(stored) == max_updated_at(prod, table), table
    stripe = prod.stored_state("el-stripe-prod")["bookmarks"]
    assert {"charges", "customers", "balance_transactions", "disputes"} <= set(stripe)
    marketing = prod.stored_state("el-marketing-prod")["bookmarks"]
    assert set(marketing) == {"marketing_spend", "campaign_performance"}


def test_dbt_builds_the_snowflake_target_on_raw(prod: ProdPath) -> None:
    summary, _ = prod.dbt_build("first")
    assert summary.ok, summary.describe()
    assert summary.models_ok >= 30 and summary.snapshots_ok == 2
    assert summary.tests_passed >= 90
    assert summary.tests_warned == 0  # payments reconcile with Stripe


def test_a_second_run_resumes_from_the_stored_bookmarks(prod: ProdPath) -> None:
    state = prod.stored_state("el-postgres-prod")
    # The run re-reads from the bookmark (the tap compares with >=), or from `pending_since`
    # when a transaction was open at the previous run's start (tap-postgres-launcher).
    pending_since = datetime.fromisoformat(state["pending_since"])
    read_from = {
        table: min(
            datetime.fromisoformat(state["bookmarks"][f"public-{table}"]["replication_key_value"]),
            pending_since,
        )
        for table in postgres_tables(prod.settings)
    }
    changes = generator.simulate(prod.settings, until=datetime.now(UTC))
    assert changes["shop.orders.inserted"] > 0
    # A column added at the source reaches RAW (target-snowflake alters the table).
    with postgres.connect(prod.settings, prod.settings.shop_db, autocommit=True) as conn:
        conn.execute("alter table orders add column gift_note text")
        (noted_order,) = conn.execute(
            "update orders set gift_note = 'for grandma', updated_at = now() "
            "where order_id = (select min(order_id) from orders) returning order_id"
        ).fetchone()

    read = records_read(prod.meltano_run("el-postgres-prod", "second"))

    for table in postgres_tables(prod.settings):
        changed = prod.source_scalar(
            f"select count(*) from shop.public.{table} where updated_at >= ?", read_from[table]
        )
        assert read[f"public-{table}"] == changed, f"{table}: read {read}, {changed} changed"
    all_orders = prod.source_scalar("select count(*) from shop.public.orders")
    assert 0 < read["public-orders"] < all_orders
    bookmarks = prod.stored_state("el-postgres-prod")["bookmarks"]
    for table in postgres_tables(prod.settings):
        stored = bookmarks[f"public-{table}"]["replication_key_value"]
        assert datetime.fromisoformat(stored) == max_updated_at(prod, table), table
    copy_raw_into_local_files(prod)
    reconcile.reconcile(prod.settings, ("postgres",))  # changed rows merged, none duplicated
    with prod.emulator.connect("RAW") as conn:
        noted = conn.cursor().execute(
            "select ORDER_ID, GIFT_NOTE from RAW.POSTGRES.ORDERS where GIFT_NOTE is not null"
        )
        assert noted.fetchall() == [(noted_order, "for grandma")]


def test_a_second_dbt_build_merges_the_changes(prod: ProdPath) -> None:
    summary, statuses = prod.dbt_build("second")
    assert summary.ok, summary.describe()
    # Stripe was not extracted again: the new orders' charges are not in RAW yet.
    warned = {node for node, status in statuses.items() if status == "warn"}
    assert all("payments_reconcile_with_stripe" in node for node in warned), warned
    with prod.emulator.connect("ANALYTICS") as conn:
        cursor = conn.cursor()
        (facts,) = cursor.execute("select count(*) from ANALYTICS.MARTS.FCT_ORDERS").fetchone()
        (raw,) = (
            conn.cursor()
            .execute("select count(*) from RAW.POSTGRES.ORDERS where _sdc_deleted_at is null")
            .fetchone()
        )
    assert facts == raw


def test_only_the_platforms_users_roles_warehouses_and_schemas_were_used(prod: ProdPath) -> None:
    declared = {
        f"{name}_SVC": (user["role"], user["warehouse"])
        for name, user in PLATFORM["service_users"].items()
    }
    logins = [login for login in prod.emulator.logins() if login["user"] != "TEST"]
    identities = {
        (li["user"], li["role"], li["warehouse"], li["database"], li["authenticator"])
        for li in logins
    }
    for user, role, warehouse_, _, authenticator in identities:
        assert declared[user] == (role, warehouse_), (user, role, warehouse_)
        assert authenticator == JWT, user
    assert {login["user"] for login in logins} == {"MELTANO_SVC", "DBT_SVC"}

    # Every schema that exists is one Terraform creates (or the state backend's, see above):
    # the emulator creates none at login, so a client that needed another would have failed.
    with prod.emulator.connect() as conn:
        cursor = conn.cursor()
        databases = [row[1] for row in cursor.execute("show databases").fetchall()]
        objects: Counter[str] = Counter()
        for database in databases:
            for view in ("schemata", "tables", "views"):
                column = "schema_name" if view == "schemata" else "table_schema"
                for (schema,) in cursor.execute(
                    f"select {column} from {database}.information_schema.{view} "
                    f"where {column} <> 'INFORMATION_SCHEMA'"
                ).fetchall():
                    objects[f"{database}.{schema}"] += view != "schemata"
    assert set(objects) <= platform_schemas() | {STATE_SCHEMA}, set(objects)

    # The only statements the emulator refused are the clients' "does this table exist?" probes.
    refused = prod.emulator.refused_statements()
    unexpected = [s for s in refused if "_has_object" not in s or "does not exist" not in s]
    assert not unexpected, "\n".join(unexpected)

    print("\ntables and views per schema:", json.dumps(objects))
    print("logins:", sorted(identities))
    timings = ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in prod.seconds.items())
    print(f"{timings}; whole path {time.monotonic() - prod.started:.1f} s")
