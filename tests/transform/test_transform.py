"""dbt build on the embedded default: reconciled with the sources to the cent, an incremental
run after a day of changes equal to a full refresh, and the same project on the Snowflake adapter
against fakesnow.

The module runs a shop of its own (PostgreSQL, Stripe sandbox, RAW files in a private home).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
import yaml

from pipeline import extract_load, reports, transform
from sandbox import generator, inspect, services
from sandbox.config import REPO_ROOT, LocalShop
from sandbox.inspect import mart_net_revenue, source_net_revenue

pytestmark = pytest.mark.integration

FAKESNOW_DIR = REPO_ROOT / "transform" / "fakesnow"
MONTHS = 1
ORDERS_PER_MONTH = 2_500


def load(settings: LocalShop) -> None:
    """Extract-load the three sources into this home's RAW files."""
    services.start_stripe_sandbox(settings)
    try:
        extract_load.run_jobs(settings.platform())
    finally:
        services.stop_stripe_sandbox(settings)


@pytest.fixture(scope="module")
def shop(shop_home: LocalShop) -> LocalShop:
    """Generated shop data loaded into RAW; the sources stay up for reconciliation."""
    # Ends two days ago, so that `simulate` has a day to add before the real clock.
    end = (datetime.now(UTC) - timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    generator.generate(shop_home, months=MONTHS, orders_per_month=ORDERS_PER_MONTH, end=end)
    load(shop_home)
    return shop_home


@dataclass(frozen=True)
class Builds:
    settings: LocalShop
    full: transform.BuildSummary
    # fct_daily_revenue right after the full build (revenue_date, net_revenue_of_orders), and a
    # time between that build and the next: what the history must say was reported then.
    first_reported: dict[date, Decimal]
    after_full: datetime
    unit_tests_passed: int  # of the full build, which runs them (the flows' builds do not)


def analytics(settings: LocalShop) -> duckdb.DuckDBPyConnection:
    """The marts, read-only (close it before dbt runs again: one writer per file)."""
    return duckdb.connect(str(settings.warehouse_dir / "analytics.duckdb"), read_only=True)


def mart_days(settings: LocalShop) -> tuple[date, date]:
    with analytics(settings) as conn:
        row = conn.execute(
            "select min(revenue_date), max(revenue_date) from marts.fct_daily_revenue"
        ).fetchone()
    assert row is not None
    return row[0], row[1]


def delete_paid_order_at_source(settings: LocalShop) -> tuple[int, str]:
    """Mark a paid order and its rows deleted in RAW, as log-based replication would deliver a
    delete (the default INCREMENTAL replication cannot see deletes). Returns the order id and
    its charge id."""
    with duckdb.connect(str(inspect.raw_file(settings, "postgres"))) as raw:
        row = raw.execute(
            "select order_id, provider_charge_id from postgres.payments "
            "where status = 'succeeded' order by order_id limit 1"
        ).fetchone()
        assert row is not None
        order_id, charge_id = int(row[0]), str(row[1])
        for table in ("orders", "order_items", "order_status_history", "payments"):
            raw.execute(
                f"update postgres.{table} set _sdc_deleted_at = cast(now() as varchar), "
                "_sdc_extracted_at = now() where order_id = ?",
                [order_id],
            )
    return order_id, charge_id


def copy_marts(settings: LocalShop) -> duckdb.DuckDBPyConnection:
    """An in-memory copy of every mart table, detached from the file."""
    copy = duckdb.connect()
    copy.execute(f"attach '{settings.warehouse_dir / 'analytics.duckdb'}' as built (read_only)")
    tables = copy.execute(
        "select table_name from information_schema.tables "
        "where table_catalog = 'built' and table_schema = 'marts' order by 1"
    ).fetchall()
    for (table,) in tables:
        copy.execute(f"create table {table} as select * from built.marts.{table}")
    copy.execute("detach built")
    return copy


@pytest.fixture(scope="module")
def builds(shop: LocalShop) -> Iterator[Builds]:
    full = transform.build(shop.platform(), unit_tests=True)
    results = json.loads((transform.target_dir(shop.platform()) / "run_results.json").read_text())
    unit_tests_passed = sum(
        r["unique_id"].startswith("unit_test.") and r["status"] == "pass"
        for r in results["results"]
    )
    with analytics(shop) as conn:
        first_reported = dict(
            conn.execute(
                "select revenue_date, net_revenue_of_orders from marts.fct_daily_revenue"
            ).fetchall()
        )
    yield Builds(
        shop,
        full,
        first_reported,
        after_full=datetime.now(UTC).replace(tzinfo=None),
        unit_tests_passed=unit_tests_passed,
    )


def test_full_build_passes_every_test(builds: Builds) -> None:
    summary = builds.full
    assert summary.ok, summary.describe()
    assert summary.models_ok >= 30
    assert summary.snapshots_ok == 4
    assert summary.tests_passed >= 90
    assert builds.unit_tests_passed >= 5
    assert summary.tests_warned == 0  # payments reconcile with Stripe


def test_source_freshness_says_which_table_is_behind(builds: Builds) -> None:
    """The generated shop stopped writing two days ago; the Stripe tables were loaded just now.
    The limits are the dbt sources' (postgres: warn after 6 h, error after 26 h)."""
    results = {
        result.table: result
        for result in transform.source_freshness(builds.settings.platform(), ["postgres", "stripe"])
    }
    assert "postgres.countries" not in results, "reference data declares no limits"
    with duckdb.connect(str(inspect.raw_file(builds.settings, "postgres")), read_only=True) as raw:
        (newest,) = raw.execute("select max(updated_at) from postgres.orders").fetchone()
    behind = (datetime.now(UTC).replace(tzinfo=None) - newest).total_seconds() / 3600
    orders = results["postgres.orders"]
    assert orders.status == ("error" if behind > 26 else "warn") and orders.late
    assert orders.hours_behind == pytest.approx(behind, abs=0.1)
    assert "error after 26 hour" in orders.describe()
    assert results["stripe.charges"].status == "pass" and not results["stripe.charges"].late


def test_net_revenue_reconciles_with_the_sources_to_the_cent(builds: Builds) -> None:
    first, last = mart_days(builds.settings)
    periods = [(first, last), (last - timedelta(days=6), last), (first, first + timedelta(days=9))]
    for start, end in periods:
        source = source_net_revenue(builds.settings, start, end)
        assert source > 0
        assert mart_net_revenue(builds.settings, start, end) == source, (start, end)


def test_every_paid_order_is_matched_to_its_stripe_payment(builds: Builds) -> None:
    with analytics(builds.settings) as conn:
        statuses = dict(
            conn.execute(
                "select reconciliation_status, count(*) from marts.fct_payment_reconciliation "
                "group by 1"
            ).fetchall()
        )
        paid, unpaid = conn.execute(
            "select count(*) filter (where is_paid), count(*) filter (where not is_paid) "
            "from marts.fct_orders"
        ).fetchone()
    assert paid > 0 and unpaid > 0
    # Every order once: paid and matched to its Stripe charge, or not paid; no other status.
    assert statuses == {"matched": paid, "not_paid": unpaid}


def test_incremental_build_after_a_day_equals_a_full_refresh(builds: Builds) -> None:
    settings = builds.settings
    clock = generator.shop_clock(settings)
    assert clock is not None
    changes = generator.simulate(settings, until=clock + timedelta(days=1))
    assert sum(changes.values()) > 0
    load(settings)

    incremental = transform.build(settings.platform())
    assert incremental.ok, incremental.describe()
    first, last = mart_days(settings)
    assert mart_net_revenue(settings, first, last) == source_net_revenue(settings, first, last)

    order_id, charge_id = delete_paid_order_at_source(settings)
    after_delete = transform.build(settings.platform())
    assert after_delete.ok, after_delete.describe()
    with analytics(settings) as conn:
        left = conn.execute(
            f"select (select count(*) from marts.fct_orders where order_id = {order_id}), "
            f"(select count(*) from marts.fct_order_items where order_id = {order_id}), "
            f"(select match_status from marts.fct_payments where charge_id = '{charge_id}')"
        ).fetchone()
    # Stripe keeps the charge of a deleted order: it stands alone, flagged.
    assert left == (0, 0, "missing_in_shop")
    after_incremental = copy_marts(settings)

    refreshed = transform.build(settings.platform(), full_refresh=True)
    assert refreshed.ok, refreshed.describe()
    after_incremental.execute(
        f"attach '{settings.warehouse_dir / 'analytics.duckdb'}' as refreshed (read_only)"
    )
    tables = [row[0] for row in after_incremental.execute("show tables").fetchall()]
    assert {"fct_orders", "fct_order_items", "fct_payments", "fct_daily_revenue"} <= set(tables)
    for table in tables:
        rows, differing = after_incremental.execute(
            f"""
            select
                (select count(*) from {table}),
                (select count(*) from (
                    (select * from {table} except all select * from refreshed.marts.{table})
                    union all
                    (select * from refreshed.marts.{table} except all select * from {table})
                ))
            """
        ).fetchone()
        assert rows > 0, table
        assert differing == 0, f"{table}: {differing} rows differ after a full refresh"
    after_incremental.close()
    print(
        f"\nfull build {builds.full.seconds:.1f} s, incremental {incremental.seconds:.1f} s, "
        f"after a delete {after_delete.seconds:.1f} s, full refresh {refreshed.seconds:.1f} s"
    )


def test_the_history_keeps_what_each_build_reported(builds: Builds) -> None:
    """After the builds above (a day of refunds and late payments, a delete), the history says
    what the first build reported at any time before the next, and what the mart says now."""
    with analytics(builds.settings) as conn:
        as_reported = dict(
            conn.execute(
                "select revenue_date, net_revenue_of_orders from marts.fct_daily_revenue_history "
                "where valid_from <= $1 and (valid_to is null or valid_to > $1)",
                [builds.after_full],
            ).fetchall()
        )
        current = dict(
            conn.execute(
                "select revenue_date, net_revenue_of_orders from marts.fct_daily_revenue"
            ).fetchall()
        )
    assert as_reported == builds.first_reported
    assert current != builds.first_reported
    # a day's net revenue of orders restated later: refunds land on days before the new one
    last_first_day = max(builds.first_reported)
    assert any(
        current[day] != figure
        for day, figure in builds.first_reported.items()
        if day < last_first_day
    )


def test_the_docs_show_the_lineage_from_a_page_back_to_raw(builds: Builds, tmp_path: Path) -> None:
    """`dbt docs generate`, served beside the report site at /dbt-docs/: the history page's
    exposure reaches RAW's orders through the marts its queries read."""
    settings = builds.settings.platform()
    page = transform.build_docs(settings)
    manifest = json.loads((transform.target_dir(settings) / "manifest.json").read_text())
    parents = manifest["parent_map"]
    # the page's query reads the history mart, kept by a snapshot of the revenue mart
    hops = [
        "exposure.shop.report_history",
        "model.shop.fct_daily_revenue_history",
        "snapshot.shop.daily_revenue_snapshot",
        "model.shop.fct_daily_revenue",
        "model.shop.fct_orders",
    ]
    for child, parent in itertools.pairwise(hops):
        assert parent in parents[child], f"{parent} is not a parent of {child}"

    def reaches_raw_orders(node: str) -> bool:
        return node == "source.shop.postgres.orders" or any(
            reaches_raw_orders(parent) for parent in parents.get(node, [])
        )

    assert reaches_raw_orders(hops[-1])

    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text("<html><body>the report site</body></html>")
    server = reports.site_server(site, page.parent, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with urllib.request.urlopen(base + "/") as response:
            assert b"the report site" in response.read()
        with urllib.request.urlopen(base + "/dbt-docs/") as response:
            docs = response.read().decode()
    finally:
        server.shutdown()
    # the static docs carry the manifest: the exposure and its lineage are in the page served
    assert "report_history" in docs and "fct_daily_revenue_history" in docs


@dataclass(frozen=True)
class FakesnowBuild:
    work_dir: Path  # target/ (run_results, manifest, compiled SQL) and fakesnow/ (the databases)
    run_results: dict

    def build(self, raw_dir: Path, *dbt_args: str) -> dict:
        command = [
            str(FAKESNOW_DIR / ".venv" / "bin" / "python"),
            str(FAKESNOW_DIR / "build_on_fakesnow.py"),
            *("--raw-dir", str(raw_dir)),
            *("--work-dir", str(self.work_dir)),
            *dbt_args,
        ]
        result = subprocess.run(
            command,
            # fakesnow makes a folder in the temporary folder at import and never removes it
            env={**os.environ, "TMPDIR": str(self.work_dir)},
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        tail = "\n".join(result.stdout.splitlines()[-30:])
        assert result.returncode == 0, tail
        return json.loads((self.work_dir / "target" / "run_results.json").read_text())


@pytest.fixture(scope="module")
def fakesnow_build(
    builds: Builds, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FakesnowBuild]:
    """dbt-snowflake against fakesnow, in its own venv (fakesnow needs duckdb 2): a first build
    of the whole project."""
    subprocess.run([str(FAKESNOW_DIR / "setup.sh")], check=True, timeout=600)
    build = FakesnowBuild(tmp_path_factory.mktemp("fakesnow-build"), {})
    run_results = build.build(builds.settings.warehouse_dir, "build")
    yield FakesnowBuild(build.work_dir, run_results)


def test_the_snowflake_adapter_builds_the_project_on_fakesnow(
    builds: Builds, fakesnow_build: FakesnowBuild
) -> None:
    """A first build, then a second one of the incremental models and snapshots (merge paths)."""
    # warn: the payments reconciliation flags the charge of the order deleted above
    statuses = {r["unique_id"]: r["status"] for r in fakesnow_build.run_results["results"]}
    # dbt lists the exposures (the report pages) as no-op nodes of a build
    assert {s for uid, s in statuses.items() if not uid.startswith("exposure.")} <= {
        "success",
        "pass",
        "warn",
    }
    assert sum(uid.startswith("model.") for uid in statuses) >= 30
    assert sum(uid.startswith("unit_test.") for uid in statuses) >= 5

    second = fakesnow_build.build(
        builds.settings.warehouse_dir,
        "build",
        "--select",
        "config.materialized:incremental",
        "config.materialized:snapshot",
    )
    assert {r["status"] for r in second["results"]} <= {"success", "pass", "warn"}
    assert any(r["unique_id"].startswith("snapshot.") for r in second["results"])


def test_unit_test_fixtures_give_snowflake_json_not_json_text(
    fakesnow_build: FakesnowBuild,
) -> None:
    """A VARIANT fixture value must reach Snowflake parsed: `cast('[...]' as variant)` is a
    VARIANT string, which `lateral flatten` unnests to nothing on a real account (the emulator
    parses it, so the unit test would pass here and fail there)."""
    compiled = [
        path.read_text()
        for path in (fakesnow_build.work_dir / "target" / "run").rglob("*.sql")
        if "unit_tests.yml" in str(path)
    ]
    assert any("try_parse_json('[" in sql for sql in compiled), "no JSON fixture was compiled?"
    for sql in compiled:
        assert not re.search(r"cast\('[^']*' as (variant|object|array)\)", sql, re.I), sql


def _personal_values(settings: LocalShop) -> dict[str, list[str]]:
    """The customers' emails and names as the sources hold them (RAW, unmasked)."""
    with duckdb.connect(str(inspect.raw_file(settings, "postgres")), read_only=True) as raw:
        rows = raw.execute(
            "select lower(email), first_name, last_name from postgres.customers"
        ).fetchall()
    return {
        "emails": sorted({email for email, _, _ in rows if email}),
        "names": sorted({name for _, *names in rows for name in names if name}),
    }


def test_no_role_that_sees_pii_masked_reads_an_untagged_pii_column(
    builds: Builds, fakesnow_build: FakesnowBuild
) -> None:
    """On Snowflake the models pass PII through (macros/pii.sql) and the masking policy masks
    tagged columns only. Every text column of the relations a masked role reads (REPORTER:
    ANALYTICS, snapshots included) that holds a customer's email or name must be tagged."""
    platform = yaml.safe_load((REPO_ROOT / "terraform" / "platform.yaml").read_text())
    readable = {
        schema.upper()
        for role in platform["roles"].values()
        if not role.get("sees_pii")
        for entry in role["read"] + role["write"]
        if entry.startswith("ANALYTICS")
        for schema in (
            [entry.partition(".")[2]]
            if "." in entry
            else platform["databases"]["ANALYTICS"]["schemas"]
        )
    }
    assert {"MARTS", "SNAPSHOTS"} <= readable
    found = json.loads(
        subprocess.run(
            [
                str(FAKESNOW_DIR / ".venv" / "bin" / "python"),
                str(REPO_ROOT / "tests" / "transform" / "pii_on_emulator.py"),
                str(fakesnow_build.work_dir / "fakesnow"),
                "ANALYTICS",
            ],
            input=json.dumps(_personal_values(builds.settings)),
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        ).stdout
    )
    holding_pii = {f"{s}.{t}.{c}".upper() for s, t, c in found if s.upper() in readable}
    assert {"MARTS.DIM_CUSTOMERS.EMAIL", "SNAPSHOTS.CUSTOMERS_SNAPSHOT.EMAIL"} <= holding_pii
    manifest = json.loads((fakesnow_build.work_dir / "target" / "manifest.json").read_text())
    tagged = {
        f"{node['schema']}.{node['alias']}.{column['name']}".upper()
        for node in manifest["nodes"].values()
        if "set_pii_tags()" in " ".join(hook["sql"] for hook in node["config"].get("post-hook", []))
        for column in node["columns"].values()
        if (column.get("config", {}).get("meta") or column.get("meta") or {}).get("pii")
    }
    assert holding_pii <= tagged, f"PII in untagged columns: {sorted(holding_pii - tagged)}"
