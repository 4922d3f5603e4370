"""The production path end to end, on an emulated Snowflake: `daily_refresh` and then
`realtime_orders` with environment=prod, exactly as a production worker runs them.

Real: Meltano's prod jobs and taps reading the local PostgreSQL and the Stripe sandbox,
target-snowflake, the Snowflake state backend keeping the bookmarks in RAW.MELTANO, the
reconciliation in its production form (the shop's PostgreSQL and Stripe's API against the
warehouse through its connector), dbt-snowflake on the `snowflake` target, the run log in
ANALYTICS.OPS, Prefect's concurrency limit keeping runs apart, Evidence building the site from
its Snowflake sources. The variables are .env.example's, with the account, keys and sources
pointed at the emulator and the local shop.

Stood in for: the emulator itself (fakesnow's server, tests/prod/fakesnow_server.py), the
clients' address (emulator_hooks/, evidence_emulator.cjs) and the one step the emulator cannot
run — target-snowflake's own stage COPY/MERGE SQL (emulator_hooks/target_snowflake_on_fakesnow.py).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import subprocess
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml
from env_example import sourced_example
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.testing.utilities import prefect_test_harness
from report_project import use_own_report_project
from snowflake_emulator import Emulator, private_key_pem

from flows.daily_refresh import daily_refresh
from flows.realtime_orders import REALTIME_PAGES, realtime_orders
from pipeline import catalog, meltano, reports
from pipeline import settings as platform
from pipeline.run_log import RunLog
from sandbox import generator, inspect, postgres, services
from sandbox.config import REPO_ROOT, LocalShop

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

TERRAFORM = yaml.safe_load((REPO_ROOT / "terraform" / "platform.yaml").read_text())
# DuckDB cannot tell database STAGING from its schema STAGING: on the emulator that database
# has another name, given to dbt as a dev environment gives its own (SNOWFLAKE_STAGING_DATABASE).
EMULATED_NAMES = {"STAGING": "STAGING_DB"}
PRELOAD = Path(__file__).with_name("evidence_emulator.cjs")
ACCOUNT_USAGE_STUB = Path(__file__).with_name("account_usage_stub.sql")
SNOWFLAKES_OWN = "SNOWFLAKE"  # the SNOWFLAKE database (ACCOUNT_USAGE): Snowflake's, not ours


def declared_schemas() -> set[str]:
    """DATABASE.SCHEMA of every schema Terraform creates (terraform/databases.tf)."""
    governance = TERRAFORM["governance"]
    pairs = {(db, s) for db, spec in TERRAFORM["databases"].items() for s in spec["schemas"]}
    return {
        f"{db}.{schema}" for db, schema in pairs | {(governance["database"], governance["schema"])}
    }


def emulated(name: str) -> str:
    database, _, rest = name.partition(".")
    return ".".join(part for part in (EMULATED_NAMES.get(database, database), rest) if part)


def declared_name(name: str) -> str:
    database, _, rest = name.partition(".")
    back = {v: k for k, v in EMULATED_NAMES.items()}
    return ".".join(part for part in (back.get(database, database), rest) if part)


@dataclass
class ProdRuns:
    shop: LocalShop
    emulator: Emulator
    settings: platform.Settings
    daily: RunLog
    realtime: RunLog
    site_dir: Path
    states_after_daily: dict[str, dict]
    states_after_realtime: dict[str, dict]
    revenue_after_daily: tuple[object, object, Decimal, Decimal]  # first, last, marts, sources
    deleted_order: int  # a paid order deleted at the source between the two runs
    deleted_order_in_marts_before: int
    site_queries_after_daily: dict[str, list[dict[str, Any]]]  # each source query's rows then
    site_queries_after_realtime: dict[str, list[dict[str, Any]]]
    realtime_read: dict[str, int]  # rows tap-postgres read per table in the real-time run
    changed_since_daily: dict[str, int]  # source rows it had to read again, per table
    seconds: dict[str, float] = field(default_factory=dict)

    def query(self, sql: str, database: str = "ANALYTICS") -> list[tuple]:
        with self.emulator.connect(database) as conn:
            return conn.cursor().execute(sql).fetchall()

    def site_rows(self, source: str, query: str) -> list[dict[str, Any]]:
        """The rows of a source query the published site's manifest points at."""
        manifest = json.loads((self.site_dir / "data" / "manifest.json").read_text())
        (url,) = [u for u in manifest["renderedFiles"][source] if Path(u).parts[3] == query]
        return pq.read_table(self.site_dir / Path(url).relative_to("static")).to_pylist()


def stored_states(emulator: Emulator) -> dict[str, dict]:
    """Every job's Singer state as the Snowflake state backend keeps it in RAW.MELTANO."""
    with emulator.connect("RAW") as conn:
        rows = conn.cursor().execute("select state_id, state from RAW.MELTANO.MELTANO_STATE")
        states = {state_id: json.loads(state) for state_id, state in rows.fetchall()}
    return {sid: s["completed"].get("singer_state", {}) for sid, s in states.items()}


def records_read(log: Path, tap: str) -> dict[str, int]:
    """Rows the tap read per table, from its metrics in the job's log."""
    counts: dict[str, int] = {}
    for line in re.findall(rf"{tap} METRIC: (\{{.*\}})$", log.read_text(), re.MULTILINE):
        metric = json.loads(line)
        if metric["metric"] == "record_count":
            table = metric["tags"]["stream"].split("-", 1)[-1]
            counts[table] = counts.get(table, 0) + metric["value"]
    return counts


def create_what_terraform_creates(emulator: Emulator) -> None:
    """Databases and schemas as `terraform apply` leaves them (the emulator has no roles,
    warehouses or grants: what each role did is checked from its statements below), and
    Snowflake's own ACCOUNT_USAGE views the cost page reads."""
    with emulator.connect() as conn:
        for schema in sorted(declared_schemas()):
            conn.cursor().execute(f"create database if not exists {emulated(schema).split('.')[0]}")
            conn.cursor().execute(f"create schema if not exists {emulated(schema)}")
        conn.execute_string(ACCOUNT_USAGE_STUB.read_text())


def prod_environment(shop: LocalShop, emulator: Emulator, worker: Path) -> dict[str, str]:
    """The worker's environment as production makes it: a .env written from .env.example with
    the account, the key files and the sources pointed at the emulator and the local shop
    (users, roles, warehouses, databases as documented), read by deploy/with-env."""
    example = sourced_example()
    key_file = worker / "service_user_rsa_key.p8"
    key_file.write_text(private_key_pem())
    key_file.chmod(0o600)
    documented = {
        **{k: v for k, v in shop.platform_variables().items() if k != "MARKETING_EXPORTS_URL"},
        "MARKETING_EXPORTS_URL": str(shop.marketing_dir),
        "SHOP_HOME": str(worker),
        "SHOP_SITE_DIR": str(worker / "site"),
        "MELTANO_BATCH_DIR": str(worker / "batches"),
        "SNOWFLAKE_ACCOUNT": emulator.account,
        "MELTANO_STATE_BACKEND_URI": example["MELTANO_STATE_BACKEND_URI"].replace(
            example["SNOWFLAKE_ACCOUNT"], emulator.account
        ),
        **{name: str(key_file) for name in example if name.endswith("_PRIVATE_KEY_PATH")},
    }
    # Production's Stripe is the API's default address: the sandbox's is not in .env.example.
    undocumented = set(documented) - set(example) - {"STRIPE_API_BASE"}
    assert not undocumented, f"not in .env.example: {undocumented}"
    test_only = {
        **emulator.meltano_environment(),  # the emulator's address, the hooks' switch
        "SNOWFLAKE_STAGING_DATABASE": EMULATED_NAMES["STAGING"],
        "NODE_OPTIONS": f"--require {PRELOAD}",
    }
    values = {
        # The Prefect server is the test harness's.
        **{k: v for k, v in example.items() if not k.startswith("PREFECT_")},
        **documented,
        **test_only,
    }
    env_file = worker / ".env"
    env_file.write_text("".join(f"{name}='{value}'\n" for name, value in values.items()))
    printed = subprocess.run(
        [str(REPO_ROOT / "deploy" / "with-env"), "env", "-0"],
        env={**os.environ, "SHOP_ENV_FILE": str(env_file)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(entry.split("=", 1) for entry in printed.split("\0") if "=" in entry)


@pytest.fixture(scope="module")
def prod(shop_home: LocalShop, emulator: Emulator, report_compiles: Path) -> Iterator[ProdRuns]:
    started = time.monotonic()
    shop = shop_home
    # A few hundred orders up to the real "now" (tap-stripe bookmarks at its own clock), at a
    # rate that gives the real-time run new orders a minute later.
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    generator.generate(shop, months=0.001, orders_per_month=600_000, seed=11, end=end)
    services.start_stripe_sandbox(shop)
    create_what_terraform_creates(emulator)
    worker = shop.home / "prod-worker"
    worker.mkdir()
    seconds = {}
    with pytest.MonkeyPatch.context() as env:
        for name, value in prod_environment(shop, emulator, worker).items():
            env.setenv(name, value)
        emulator.route_connections(env)
        use_own_report_project(worker / "reports", env)  # the worker's release, as deployed
        # Its site compiled once in the session, by this module or tests/reports (the compile
        # is the same for every warehouse): the worker's first build renders with it or makes it.
        env.setenv("SHOP_REPORT_COMPILES", str(report_compiles))
        settings = platform.load("prod")
        with prefect_test_harness(server_startup_timeout=90):
            asyncio.run(_create_concurrency_limit(settings))

            mark = time.monotonic()
            daily = daily_refresh(environment="prod")
            seconds["daily_refresh"] = time.monotonic() - mark
            after_daily = stored_states(emulator)
            revenue = _net_revenue(shop, emulator)
            site_queries = _site_queries(emulator)

            generator.simulate(shop, until=datetime.now(UTC))  # the shop lives on
            deleted_order = _delete_a_paid_order(shop)
            with emulator.connect("ANALYTICS") as conn:
                (in_marts_before,) = (
                    conn.cursor()
                    .execute(
                        "select count(*) from ANALYTICS.MARTS.FCT_ORDERS "
                        f"where order_id = {deleted_order}"
                    )
                    .fetchone()
                )
            changed = _changed_since(shop, settings, after_daily)
            mark = time.monotonic()
            realtime = realtime_orders(environment="prod")
            seconds["realtime_orders"] = time.monotonic() - mark
            site_queries_after_realtime = _site_queries(emulator)
    (realtime_job,) = settings.realtime_jobs
    tap, _ = meltano.job_task(realtime_job)
    seconds["whole module setup"] = time.monotonic() - started
    yield ProdRuns(
        shop=shop,
        emulator=emulator,
        settings=settings,
        daily=daily,
        realtime=realtime,
        site_dir=worker / "site",
        states_after_daily=after_daily,
        revenue_after_daily=revenue,
        site_queries_after_daily=site_queries,
        site_queries_after_realtime=site_queries_after_realtime,
        deleted_order=deleted_order,
        deleted_order_in_marts_before=in_marts_before,
        states_after_realtime=stored_states(emulator),
        realtime_read=records_read(settings.log_dir / f"{realtime_job}.log", tap),
        changed_since_daily=changed,
        seconds=seconds,
    )
    print("\nprod path:", {k: round(v, 1) for k, v in seconds.items()})


def _delete_a_paid_order(shop: LocalShop) -> int:
    """A hard delete at the source (INCREMENTAL replication cannot see it)."""
    with postgres.connect(shop, shop.shop_db, autocommit=True) as conn:
        (order_id,) = conn.execute(
            "delete from orders where order_id = (select min(order_id) from payments "
            "where status = 'succeeded') returning order_id"
        ).fetchone()
    return order_id


def _site_queries(emulator: Emulator) -> dict[str, list[dict[str, Any]]]:
    """Each of the site's source queries' rows on Snowflake."""
    rows = {}
    with emulator.connect("ANALYTICS", "MARTS") as conn:
        for query in reports.source_queries("warehouse", "snowflake").values():
            cursor = conn.cursor().execute(query.read_text())
            names = [column.name.lower() for column in cursor.description]
            rows[query.stem] = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    return rows


def _net_revenue(shop: LocalShop, emulator: Emulator) -> tuple[object, object, Decimal, Decimal]:
    """Net revenue over the marts' days: fct_daily_revenue on Snowflake, and the sources'."""
    with emulator.connect("ANALYTICS") as conn:
        ((first, last, total),) = conn.cursor().execute(
            "select min(revenue_date), max(revenue_date), sum(net_revenue) "
            "from ANALYTICS.MARTS.FCT_DAILY_REVENUE"
        )
    # fakesnow sums decimals as doubles; Snowflake keeps NUMBER(38, 2).
    marts = Decimal(str(total)).quantize(Decimal("0.01"))
    return first, last, marts, inspect.source_net_revenue(shop, first, last)


async def _create_concurrency_limit(settings: platform.Settings) -> None:
    """What docs/production.md step 6 creates once on the Prefect server."""
    name = settings.runs_kept_apart_by["prefect_concurrency_limit"]
    async with get_client() as client:
        await client.create_global_concurrency_limit(
            GlobalConcurrencyLimitCreate(name=name, limit=1)
        )


def _changed_since(shop: LocalShop, settings: platform.Settings, states: dict) -> dict[str, int]:
    """Rows of each real-time table changed since the daily run's bookmarks (the tap re-reads
    the bookmark itself, and from `pending_since` when a transaction was open then)."""
    daily = states[meltano.state_id(settings, settings.realtime_starts_from)]
    pending_since = datetime.fromisoformat(daily["pending_since"])
    changed = {}
    with inspect.connect(shop, attach_raw=False, attach_postgres=True) as conn:
        for table in meltano.job_tables(settings.realtime_jobs[0]):
            bookmark = daily["bookmarks"][f"public-{table}"]["replication_key_value"]
            read_from = min(datetime.fromisoformat(bookmark), pending_since)
            (changed[table],) = conn.execute(
                f"select count(*) from shop.public.{table} where updated_at >= ?", [read_from]
            ).fetchone()
    return changed


def test_both_flows_complete_on_snowflake_and_log_their_runs_in_ops(prod: ProdRuns) -> None:
    runs = prod.query(
        "select flow, environment, status, rows_loaded, models_built, tests_passed, tests_failed "
        "from ANALYTICS.OPS.PIPELINE_RUNS order by started_at"
    )
    assert [(r[0], r[1], r[2]) for r in runs] == [
        ("daily_refresh", "prod", "completed"),
        ("realtime_orders", "prod", "completed"),
    ]
    daily = runs[0]
    assert daily[4] >= 30 and daily[5] >= 90 and daily[6] == 0
    stages = {
        stage
        for (stage,) in prod.query(
            f"select stage from ANALYTICS.OPS.PIPELINE_STAGES where run_id = '{prod.daily.run_id}'"
        )
    }
    assert {"el-postgres-prod", "el-stripe-prod", "el-marketing-prod", "mark deletes",
            "reconcile", "dbt build", "report build"} <= stages  # fmt: skip


def test_reconciliation_ran_in_its_production_form(prod: ProdRuns) -> None:
    (reconciled,) = [d for name, _, _, d in prod.daily.stages if name == "reconcile"]
    declared = {f"{t.source}.{t.name}" for t in catalog.source_tables()}
    assert set(reconciled) == declared | {"stripe.charges = postgres.payments"}
    assert reconciled["postgres.orders"] > 0 and reconciled["stripe.charges"] > 0
    (realtime,) = [d for name, _, _, d in prod.realtime.stages if name == "reconcile"]
    tables = meltano.job_tables(prod.settings.realtime_jobs[0])
    assert set(realtime) == {f"postgres.{t}" for t in tables}


def test_net_revenue_on_snowflake_equals_the_sources_to_the_cent(prod: ProdRuns) -> None:
    first, last, marts, sources = prod.revenue_after_daily
    assert marts == sources != 0, (first, last)


def test_the_realtime_run_resumed_from_the_bookmarks_stored_in_snowflake(prod: ProdRuns) -> None:
    settings = prod.settings
    daily_id = meltano.state_id(settings, settings.realtime_starts_from)
    realtime_id = meltano.state_id(settings, settings.realtime_jobs[0])
    assert daily_id in prod.states_after_daily and realtime_id not in prod.states_after_daily
    # It read exactly the rows changed since the daily run's bookmarks, not the history.
    assert prod.realtime_read == prod.changed_since_daily
    (orders,) = prod.query("select count(*) from RAW.POSTGRES.ORDERS", "RAW")[0]
    assert 0 < prod.realtime_read["orders"] < orders
    # And stored its own bookmarks, past the daily run's.
    daily = prod.states_after_daily[daily_id]["bookmarks"]
    realtime = prod.states_after_realtime[realtime_id]["bookmarks"]
    for stream, bookmark in realtime.items():
        assert bookmark["replication_key_value"] >= daily[stream]["replication_key_value"]
    print(
        "\nbookmarks after the daily run:",
        {s: b["replication_key_value"] for s, b in daily.items()},
    )
    print("after the real-time run:", {s: b["replication_key_value"] for s, b in realtime.items()})
    print("rows read by the real-time run:", prod.realtime_read)


def test_an_order_deleted_at_the_source_left_raw_and_the_marts(prod: ProdRuns) -> None:
    order = prod.deleted_order
    assert prod.deleted_order_in_marts_before == 1
    assert prod.query(
        f"select count(*) from ANALYTICS.MARTS.FCT_ORDERS where order_id = {order}"
    ) == [(0,)]
    assert prod.query(
        f"select count(*) from RAW.POSTGRES.ORDERS where order_id = {order} "
        "and _sdc_deleted_at is not null",
        "RAW",
    ) == [(1,)]
    (marked,) = [d for name, _, _, d in prod.realtime.stages if name == "mark deletes"]
    assert marked["postgres.orders"] == 1 and marked["postgres.payments"] >= 1


def test_the_site_was_built_from_snowflake_and_shows_its_figures(prod: ProdRuns) -> None:
    """Every source query's rows in the site equal the same query's rows on Snowflake (as
    Evidence keeps values: numbers as doubles, times as UTC instants): after the real-time run
    for what its page reads (it refreshed that page's data alone), else after the daily run."""
    (site_step,) = [d for name, _, _, d in prod.realtime.stages if name == "report build"]
    assert site_step["data_only"]
    realtime_reads = reports.page_queries(REALTIME_PAGES[0], "snowflake")
    newest = prod.site_rows("warehouse", "freshness")
    assert as_compared(newest) != as_compared(prod.site_queries_after_daily["freshness"])
    compared = 0
    for query, after_daily in prod.site_queries_after_daily.items():
        shown = prod.site_rows("warehouse", query)
        expected = after_daily
        if f"warehouse.{query}" in realtime_reads:
            expected = prod.site_queries_after_realtime[query]
        if query == "pipeline_runs":
            # the daily run built the site before it ended: the site shows it as it was then,
            # running, recorded last just before the build
            (run,) = [row for row in expected if row["flow"] == "daily_refresh"]
            (then,) = [row for row in shown if row["run_id"] == run["run_id"]]
            assert (run["status"], then["status"]) == ("completed", "running")
            assert run["started_at"] < comparable(then["finished_at"]) < run["finished_at"]
            expected = [{**row, **then} if row is run else row for row in expected]
        assert as_compared(shown) == as_compared(expected), query
        compared += len(shown)
    assert compared > 0
    shown = prod.site_rows("warehouse", "daily_revenue")
    *_, marts, _ = prod.revenue_after_daily
    assert round(Decimal(sum(row["net_revenue"] for row in shown)), 2) == marts


def comparable(value: Any) -> Any:
    """A value as Evidence keeps it: numbers as doubles, dates and times as UTC instants (ms)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, Decimal | int | float):
        return float(value)
    if isinstance(value, datetime):
        if value.tzinfo:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.replace(microsecond=value.microsecond // 1000 * 1000)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    raise AssertionError(f"unexpected value {value!r}")


def as_compared(rows: list[dict[str, Any]]) -> list[tuple]:
    return sorted(
        (tuple((name, comparable(row[name])) for name in sorted(row)) for row in rows), key=repr
    )


# -- the emulator's results for Evidence's Node driver ------------------------------------------
EDGE_VALUES = """
select
    9223372036854775807::number(38, 0) as biggest_integer,
    1234.50::number(18, 2) as money,
    -0.01::number(18, 2) as small_refund,
    null::number(18, 2) as no_money,
    '2024-02-29'::date as leap_day,
    '1969-12-31 23:59:59.5'::timestamp_ntz as before_epoch,
    '2024-02-29 13:14:15.123456'::timestamp_ntz as placed_at,
    null::timestamp_ntz as never,
    '2024-02-29 13:14:15.123456+00:00'::timestamp_tz as placed_at_tz,
    true as is_paid,
    false as is_refunded,
    'Café «crème» ☕ 東京 🎉' as product_name,
    1.5::float as ratio,
    '12:34:56.5'::time as at_time
"""
# What Snowflake writes for those in a JSON rowset (timestamps with fakesnow's scale, 9).
EDGE_VALUES_JSON = [
    "9223372036854775807",
    "1234.50",
    "-0.01",
    None,
    str((date(2024, 2, 29) - date(1970, 1, 1)).days),
    "-0.500000000",
    "1709212455.123456000",
    None,
    "1709212455.123456000 1440",
    "1",
    "0",
    "Café «crème» ☕ 東京 🎉",
    "1.5",
    "45296.500000000",
]


def snowflake_request(emulator: Emulator, path: str, data: dict, token: str = "") -> dict:
    """One request of the Snowflake REST protocol, as the drivers send it."""
    request = urllib.request.Request(
        f"{emulator.protocol}://{emulator.host}:{emulator.port}{path}",
        data=json.dumps(data).encode(),
        headers={"Content-Type": "application/json", "Authorization": f'Snowflake Token="{token}"'},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def query_as(emulator: Emulator, client_app_id: str, sql: str) -> dict:
    login = snowflake_request(
        emulator,
        "/session/v1/login-request?databaseName=ANALYTICS&schemaName=MARTS",
        {"data": {"CLIENT_APP_ID": client_app_id, "LOGIN_NAME": "TEST", "SESSION_PARAMETERS": {}}},
    )
    token = login["data"]["token"]
    return snowflake_request(emulator, "/queries/v1/query-request", {"sqlText": sql}, token)["data"]


def test_the_node_driver_gets_exact_json_rows(emulator: Emulator) -> None:
    result = query_as(emulator, "JavaScript", EDGE_VALUES)
    assert result["queryResultFormat"] == "json"
    assert result["returned"] == 1
    assert result["rowset"] == [EDGE_VALUES_JSON]


def test_the_python_connector_keeps_arrow(emulator: Emulator) -> None:
    result = query_as(emulator, "PythonConnector", EDGE_VALUES)
    assert result["queryResultFormat"] == "arrow"
    assert base64.b64decode(result["rowsetBase64"])


# -- what ran is what Terraform declares --------------------------------------------------------
_NAME = r'(?:"[^"]+"|[\w$]+)'
WRITES = re.compile(
    r"^\s*(?:create\s+(?:or\s+replace\s+)?(?:(?:transient|temporary|temp)\s+)?"
    r"(?:table|view|stage|file\s+format|schema)(?:\s+if\s+not\s+exists)?"
    r"|insert\s+(?:overwrite\s+)?into|merge\s+into|update|delete\s+from|copy\s+into"
    r"|alter\s+(?:table|view)(?:\s+if\s+exists)?"
    r"|drop\s+(?:table|view|stage|file\s+format)(?:\s+if\s+exists)?"
    rf"|truncate(?:\s+table)?(?:\s+if\s+exists)?)\s+({_NAME}(?:\.{_NAME}){{0,2}})",
    re.IGNORECASE,
)


def _parts(name: str) -> list[str]:
    return [part.strip('"').upper() for part in re.findall(_NAME, name)]


def schemas_written(statement: dict) -> set[tuple[str, str]]:
    """(access, DATABASE.SCHEMA) a statement needs to create or change objects there (its
    session's database and schema complete a partial name); access is "update" for an UPDATE,
    else "write"."""
    match = WRITES.match(statement["sql"])
    if not match:
        return set()
    access = "update" if re.match(r"\s*update\s", statement["sql"], re.IGNORECASE) else "write"
    parts = _parts(match.group(1))
    database, schema = (statement["database"] or "").upper(), (statement["schema"] or "").upper()
    if re.match(r"\s*create\s+(?:or\s+replace\s+)?schema", statement["sql"], re.IGNORECASE):
        parts = [*parts, "(the schema)"]  # what it names is the schema itself
    if len(parts) == 3:
        database, schema = parts[0], parts[1]
    elif len(parts) == 2:
        schema = parts[0]
    return {(access, declared_name(f"{database}.{schema}"))}


def schemas_read(statement: dict, databases: set[str]) -> set[str]:
    """DATABASE.SCHEMA of every fully qualified name a statement reads from."""
    found = set()
    for database, schema in re.findall(rf"({_NAME})\.({_NAME})\.{_NAME}", statement["sql"]):
        name = declared_name(".".join(_parts(database) + _parts(schema)))
        if name.split(".")[0] in databases:
            found.add(name)
    return found


def may(role: str, access: str, schema: str) -> bool:
    """Whether platform.yaml gives the role `access` (read, update or write) on DATABASE.SCHEMA:
    on the database as a whole or on the schema. Writing includes updating, updating reading;
    INFORMATION_SCHEMA comes with any access to its database."""
    spec = TERRAFORM["roles"].get(role, {})
    database = schema.split(".")[0]
    if schema == f"{SNOWFLAKES_OWN}.ACCOUNT_USAGE":  # through SNOWFLAKE's database roles
        return access == "read" and bool(spec.get("snowflake_database_roles"))
    levels = {"write": ("write",), "update": ("update", "write")}.get(
        access, ("read", "update", "write")
    )
    granted = {entry.upper() for level in levels for entry in spec.get(level, [])}
    if schema.endswith(".INFORMATION_SCHEMA"):
        return any(entry.split(".")[0] == database for entry in granted)
    return database in granted or schema in granted


def test_what_ran_is_what_terraform_declares(prod: ProdRuns) -> None:
    """Every user, role and warehouse the production path signed in with is a service user of
    terraform/platform.yaml in its role, on its warehouse or one its role also uses (the
    real-time flow's); every schema it wrote is declared; every role wrote and
    read only where platform.yaml grants it."""
    users = {f"{key}_SVC": spec for key, spec in TERRAFORM["service_users"].items()}
    logins = [login for login in prod.emulator.logins() if login["user"] != "TEST"]
    signed_in = {(lg["user"], lg["role"], lg["warehouse"], lg["authenticator"]) for lg in logins}
    problems = [
        f"{user} signed in as {role} on {warehouse} ({how})"
        for user, role, warehouse, how in sorted(signed_in)
        if user not in users
        or role not in [users[user]["role"], *users[user].get("other_roles", [])]
        or warehouse
        not in [users[user]["warehouse"], *TERRAFORM["roles"].get(role, {}).get("also_uses", [])]
        or how != "SNOWFLAKE_JWT"
    ]
    declared = declared_schemas()
    databases = {schema.split(".")[0] for schema in declared} | {SNOWFLAKES_OWN}
    used: Counter[tuple[str, str, str]] = Counter()
    for statement in prod.emulator.statements():
        if statement["user"] != "TEST":
            role = statement["role"]
            used.update((role, access, schema) for access, schema in schemas_written(statement))
            used.update((role, "read", schema) for schema in schemas_read(statement, databases))
    for (role, access, schema), count in sorted(used.items()):
        if access != "read" and schema not in declared:
            problems.append(f"{role} wrote {schema}, a schema platform.yaml does not declare")
        if not may(role, access, schema):
            problems.append(f"{role} {access}s {schema} ({count} statements): not granted")
    print("\nsigned in:", sorted(signed_in))
    print("used:", {f"{r} {a} {s}": n for (r, a, s), n in sorted(used.items())})
    workers = {user for user, spec in users.items() if spec["network"] == "worker"}
    assert {user for user, *_ in signed_in} == workers  # every production user, no CI user
    assert problems == []
