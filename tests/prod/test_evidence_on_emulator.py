"""The report site built from its production source, Snowflake, emulated on 127.0.0.1.

`npm run sources` and `npm run build` run with SHOP_WAREHOUSE=snowflake, so Evidence's own
Snowflake connector (@evidence-dev/snowflake 1.2.4 on snowflake-sdk 1.9.0) reads the unchanged
connection files of reports/environments/snowflake/, logging in as EVIDENCE_SVC with a key pair
made for the test. Its server is fakesnow (transform/fakesnow/.venv) with two test-only pieces:
a Node preload that gives the driver the emulator's address (evidence_emulator.cjs), and JSON
results for the Node driver (fakesnow_json_results.py).

The emulator's ANALYTICS.MARTS holds the report tests' marts fixture (tests/reports/
marts_fixture.py, whose columns are checked against dbt's); SNOWFLAKE.ACCOUNT_USAGE holds stubs
(account_usage_stub.sql). Every source query's rows in the built site must equal the same query's
rows on the emulator, and the revenue figures equal the fixture's to the cent.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest
import snowflake.connector
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from pipeline.reports import REPORTS_DIR, ReportBuild, build_site
from sandbox.config import REPO_ROOT, _free_port, load_settings
from tests.reports import marts_fixture

HERE = Path(__file__).resolve().parent
FAKESNOW_PYTHON = REPO_ROOT / "transform" / "fakesnow" / ".venv" / "bin" / "python"
EMULATOR = HERE / "fakesnow_json_results.py"
PRELOAD = HERE / "evidence_emulator.cjs"
SOURCE_QUERIES = {
    "warehouse": sorted((REPORTS_DIR / "sources" / "warehouse").glob("*.sql")),
    "costs": sorted((REPORTS_DIR / "environments" / "snowflake" / "costs").glob("*.sql")),
}
# The costs source's key is encrypted, the warehouse's is not: both ways Evidence reads a key.
COSTS_KEY_PASSPHRASE = "throwaway passphrase"
pytestmark = pytest.mark.timeout(1800)


@dataclass(frozen=True)
class Emulator:
    port: int
    marts: Path  # the fixture's DuckDB file the emulator's ANALYTICS.MARTS was copied from

    def connect(self) -> snowflake.connector.SnowflakeConnection:
        return snowflake.connector.connect(
            account="shop-test",
            user="TEST",
            password="test",
            host="127.0.0.1",
            port=self.port,
            protocol="http",
            database="ANALYTICS",
            schema="MARTS",
        )

    def query(self, sql: str) -> list[dict[str, Any]]:
        with self.connect() as conn:
            cursor = conn.cursor().execute(sql)
            names = [column.name.lower() for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@dataclass(frozen=True)
class Site:
    build: ReportBuild
    emulator: Emulator

    def rows(self, source: str, query: str) -> list[dict[str, Any]]:
        """A source query's rows as the built site holds them (Evidence's parquet file)."""
        files = list((self.build.output_dir / "data" / source / query).rglob(f"{query}.parquet"))
        assert len(files) == 1, f"the site has no single data file for {source}.{query}: {files}"
        return pq.read_table(files[0]).to_pylist()


def copy_marts(marts: Path, database_file: Path) -> None:
    """The fixture's marts as the emulator's ANALYTICS.MARTS: fakesnow keeps each database in a
    DuckDB file of its database directory, and attaches an existing one at the first login."""
    with duckdb.connect(str(database_file)) as con:
        con.execute(f"attach '{marts}' as fixture (read_only)")
        con.execute("create schema MARTS")
        tables = con.sql(
            "select table_name from information_schema.tables "
            "where table_catalog = 'fixture' and table_schema = 'marts'"
        ).fetchall()
        for (table,) in tables:
            con.execute(f"create table MARTS.{table.upper()} as from fixture.marts.{table}")


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    if not FAKESNOW_PYTHON.exists():
        pytest.fail(f"{FAKESNOW_PYTHON} is missing: run `bash transform/fakesnow/setup.sh`")
    home = tmp_path_factory.mktemp("snowflake-emulator")
    marts = marts_fixture.build(home / "analytics.duckdb")
    databases = home / "databases"
    databases.mkdir()
    copy_marts(marts, databases / "ANALYTICS.db")
    port = _free_port()
    with (home / "emulator.log").open("w") as log:
        server = subprocess.Popen(
            [FAKESNOW_PYTHON, EMULATOR, "--port", str(port), "--db-dir", databases],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        emulator = Emulator(port=port, marts=marts)
        wait_until_serving(emulator, server, home / "emulator.log")
        with emulator.connect() as conn:
            conn.execute_string((HERE / "account_usage_stub.sql").read_text())
            # Text the report must carry unchanged, in a column a source query reads.
            conn.cursor().execute(
                "update ANALYTICS.MARTS.DIM_PRODUCTS set product_name = 'Café «crème» ☕ 東京 🎉' "
                "where product_id = 1"
            )
        yield emulator
    finally:
        server.terminate()
        server.wait(timeout=30)


def wait_until_serving(emulator: Emulator, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            emulator.connect().close()
            return
        except snowflake.connector.errors.OperationalError:
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the emulator did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)


def private_key_pem(passphrase: str | None) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    encryption = (
        serialization.BestAvailableEncryption(passphrase.encode())
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    ).decode()


@pytest.fixture(scope="module")
def site(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Site:
    if not (REPORTS_DIR / "node_modules" / ".bin" / "evidence").exists():
        pytest.fail("reports/node_modules is missing: run `npm install` in reports/ (./run setup)")
    home = tmp_path_factory.mktemp("evidence-on-emulator")
    settings = replace(load_settings(), home=home)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("NODE_OPTIONS", f"{os.environ.get('NODE_OPTIONS', '')} --require {PRELOAD}")
        env.setenv("SNOWFLAKE_HOST", "127.0.0.1")
        env.setenv("SNOWFLAKE_PORT", str(emulator.port))
        env.setenv("SNOWFLAKE_PROTOCOL", "http")
        for source, passphrase in (("warehouse", None), ("costs", COSTS_KEY_PASSPHRASE)):
            env.setenv(f"EVIDENCE_SOURCE__{source}__account", "shop-test")
            env.setenv(f"EVIDENCE_SOURCE__{source}__private_key", private_key_pem(passphrase))
            if passphrase:
                env.setenv(f"EVIDENCE_SOURCE__{source}__passphrase", passphrase)
        build = build_site(
            settings, warehouse="snowflake", output_dir=home / "site", build_timeout=900
        )
    print(build.describe())
    return Site(build=build, emulator=emulator)


# -- the JSON results ---------------------------------------------------------------------------
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
        f"http://127.0.0.1:{emulator.port}{path}",
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


# -- the site -----------------------------------------------------------------------------------
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


@pytest.mark.parametrize(
    ("source", "query"),
    [(source, path) for source, paths in SOURCE_QUERIES.items() for path in paths],
    ids=lambda value: value.stem if isinstance(value, Path) else value,
)
def test_every_source_query_shows_the_warehouse_rows(site: Site, source: str, query: Path) -> None:
    expected = site.emulator.query(query.read_text())
    assert expected, f"{source}.{query.stem} returns no rows on the emulator: nothing is compared"
    assert as_compared(site.rows(source, query.stem)) == as_compared(expected)


def test_the_site_has_every_page(site: Site) -> None:
    assert site.build.pages == [
        "/",
        "/costs/",
        "/customers/",
        "/marketing/",
        "/payments/",
        "/products/",
        "/real-time/",
    ]


def test_net_revenue_equals_the_marts_to_the_cent(site: Site) -> None:
    with duckdb.connect(str(site.emulator.marts), read_only=True) as marts:
        expected = dict(
            marts.sql("select revenue_date, net_revenue from marts.fct_daily_revenue").fetchall()
        )
    shown = {
        row["revenue_date"].date(): row["net_revenue"]
        for row in site.rows("warehouse", "daily_revenue")
    }
    assert shown.keys() == expected.keys()
    assert {day: round(Decimal(value), 2) for day, value in shown.items()} == expected
    assert round(Decimal(sum(shown.values())), 2) == sum(expected.values())
