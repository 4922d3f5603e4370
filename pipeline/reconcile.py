"""Reconcile every RAW table with its source: counts, keys and the values that changes move.

A RAW table is right when every source key is in it exactly once with the source's current
values, and the sums of its money columns equal the source's (a cheap checksum: a value
mangled on the way shows even when keys and change times agree). Rows deleted at the source
stay in RAW under INCREMENTAL replication (it cannot see hard deletes); they are reported,
not failed on. Under change data capture (LOG_BASED) a delete reaches RAW as a row with
`_sdc_deleted_at` set: such rows count as gone, and a key deleted in RAW but alive at the
source is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import duckdb

from pipeline import warehouse
from sandbox.config import Settings


@dataclass(frozen=True)
class TableSpec:
    source: str  # RAW source: postgres | stripe | marketing
    table: str
    source_relation: str  # SQL relation in the attached source
    raw_relation: str
    keys: tuple[str, ...]
    compared: tuple[str, ...]  # values that must match: a change not loaded shows here
    checksums: tuple[str, ...] = ()  # summed over the table on both sides: money columns
    soft_deletes: bool = False  # RAW marks deletes in _sdc_deleted_at (change data capture)


def _postgres(table: str, key: str, checksums: tuple[str, ...] = ()) -> TableSpec:
    return TableSpec(
        "postgres",
        table,
        f"shop.public.{table}",
        f"raw_postgres.postgres.{table}",
        (key,),
        ("epoch_ms(updated_at)",),
        checksums,
        soft_deletes=True,
    )


def _stripe(table: str, compared: tuple[str, ...], checksums: tuple[str, ...] = ()) -> TableSpec:
    return TableSpec(
        "stripe",
        table,
        f"sandbox.stripe.{table}",
        f"raw_stripe.stripe.{table}",
        ("id",),
        compared,
        checksums,
    )


def _marketing(table: str, compared: tuple[str, ...], files: str) -> TableSpec:
    source = f"read_csv('{files}', all_varchar = true, header = true)"
    return TableSpec(
        "marketing",
        table,
        source,
        f"raw_marketing.marketing.{table}",
        ("date::date", "campaign_id"),
        compared,
        checksums=compared,
    )


def table_specs(settings: Settings) -> list[TableSpec]:
    exports = settings.marketing_dir
    return [
        _postgres("countries", "country_code"),
        _postgres("categories", "category_id"),
        _postgres("products", "product_id", ("price_cents", "unit_cost_cents")),
        _postgres("customers", "customer_id"),
        _postgres(
            "orders",
            "order_id",
            ("subtotal_cents", "discount_cents", "shipping_cents", "tax_cents", "total_cents"),
        ),
        _postgres(
            "order_items", "order_item_id", ("unit_price_cents * quantity", "discount_cents")
        ),
        _postgres("order_status_history", "order_status_id"),
        _postgres("payments", "payment_id", ("amount_cents",)),
        _stripe("customers", ("email",)),
        # Not `disputed`: Stripe sends no charge event when a dispute opens, so tap-stripe,
        # which follows changes through events, keeps a charge's first `disputed`. Disputes
        # are reconciled from their own stream, which is where dbt takes them from.
        _stripe("charges", ("amount", "amount_refunded"), ("amount", "amount_refunded")),
        _stripe("disputes", ("amount", "status"), ("amount",)),
        _stripe("balance_transactions", ("amount", "net"), ("amount", "net")),
        _marketing(
            "marketing_spend",
            ("round(spend::decimal(18, 2) * 100)::bigint",),
            f"{exports}/marketing_spend/*.csv",
        ),
        _marketing(
            "campaign_performance",
            ("clicks::bigint", "round(conversion_value::decimal(18, 2) * 100)::bigint"),
            f"{exports}/campaign_performance/*.csv",
        ),
    ]


@dataclass(frozen=True)
class TableReconciliation:
    source: str
    table: str
    source_rows: int
    raw_rows: int
    missing: int  # source keys not in RAW
    outdated: int  # in RAW, but with values older than the source's
    duplicates: int  # RAW rows beyond one per key
    deleted_at_source: int  # RAW keys the source no longer has, not marked deleted in RAW
    deleted_in_raw: int = 0  # RAW keys marked deleted (_sdc_deleted_at), gone at the source
    checksum_mismatches: tuple[str, ...] = ()  # "sum(x): source S, RAW R" where they differ

    @property
    def ok(self) -> bool:
        return (
            self.missing == 0
            and self.outdated == 0
            and self.duplicates == 0
            and not self.checksum_mismatches
        )

    def describe(self) -> str:
        checksums = (
            f"; checksums differ: {', '.join(self.checksum_mismatches)}"
            if self.checksum_mismatches
            else ""
        )
        return (
            f"{self.source}.{self.table}: source {self.source_rows} rows, "
            f"RAW {self.raw_rows} rows; "
            f"missing in RAW {self.missing}, outdated {self.outdated}, "
            f"duplicated {self.duplicates}, deleted at source {self.deleted_at_source}, "
            f"deleted in RAW {self.deleted_in_raw}{checksums}"
        )


class ReconciliationError(RuntimeError):
    def __init__(self, failures: list[TableReconciliation]) -> None:
        super().__init__(
            "RAW does not match its sources:\n" + "\n".join(f"  {f.describe()}" for f in failures)
        )
        self.failures = failures


def _has_column(conn: duckdb.DuckDBPyConnection, relation: str, column: str) -> bool:
    database, schema, table = relation.split(".")
    return bool(
        conn.execute(
            "select count(*) from duckdb_columns() where database_name = ? and schema_name = ? "
            "and table_name = ? and column_name = ?",
            [database, schema, table, column],
        ).fetchone()[0]
    )


def _reconcile_table(conn: duckdb.DuckDBPyConnection, spec: TableSpec) -> TableReconciliation:
    keys = ", ".join(f"{key} as k{i}" for i, key in enumerate(spec.keys))
    key_names = ", ".join(f"k{i}" for i in range(len(spec.keys)))
    values = ", ".join(f"{value} as v{i}" for i, value in enumerate(spec.compared))
    sums = "".join(f", {expr} as c{i}" for i, expr in enumerate(spec.checksums))
    join = " and ".join(f"s.k{i} = r.k{i}" for i in range(len(spec.keys)))
    differs = " or ".join(f"s.v{i} is distinct from r.v{i}" for i in range(len(spec.compared)))
    deleted = (
        "_sdc_deleted_at is not null"
        if spec.soft_deletes and _has_column(conn, spec.raw_relation, "_sdc_deleted_at")
        else "false"
    )
    # Over the keys the source still has: rows hard-deleted at the source stay in RAW under
    # INCREMENTAL replication and are counted apart (deleted at source), not summed here.
    checksum_pairs = "".join(
        f", (select sum(c{i}) from source),"
        f" (select sum(r.c{i}) from raw_keys r semi join source s on {join})"
        for i in range(len(spec.checksums))
    )
    row = conn.execute(
        f"""
        with source as (select {keys}, {values}{sums} from {spec.source_relation}),
             raw_all as (
                 select {keys}, {values}{sums}, {deleted} as deleted from {spec.raw_relation}
             ),
             raw as (select * exclude (deleted) from raw_all where not deleted),
             raw_keys as (select distinct on ({key_names}) * from raw)
        select
            (select count(*) from source),
            (select count(*) from raw),
            (select count(*) from source s anti join raw_keys r on {join}),
            (select count(*) from source s join raw r on {join} where {differs}),
            (select count(*) from raw) - (select count(*) from raw_keys),
            (select count(*) from raw_keys r anti join source s on {join}),
            (select count(distinct ({key_names})) from raw_all where deleted)
            {checksum_pairs}
        """
    ).fetchone()
    assert row is not None
    counts, checksums = row[:7], row[7:]
    mismatches = tuple(
        f"sum({expr}): source {checksums[2 * i]}, RAW {checksums[2 * i + 1]}"
        for i, expr in enumerate(spec.checksums)
        if checksums[2 * i] != checksums[2 * i + 1]
    )
    return TableReconciliation(spec.source, spec.table, *counts, checksum_mismatches=mismatches)


def _reconcile_tables(
    conn: duckdb.DuckDBPyConnection,
    settings: Settings,
    sources: tuple[str, ...],
    tables: tuple[str, ...] | None,
) -> list[TableReconciliation]:
    conn.execute("set TimeZone = 'UTC'")
    attached = {
        row[0] for row in conn.execute("select database_name from duckdb_databases()").fetchall()
    }
    results = []
    for spec in table_specs(settings):
        if spec.source not in sources or (tables is not None and spec.table not in tables):
            continue
        if f"raw_{spec.source}" not in attached:
            path = warehouse.raw_file(settings, spec.source)
            raise FileNotFoundError(f"RAW file of source {spec.source} not found at {path}")
        results.append(_reconcile_table(conn, spec))
    return results


def reconcile(
    settings: Settings,
    sources: tuple[str, ...] = warehouse.RAW_SOURCES,
    tables: tuple[str, ...] | None = None,
) -> list[TableReconciliation]:
    """Compare the RAW tables of the given sources (all, or the named ones) with their sources;
    raise if any is wrong."""
    conn = warehouse.connect(settings, attach_postgres=True)
    try:
        results = _reconcile_tables(conn, settings, sources, tables)
    finally:
        conn.close()  # the RAW files stay free for the loaders (one writer per file)
    failures = [result for result in results if not result.ok]
    if failures:
        raise ReconciliationError(failures)
    return results


def source_net_revenue(settings: Settings, first: date, last: date) -> Decimal:
    """Net revenue of the days first..last straight from the sources, without any dbt model:
    paid orders' totals placed in the period (the shop) minus refunds issued in it (Stripe),
    what marts.fct_daily_revenue must sum to."""
    conn = warehouse.connect(settings, attach_raw=False, attach_postgres=True)
    conn.execute("set TimeZone = 'UTC'")
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
