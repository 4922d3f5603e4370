"""Reconcile every RAW table with its source: counts, keys and the values that changes move.

A RAW table is right when every source key is in it exactly once with the source's current
values. Rows deleted at the source stay in RAW under INCREMENTAL replication (it cannot see
hard deletes); they are reported, not failed on.
"""

from __future__ import annotations

from dataclasses import dataclass

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


def _postgres(table: str, key: str) -> TableSpec:
    return TableSpec(
        "postgres",
        table,
        f"shop.public.{table}",
        f"raw_postgres.postgres.{table}",
        (key,),
        ("epoch_ms(updated_at)",),
    )


def _stripe(table: str, compared: tuple[str, ...]) -> TableSpec:
    return TableSpec(
        "stripe", table, f"sandbox.stripe.{table}", f"raw_stripe.stripe.{table}", ("id",), compared
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
    )


def table_specs(settings: Settings) -> list[TableSpec]:
    exports = settings.marketing_dir
    return [
        _postgres("countries", "country_code"),
        _postgres("categories", "category_id"),
        _postgres("products", "product_id"),
        _postgres("customers", "customer_id"),
        _postgres("orders", "order_id"),
        _postgres("order_items", "order_item_id"),
        _postgres("order_status_history", "order_status_id"),
        _postgres("payments", "payment_id"),
        _stripe("customers", ("email",)),
        _stripe("charges", ("amount", "amount_refunded", "disputed")),
        _stripe("disputes", ("amount", "status")),
        _stripe("balance_transactions", ("amount", "net")),
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
    deleted_at_source: int  # RAW keys the source no longer has

    @property
    def ok(self) -> bool:
        return self.missing == 0 and self.outdated == 0 and self.duplicates == 0

    def describe(self) -> str:
        return (
            f"{self.source}.{self.table}: source {self.source_rows} rows, "
            f"RAW {self.raw_rows} rows; "
            f"missing in RAW {self.missing}, outdated {self.outdated}, "
            f"duplicated {self.duplicates}, deleted at source {self.deleted_at_source}"
        )


class ReconciliationError(RuntimeError):
    def __init__(self, failures: list[TableReconciliation]) -> None:
        super().__init__(
            "RAW does not match its sources:\n" + "\n".join(f"  {f.describe()}" for f in failures)
        )
        self.failures = failures


def _reconcile_table(conn: duckdb.DuckDBPyConnection, spec: TableSpec) -> TableReconciliation:
    keys = ", ".join(f"{key} as k{i}" for i, key in enumerate(spec.keys))
    key_names = ", ".join(f"k{i}" for i in range(len(spec.keys)))
    values = ", ".join(f"{value} as v{i}" for i, value in enumerate(spec.compared))
    join = " and ".join(f"s.k{i} = r.k{i}" for i in range(len(spec.keys)))
    differs = " or ".join(f"s.v{i} is distinct from r.v{i}" for i in range(len(spec.compared)))
    row = conn.execute(
        f"""
        with source as (select {keys}, {values} from {spec.source_relation}),
             raw as (select {keys}, {values} from {spec.raw_relation}),
             raw_keys as (select distinct on ({key_names}) * from raw)
        select
            (select count(*) from source),
            (select count(*) from raw),
            (select count(*) from source s anti join raw_keys r on {join}),
            (select count(*) from source s join raw r on {join} where {differs}),
            (select count(*) from raw) - (select count(*) from raw_keys),
            (select count(*) from raw_keys r anti join source s on {join})
        """
    ).fetchone()
    assert row is not None
    return TableReconciliation(spec.source, spec.table, *row)


def reconcile(
    settings: Settings,
    sources: tuple[str, ...] = warehouse.RAW_SOURCES,
    tables: tuple[str, ...] | None = None,
) -> list[TableReconciliation]:
    """Compare the RAW tables of the given sources (all, or the named ones) with their sources;
    raise if any is wrong."""
    conn = warehouse.connect(settings, attach_postgres=True)
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
    failures = [result for result in results if not result.ok]
    if failures:
        raise ReconciliationError(failures)
    return results
