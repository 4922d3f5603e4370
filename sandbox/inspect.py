"""Look at the local world from outside the platform: one DuckDB connection over the local RAW
files and the stand-ins' own databases (the shop, the Stripe sandbox's storage), for the tests,
the bench and anyone checking the platform against what the sources really hold."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb

from sandbox.config import LocalShop

RAW_SOURCES = ("postgres", "stripe", "marketing")


def _postgres_extension() -> Path:
    # DuckDB cannot download extensions offline; PyPI's duckdb-ext-postgres ships the binary
    # into site-packages/duckdb_ext/extensions/v<duckdb version>/<platform>/.
    site_packages = Path(duckdb.__file__).resolve().parent.parent
    pattern = f"duckdb_ext/extensions/v{duckdb.__version__}/*/postgres_scanner.duckdb_extension"
    found = sorted(site_packages.glob(pattern))
    if not found:
        raise RuntimeError(f"DuckDB's postgres extension is missing ({site_packages}/{pattern})")
    return found[0]


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def raw_file(shop: LocalShop, source: str) -> Path:
    return shop.warehouse_dir / f"raw_{source}.duckdb"


def connect(
    shop: LocalShop, *, attach_raw: bool = True, attach_postgres: bool = False
) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the RAW files (raw_<source>) and the stand-ins' databases
    (`shop`, `sandbox`) attached read-only."""
    conn = duckdb.connect()
    conn.execute("set TimeZone = 'UTC'")
    if attach_raw:
        for source in RAW_SOURCES:
            path = raw_file(shop, source)
            if path.exists():
                conn.execute(f"attach '{path}' as raw_{source} (read_only)")
    if attach_postgres:
        conn.execute(f"load '{_postgres_extension()}'")
        for alias, database in (("shop", shop.shop_db), ("sandbox", shop.sandbox_db)):
            # Through a secret, not a connection string: DuckDB's errors quote the connection
            # string, password included, and errors reach logs.
            conn.execute(
                f"create temporary secret {alias}_postgres (type postgres, "
                f"host {_literal(shop.pg_host)}, port {shop.pg_port}, "
                f"database {_literal(database)}, user {_literal(shop.pg_user)}, "
                f"password {_literal(shop.pg_password)})"
            )
            conn.execute(
                f"attach '' as {alias} (type postgres, secret {alias}_postgres, read_only)"
            )
    return conn


def analytics(shop: LocalShop) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(shop.warehouse_dir / "analytics.duckdb"), read_only=True)


def source_net_revenue(shop: LocalShop, first: date, last: date) -> Decimal:
    """Net revenue of the days first..last straight from the sources, without any dbt model:
    paid orders' totals placed in the period (the shop) minus refunds issued in it (Stripe's
    storage), what marts.fct_daily_revenue must sum to."""
    conn = connect(shop, attach_raw=False, attach_postgres=True)
    row = conn.execute(
        """
        with paid_orders as (
            select orders.total_cents
            from shop.public.orders as orders
            where cast(cast(orders.placed_at as timestamp) as date) between $first and $last
              and exists (
                  select 1 from shop.public.payments as payments
                  where payments.order_id = orders.order_id and payments.status = 'succeeded'
              )
        ),
        refunds as (
            select amount
            from sandbox.stripe.refunds
            where status = 'succeeded'
              and cast(cast(to_timestamp(created) as timestamp) as date) between $first and $last
        )
        select
            (select coalesce(sum(total_cents), 0) from paid_orders)
            - (select coalesce(sum(amount), 0) from refunds)
        """,
        {"first": first, "last": last},
    ).fetchone()
    conn.close()
    assert row is not None
    return Decimal(int(row[0])) / 100


# Stripe objects as RAW must hold them: the sandbox's storage, compared whole (the platform's
# own reconciliation reaches Stripe only through its API, over a window of days).
STRIPE_COMPARED = {
    "customers": ("email",),
    # Not `disputed`: Stripe sends no charge event when a dispute opens, so tap-stripe keeps a
    # charge's first `disputed`; disputes come from their own stream.
    "charges": ("amount", "amount_refunded"),
    "disputes": ("amount", "status"),
    "balance_transactions": ("amount", "net"),
}


def stripe_differences(shop: LocalShop) -> dict[str, dict[str, int]]:
    """Per Stripe table: objects missing in RAW, in RAW but not in the sandbox, duplicated, and
    with values other than the sandbox's."""
    conn = connect(shop, attach_postgres=True)
    differences = {}
    for table, compared in STRIPE_COMPARED.items():
        values = ", ".join(compared)
        differs = " or ".join(f"s.{c} is distinct from r.{c}" for c in compared)
        missing, extra, duplicated, changed = conn.execute(
            f"""
            with source as (select id, {values} from sandbox.stripe.{table}),
                 raw as (select id, {values} from raw_stripe.stripe.{table})
            select
                (select count(*) from source s anti join raw r using (id)),
                (select count(*) from raw r anti join source s using (id)),
                (select count(*) - count(distinct id) from raw),
                (select count(*) from source s join raw r using (id) where {differs})
            """
        ).fetchone()
        differences[table] = {
            "missing": missing, "extra": extra, "duplicated": duplicated, "changed": changed
        }  # fmt: skip
    conn.close()
    return differences


def mart_net_revenue(shop: LocalShop, first: date, last: date) -> Decimal:
    """Net revenue of the days first..last as marts.fct_daily_revenue has it."""
    with analytics(shop) as conn:
        row = conn.execute(
            "select coalesce(sum(net_revenue), 0) from marts.fct_daily_revenue "
            "where revenue_date between ? and ?",
            [first, last],
        ).fetchone()
    assert row is not None
    return Decimal(row[0])


# tap-stripe's objects per stream: created ones from its windows, and updated ones from the
# stream's events since its events bookmark (at most 30 days).
STRIPE_OBJECT_TYPES = {"charges": "charge", "customers": "customer", "disputes": "dispute"}


def stripe_objects_read(log_file: Path, stream: str) -> tuple[int, int]:
    """(new, updated) objects of a stream that tap-stripe's log says it read."""
    match = re.search(rf"INFO {stream}: (\d+) new, (\d+) updates", log_file.read_text())
    if match is None:
        raise AssertionError(f"tap-stripe reported no {stream} counts in {log_file}")
    return int(match[1]), int(match[2])


def stripe_events_since(shop: LocalShop, created: int | None, stream: str) -> int:
    """Events of a stream's objects the sandbox holds, created at or after `created`."""
    with connect(shop, attach_postgres=True) as conn:
        return conn.execute(
            "select count(*) from sandbox.stripe.events where created >= ? and object_type = ?",
            [created, STRIPE_OBJECT_TYPES[stream]],
        ).fetchone()[0]
