"""Faults and hostile input on one small shop: generated, salted with hostile values and edge
cases, loaded into RAW once. Each fault test breaks a stage at its worst moment; the stage
either succeeds after retrying or fails with one error naming the cause, and a normal run
afterwards reconciles exactly (no loss, no duplicates, money sums equal)."""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from pipeline import extract_load, meltano, reconcile, transform
from pipeline.warehouse import WarehouseBusyError
from sandbox import generator, inspect, postgres, services
from sandbox.config import LocalShop

pytestmark = pytest.mark.integration

# Values that break naive quoting, encodings or trimming; NUL-free (PostgreSQL text has none).
HOSTILE_TEXTS = (
    "O'Brien'; DROP TABLE customers; --",
    'Robert"); DELETE FROM orders WHERE (1=1',
    "Zoë 🧪🚀 Ünïcødé — “quotes” ‘single’",  # noqa: RUF001 (on purpose)
    "مرحبا بالعالم שלום",
    "\u202eevil\u202c right-to-left override",
    "tab\there\x0bvertical\x1funit-sep\x7fdel",
    "  leading and trailing spaces  ",
    "back\\slash 100% _under_ $1 {{ jinja }} ${shell}",
    "日本語テキスト 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",  # noqa: RUF001 (on purpose)
    "line\nbreak\r\ncrlf",
)
# The export contract refuses a carriage return in a value (the CSV tap would turn it into "\n").
HOSTILE_CSV_TEXTS = tuple(text.replace("\r", "") for text in HOSTILE_TEXTS)
HOSTILE_EMAILS = (
    "o'brien+tag@example.com",
    "zoë.ünïcødé@exämple.com",
    '"quoted; drop"@example.com',
    "RTL.\u202euser@example.com",
)
FIRST_NEW_ID = 900_000_000  # far above the generator's ids
ORDER_WITHOUT_ITEMS = FIRST_NEW_ID
ORDER_OF_ZERO_TOTAL = FIRST_NEW_ID + 1
HOSTILE_CAMPAIGN = "cmp_hostile"


def _salt_the_shop(settings: LocalShop) -> None:
    """Hostile names, emails and product titles, an order without items, one of zero total,
    and a marketing export whose campaign names are hostile."""
    now = datetime.now(UTC) - timedelta(seconds=1)
    with postgres.connect(settings, settings.shop_db, autocommit=True) as conn:
        country, customer = conn.execute("select country_code, min(customer_id) from customers "
                                         "group by 1 order by 2 limit 1").fetchone()  # fmt: skip
        category = conn.execute("select min(category_id) from categories").fetchone()[0]
        for i, text in enumerate(HOSTILE_TEXTS):
            conn.execute(
                "insert into customers values (%s, %s, %s, %s, %s, %s, %s, 'direct', false, "
                "null, %s, %s)",
                [FIRST_NEW_ID + i, HOSTILE_EMAILS[i % len(HOSTILE_EMAILS)].replace("@", f"{i}@"),
                 text, text[::-1], country, text, f"{i:05d}", now, now],
            )  # fmt: skip
            conn.execute(
                "insert into products values (%s, %s, %s, %s, 1999, 999, 'USD', true, %s, %s)",
                [FIRST_NEW_ID + i, f"SKU-HOSTILE-{i}", text, category, now, now],
            )
        for order_id, subtotal, discount in ((ORDER_WITHOUT_ITEMS, 1999, 0),
                                             (ORDER_OF_ZERO_TOTAL, 1000, 1000)):  # fmt: skip
            conn.execute(
                "insert into orders values (%s, %s, 'pending', 'USD', %s, %s, 0, 0, %s, %s, "
                "null, null, %s, %s, %s)",
                [order_id, customer, subtotal, discount, subtotal - discount, country, now, now,
                 now],
            )  # fmt: skip
    spend = settings.marketing_dir / "marketing_spend" / "marketing_spend_2000-01-01.csv"
    rows = "".join(
        f'2000-01-0{1 + i % 9},paid_social,{HOSTILE_CAMPAIGN}_{i},"{text.replace(chr(34), 2 * chr(34))}",1.00,USD\n'  # noqa: E501
        for i, text in enumerate(HOSTILE_CSV_TEXTS)
    )
    spend.write_text(f"date,channel,campaign_id,campaign_name,spend,currency\n{rows}")


def assert_reconciled(
    shop: LocalShop, jobs: list[str] | None = None
) -> list[reconcile.TableReconciliation]:
    """No loss, no duplicates, values current, money sums equal (reconcile raises otherwise)."""
    results = reconcile.reconcile(shop.platform(), jobs)
    for result in results:
        assert result.raw_rows - result.deleted_at_source == result.source_rows, result.describe()
    return results


@pytest.fixture(scope="module", autouse=True)
def _distinctive_secrets() -> Iterator[None]:
    """Autouse, so it precedes shop_home: secrets no ordinary log line could contain by chance
    (the default password is the word 'sandbox'), for the log scan at the end."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TAP_POSTGRES_PASSWORD", f"pg-{secrets.token_hex(12)}")
        patch.setenv("TAP_STRIPE_CLIENT_SECRET", f"sk_test_{secrets.token_hex(12)}")
        yield


@pytest.fixture(scope="module")
def shop(shop_home: LocalShop) -> LocalShop:
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    generator.generate(shop_home, months=0.01, orders_per_month=100_000, seed=7, end=end)
    _salt_the_shop(shop_home)
    services.start_stripe_sandbox(shop_home)
    extract_load.run_jobs(shop_home.platform())
    assert_reconciled(shop_home)
    return shop_home


def pids_of_home(settings: LocalShop, *commands: str) -> list[int]:
    """Processes running for this home (SHOP_HOME in their environment) whose command line
    contains one of `commands`."""
    marker = f"SHOP_HOME={settings.home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if marker in environ and any(command in cmdline for command in commands):
            found.append(int(entry.name))
    return found


def wait_for(condition, what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout_s} s: {what}"
        time.sleep(0.1)


@dataclass
class KilledBuild:
    error: str  # what transform.build raised
    models_done: int  # models dbt had finished when it was killed


def _kill_dbt_after(settings: LocalShop, models_done: int, killed: KilledBuild) -> None:
    log = settings.log_dir / "dbt" / "dbt.log"

    def done() -> int:
        return log.read_text(errors="replace").count(" OK created ") if log.exists() else 0

    wait_for(lambda: done() >= models_done, f"{models_done} dbt models built", 120)
    (pid,) = pids_of_home(settings, "bin/dbt build")
    killed.models_done = done()
    os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def marts(shop: LocalShop) -> tuple[KilledBuild, transform.BuildSummary]:
    """The marts, built by a `dbt build` that was first SIGKILLed in the middle (after eight
    models, while it writes analytics.duckdb) and then simply run again."""
    (shop.log_dir / "dbt" / "dbt.log").unlink(missing_ok=True)
    killed = KilledBuild(error="", models_done=0)
    killer = threading.Thread(target=_kill_dbt_after, args=(shop, 8, killed))
    killer.start()
    with pytest.raises(transform.TransformError) as error:
        transform.build(shop.platform())
    killer.join()
    killed.error = str(error.value)
    return killed, transform.build(shop.platform())


def _analytics(settings: LocalShop) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(settings.warehouse_dir / "analytics.duckdb"), read_only=True)


def test_dbt_killed_mid_build_then_the_next_build_completes(shop: LocalShop, marts) -> None:
    killed, rebuilt = marts
    print(f"\nkilled after {killed.models_done} models: {killed.error.splitlines()[0]}")
    assert killed.error.startswith("dbt build failed to run (exit -9)")
    assert rebuilt.ok, rebuilt.describe()
    with _analytics(shop) as conn:
        orders, distinct = conn.execute(
            "select count(*), count(distinct order_id) from marts.fct_orders"
        ).fetchone()
    assert_reconciled(shop, ["el-postgres"])
    with postgres.connect(shop, shop.shop_db) as source:
        (at_source,) = source.execute("select count(*) from orders").fetchone()
    assert orders == distinct == at_source


def test_hostile_values_reach_raw_byte_equal(shop: LocalShop) -> None:
    conn = inspect.connect(shop, attach_postgres=True)
    for table, key, columns in (
        ("customers", "customer_id", "email, first_name, last_name, city"),
        ("products", "product_id", "name"),
    ):
        query = f"select {key}, {columns} from {{}}.{table} where {key} >= ? order by 1"
        source = conn.execute(query.format("shop.public"), [FIRST_NEW_ID]).fetchall()
        raw = conn.execute(query.format("raw_postgres.postgres"), [FIRST_NEW_ID]).fetchall()
        assert raw == source and len(raw) == len(HOSTILE_TEXTS), table
        assert {row[-1] for row in raw} == set(HOSTILE_TEXTS), table
    campaigns = conn.execute(
        "select campaign_name from raw_marketing.marketing.marketing_spend "
        "where campaign_id like ?",
        [f"{HOSTILE_CAMPAIGN}%"],
    ).fetchall()
    conn.close()
    assert sorted(name for (name,) in campaigns) == sorted(HOSTILE_CSV_TEXTS)


def test_hostile_values_reach_the_marts_untouched_or_hashed(shop: LocalShop, marts) -> None:
    with postgres.connect(shop, shop.shop_db) as conn:
        emails = dict(
            conn.execute(
                "select customer_id, email from customers where customer_id >= %s",
                [FIRST_NEW_ID],
            ).fetchall()
        )
    with _analytics(shop) as conn:
        products = conn.execute(
            "select product_name from marts.dim_products where product_id >= ? and is_current",
            [FIRST_NEW_ID],
        ).fetchall()
        customers = conn.execute(
            "select customer_id, email, first_name, last_name, city from marts.dim_customers "
            "where customer_id >= ? and is_current",
            [FIRST_NEW_ID],
        ).fetchall()
        campaigns = conn.execute(
            "select distinct campaign_name from marts.fct_marketing_performance "
            "where campaign_id like ?",
            [f"{HOSTILE_CAMPAIGN}%"],
        ).fetchall()
    assert sorted(name for (name,) in products) == sorted(HOSTILE_TEXTS)
    assert sorted(name for (name,) in campaigns) == sorted(HOSTILE_CSV_TEXTS)
    assert sorted(city for *_, city in customers) == sorted(HOSTILE_TEXTS)  # not PII: as is
    for customer_id, email, first_name, last_name, _ in customers:
        assert email == hashlib.sha256(emails[customer_id].lower().encode()).hexdigest()
        assert first_name == last_name == "*****"


def test_orders_without_items_or_of_zero_total_are_kept(shop: LocalShop, marts) -> None:
    with _analytics(shop) as conn:
        orders = conn.execute(
            "select order_id, order_total, discount_amount, line_count from marts.fct_orders "
            "where order_id in (?, ?) order by 1",
            [ORDER_WITHOUT_ITEMS, ORDER_OF_ZERO_TOTAL],
        ).fetchall()
    assert [(o, float(t), float(d), n) for o, t, d, n in orders] == [
        (ORDER_WITHOUT_ITEMS, 19.99, 0.0, 0),
        (ORDER_OF_ZERO_TOTAL, 0.0, 10.0, 0),
    ]


# What the reports must never show: an email address, a phone number, a street address.
PII_PATTERNS = {
    "email": r"[^@\s]+@[^@\s]+\.[a-z]{2,}",
    "phone": r"^\+?[0-9][0-9 ().-]{7,}[0-9]$",
    "street address": r"\b[0-9]+\s+\w+\s+(street|st|avenue|ave|road|rd|lane|ln|strasse)\b",
}


def test_the_marts_the_reports_read_hold_no_raw_pii(shop: LocalShop, marts) -> None:
    with postgres.connect(shop, shop.shop_db) as conn:
        personal = {
            value
            for row in conn.execute("select email, first_name, last_name from customers")
            for value in row
        }
    found: dict[str, int] = {}
    with _analytics(shop) as conn:
        columns = conn.execute(
            "select table_name, column_name from duckdb_columns() "
            "where schema_name = 'marts' and data_type = 'VARCHAR'"
        ).fetchall()
        for table, column in columns:
            query = f'select distinct "{column}" from marts.{table}'
            values = [value for (value,) in conn.execute(query).fetchall()]
            for kind, pattern in PII_PATTERNS.items():
                hits = [v for v in values if v and re.search(pattern, v, re.IGNORECASE)]
                if hits:
                    found[f"{table}.{column} {kind}-like"] = len(hits)
            leaked = personal.intersection(values) - set(HOSTILE_TEXTS)  # cities reuse them
            if leaked:
                found[f"{table}.{column} source PII"] = len(leaked)
    assert len(columns) > 30
    assert found == {}


def _a_query_waits_on_a_lock(settings: LocalShop) -> bool:
    with postgres.connect(settings, settings.shop_db, autocommit=True) as conn:
        return conn.execute(
            "select count(*) > 0 from pg_stat_activity "
            "where wait_event_type = 'Lock' and datname = current_database()"
        ).fetchone()[0]


@contextmanager
def _tap_blocked_on_orders(settings: LocalShop) -> Iterator[int]:
    """Once a run's tap starts syncing (after discovery), freeze it, lock the shop's orders
    table exclusively, and let it go on: it blocks on orders mid-run, after the tables before
    it, so a kill lands at a known point. Yields the tap's pid; the lock ends with the block."""
    with postgres.connect(settings, settings.shop_db) as conn:
        wait_for(lambda: pids_of_home(settings, "--catalog"), "the tap starts syncing")
        (tap,) = pids_of_home(settings, "--catalog")  # the sync; discovery runs --discover
        os.kill(tap, signal.SIGSTOP)
        conn.execute("lock table orders in access exclusive mode")
        os.kill(tap, signal.SIGCONT)
        wait_for(lambda: _a_query_waits_on_a_lock(settings), "the tap blocks on orders")
        yield tap
        conn.rollback()


def _change_orders(settings: LocalShop) -> None:
    """Changes for a killed run to miss (the generator's simulate cannot run here: it does not
    know the hostile products)."""
    with postgres.connect(settings, settings.shop_db, autocommit=True) as conn:
        conn.execute(
            "update orders set updated_at = now(), status = 'cancelled' where order_id in "
            "(select order_id from orders where status = 'pending' order by order_id limit 20)"
        )


def test_the_tap_then_the_orchestrating_process_killed_mid_run(shop: LocalShop) -> None:
    """SIGKILL of the tap, then of the process that runs the jobs (a flow run's process; here
    `shop extract-load`), each while the tap reads: Meltano and the loader die with the
    orchestrating process instead of writing on beside the next run, and one normal run
    afterwards catches up with both."""
    _change_orders(shop)
    log_file = shop.log_dir / "el-postgres-tap-killed.log"
    process = meltano.start(shop.platform(), ["run", "el-postgres"], log_file)
    try:
        with _tap_blocked_on_orders(shop) as tap:
            os.kill(tap, signal.SIGKILL)
            assert process.wait(timeout=60) != 0
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert "[error" in log_file.read_text()  # Meltano reports the failed block

    _change_orders(shop)
    cli = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "extract-load", "--job", "el-postgres"],
        env={**os.environ, **shop.as_environment()},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    with _tap_blocked_on_orders(shop):
        cli.kill()
        cli.wait()
        wait_for(lambda: not pids_of_home(shop, "bin/meltano", "bin/target-duckdb-batch"),
                 "Meltano and the loader end with the killed process", 30)  # fmt: skip
    wait_for(lambda: not pids_of_home(shop, "bin/tap-postgres"), "the unblocked tap ends", 30)

    extract_load.run_job(shop.platform(), "el-postgres")
    assert_reconciled(shop, ["el-postgres"])


def test_stripe_bursts_of_500s_and_429s_are_retried_through(shop: LocalShop) -> None:
    job = "el-stripe"
    meltano.clear_state(shop.platform(), job)
    services.stop_stripe_sandbox(shop)
    wait_for(lambda: _port_is_free(shop.stripe_port), "the sandbox's port is free", 10)
    sandbox_log = shop.log_dir / "stripe-sandbox.log"
    sandbox_log.unlink(missing_ok=True)
    # A full re-read (~250 requests): 4 500s in a row after 150 requests, 3 429s after 200.
    services.start_stripe_sandbox(shop, fault_bursts=("500:150:4", "429:200:3"))
    try:
        extract_load.run_job(shop.platform(), job)
    finally:
        services.stop_stripe_sandbox(shop)
        wait_for(lambda: _port_is_free(shop.stripe_port), "the sandbox's port is free", 10)
        services.start_stripe_sandbox(shop)
    injected = re.findall(r"injected (\d+) on request (\d+)", sandbox_log.read_text())
    print("\ninjected:", injected)
    assert [n for status, n in injected if status == "500"][:4] == ["151", "152", "153", "154"]
    assert [n for status, n in injected if status == "429"][:3] == ["201", "202", "203"]
    assert_reconciled(shop, ["el-stripe"])


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def _hold_duckdb_file(path: Path) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
         "print('open', flush=True); time.sleep(300)", str(path)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
    return holder


def test_a_raw_file_held_by_another_process_is_named(shop: LocalShop) -> None:
    raw_file = inspect.raw_file(shop, "postgres")
    holder = _hold_duckdb_file(raw_file)
    try:
        with pytest.raises(WarehouseBusyError) as error:
            extract_load.run_job(shop.platform(), "el-postgres")
    finally:
        holder.kill()
        holder.wait()
    message = str(error.value)
    print("\n" + message)
    assert message.startswith("cannot open the local warehouse: ")
    assert f'Could not set lock on file "{raw_file}"' in message
    assert "Conflicting lock is held" in message
    assert f"PID {holder.pid}" in message
    assert_reconciled(shop)  # nothing was loaded, nothing was lost


def test_the_analytics_file_held_by_another_process_is_named(shop: LocalShop, marts) -> None:
    analytics = shop.warehouse_dir / "analytics.duckdb"
    holder = _hold_duckdb_file(analytics)
    try:
        with pytest.raises(transform.TransformError) as error:
            transform.build(shop.platform())
    finally:
        holder.kill()
        holder.wait()
    first_line = str(error.value).splitlines()[0]
    print("\n" + first_line)
    assert first_line.startswith("dbt build failed to run (exit 2): ")
    assert f'Could not set lock on file "{analytics}"' in first_line
    assert f"PID {holder.pid}" in first_line
    assert_reconciled(shop)


def test_an_unwritable_warehouse_folder_is_named(shop: LocalShop) -> None:
    shop.warehouse_dir.chmod(0o555)
    # As root, only without CAP_DAC_OVERRIDE do folder permissions apply.
    no_override = "-dac_override,-dac_read_search"
    try:
        result = subprocess.run(
            ["setpriv", f"--inh-caps={no_override}", f"--bounding-set={no_override}",
             sys.executable, "-m", "flows.cli", "extract-load", "--job", "el-marketing"],
            env={**os.environ, **shop.as_environment()}, capture_output=True, text=True,
            timeout=120,
        )  # fmt: skip
    finally:
        shop.warehouse_dir.chmod(0o755)
    print("\n" + result.stderr)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: cannot write to {shop.warehouse_dir} (Permission denied): the pipeline "
        "needs it writable; fix its permissions or set SHOP_HOME to a writable folder"
    )
    assert_reconciled(shop)


def test_ports_already_in_use_are_named(shop: LocalShop) -> None:
    elsewhere = replace(shop, home=shop.home / "elsewhere")  # a home never started
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        with pytest.raises(postgres.PostgresError) as pg_error:
            postgres.start(replace(elsewhere, pg_port=port))
        with pytest.raises(services.ServiceError) as stripe_error:
            services.start_stripe_sandbox(replace(elsewhere, stripe_port=port))
    assert str(pg_error.value) == (
        f"port {port} on 127.0.0.1 is already in use by another process; stop it or set "
        "TAP_POSTGRES_PORT to a free port"
    )
    assert str(stripe_error.value) == (
        f"port {port} on 127.0.0.1 is already in use by another process; stop it or point "
        "STRIPE_API_BASE at a free port"
    )
    assert not postgres.is_running(replace(elsewhere, pg_port=port))
    assert_reconciled(shop)


# Formats of secrets that must never reach a log, whatever their value.
SECRET_PATTERNS = {
    "private key": r"-----BEGIN [A-Z ]*PRIVATE KEY-----",
    "Stripe live key": r"\b[sr]k_live_[0-9a-zA-Z]{10,}",
    "password in a URL": r"[a-z+]+://[^/\s:@]+:[^/\s@]+@",
    "password setting": r"(?i)\bpassword\b\s*[=:]\s*['\"]?[^\s'\",}*]{4,}",
}


def test_the_logs_of_all_these_runs_hold_no_secret(shop: LocalShop) -> None:
    """Last: by now the logs hold normal runs, killed runs and failures of every stage."""
    known = {"PostgreSQL password": shop.pg_password, "Stripe key": shop.stripe_api_key}
    logs = [p for p in shop.log_dir.rglob("*") if p.is_file()]
    logs.append(shop.pg_data_dir / "server.log")
    assert len(logs) > 5
    found = []
    for path in logs:
        text = path.read_text(errors="replace")
        found += [f"{path}: {name}" for name, value in known.items() if value in text]
        found += [f"{path}: {name}" for name, rx in SECRET_PATTERNS.items() if re.search(rx, text)]
    assert found == []
