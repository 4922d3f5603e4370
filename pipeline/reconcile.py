"""Reconcile RAW with its sources, through the interfaces production has: the shop's PostgreSQL
through its own connection, Stripe through its API, the export files where they are — each
against the warehouse through its connector (DuckDB locally, Snowflake in production).

A RAW table is right when every source row is in it exactly once with the source's current
values. What each table is compared by is declared once, in the dbt sources' `meta`
(pipeline/catalog.py).

- PostgreSQL tables: checksums by key range. Both sides aggregate per range of the primary key
  (count, key sum, a checksum of key and change time, the money sums); only ranges that differ
  are compared row by row. The shop is live: rows changed after the run's extraction began
  (the tap's `pending_since`, before any transaction still open then) are not expected in RAW
  yet and are left out.
- Stripe: every object the API lists as created in the window (the days before the tap's
  bookmark) is in RAW once with the same money; and over the whole history, each day's shop
  payments and Stripe charges agree (count and amount per status), so every succeeded payment
  has its charge with the same amount, and the reverse.
- Marketing exports: every row of every file the tap has read is in RAW with the file's values.

Rows deleted at the source stay in RAW under INCREMENTAL replication (the tap cannot see hard
deletes); they are reported, not failed on. Under change data capture a delete reaches RAW as a
row with `_sdc_deleted_at`: such rows count as gone, and a key deleted in RAW but alive at the
source is missing.
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import psycopg

from pipeline import catalog, exports, key_ranges, meltano, shop_database, stripe_api, warehouse
from pipeline.catalog import SourceTable
from pipeline.errors import PlatformError
from pipeline.key_ranges import CHECKSUM_PRIME, KeyRanges
from pipeline.settings import Settings
from pipeline.warehouse import Warehouse

RANGES_EXAMINED = 64  # differing ranges compared row by row, per table
DAY_US = 86_400_000_000
# Stripe objects compared one by one with the API: those created in the days before the tap's
# bookmark (a page of 100 objects per request; the whole history is covered by the shop's
# payments, below).
STRIPE_API_DAYS = 2
CENT = Decimal("0.01")  # export values are compared as the files write them: to the cent


@dataclass(frozen=True)
class TableReconciliation:
    source: str
    table: str
    source_rows: int
    raw_rows: int
    missing: int  # source rows not in RAW
    outdated: int  # in RAW, but with values other than the source's
    duplicates: int  # RAW rows beyond one per key
    deleted_at_source: int  # RAW keys the source no longer has, not marked deleted in RAW
    deleted_in_raw: int = 0  # RAW keys marked deleted (_sdc_deleted_at), gone at the source
    problems: tuple[str, ...] = ()  # other differences, in words
    scope: str = ""  # what was compared: "up to <time>", "created <from>..<to>"

    @property
    def ok(self) -> bool:
        return not (self.missing or self.outdated or self.duplicates or self.problems)

    def describe(self) -> str:
        problems = f"; {'; '.join(self.problems)}" if self.problems else ""
        scope = f" ({self.scope})" if self.scope else ""
        return (
            f"{self.source}.{self.table}{scope}: source {self.source_rows} rows, "
            f"RAW {self.raw_rows} rows; missing in RAW {self.missing}, outdated {self.outdated}, "
            f"duplicated {self.duplicates}, deleted at source {self.deleted_at_source}, "
            f"deleted in RAW {self.deleted_in_raw}{problems}"
        )


class ReconciliationError(PlatformError):
    def __init__(self, failures: list[TableReconciliation]) -> None:
        super().__init__(
            "RAW does not match its sources:\n" + "\n".join(f"  {f.describe()}" for f in failures)
        )
        self.failures = failures


def reconcile(
    settings: Settings, jobs: Sequence[str] | None = None, tables: Iterable[str] | None = None
) -> list[TableReconciliation]:
    """Compare what the jobs (default: the daily jobs) load with their sources, each as of its
    last run; raise ReconciliationError naming every table that differs."""
    results = [r for found in reconcile_each(settings, jobs, tables).values() for r in found]
    failures = [result for result in results if not result.ok]
    if failures:
        raise ReconciliationError(failures)
    return results


def reconcile_each(
    settings: Settings, jobs: Sequence[str] | None = None, tables: Iterable[str] | None = None
) -> dict[str, list[TableReconciliation]]:
    """Per job (default: the daily jobs), its tables compared with their sources, as of its last
    run; a table that differs says so in its result (`ok`), nothing is raised."""
    jobs = list(jobs or settings.daily_jobs)
    wanted = set(tables) if tables is not None else None
    # The jobs at once, each on connections of its own: each mostly waits on its source or RAW.
    with ThreadPoolExecutor() as pool:
        futures = {job: pool.submit(reconcile_job, settings, job, wanted) for job in jobs}
        return {job: future.result() for job, future in futures.items()}


def reconcile_job(
    settings: Settings, job: str, wanted: set[str] | None = None
) -> list[TableReconciliation]:
    """The job's tables (those `wanted`) compared with their sources as of its last run."""
    source = meltano.source_of(job)
    declared = [
        t
        for t in catalog.tables_of(source)
        if t.name in meltano.job_tables(job) and (wanted is None or t.name in wanted)
    ]
    if not declared:
        return []
    as_of = read_up_to(settings, job)
    with warehouse.connect(settings, [source]) as raw:
        if source == "postgres":
            columns = raw.raw_columns("postgres")
            with shop_database.connect(settings.postgres) as shop:
                return [_postgres_table(shop, raw, columns, t, as_of.of(t.name)) for t in declared]
        if source == "stripe":
            found = [_stripe_table(settings, raw, t, as_of.of(t.name)) for t in declared]
            if any(t.shop_payments for t in declared):
                with shop_database.connect(settings.postgres) as shop:
                    found += [
                        _shop_payments(shop, raw, t, as_of.of(t.name))
                        for t in declared
                        if t.shop_payments
                    ]
            return found
        return [_export_table(settings, raw, t, as_of.of(t.name)) for t in declared]


@dataclass(frozen=True)
class ReadUpTo:
    """What a job's last run read up to, per table: changes after it are not expected in RAW
    yet."""

    default: datetime
    tables: dict[str, datetime]

    def of(self, table: str) -> datetime:
        return self.tables.get(table, self.default)


def read_up_to(settings: Settings, job: str) -> ReadUpTo:
    """From the job's bookmarks. tap-postgres: `pending_since`, the start of its last run before
    any transaction open then (meltano/plugins/tap-postgres-launcher); tap-stripe: each stream's
    bookmark, the moment its last run began; the CSV tap: each stream's newest file
    modification. Without one (change data capture reads to the end of the WAL; a table never
    loaded): now."""
    state = meltano.read_state(settings, job)
    now = datetime.now(UTC)
    if "pending_since" in state:
        return ReadUpTo(datetime.fromisoformat(state["pending_since"]), {})
    tables = {}
    for stream, bookmark in state.get("bookmarks", {}).items():
        table = stream.split("-", 1)[-1]
        if isinstance(bookmark.get("created"), int):
            tables[table] = datetime.fromtimestamp(bookmark["created"], UTC)
        elif bookmark.get("replication_key") == "_sdc_last_modified":
            tables[table] = datetime.fromisoformat(bookmark["replication_key_value"])
    return ReadUpTo(now, tables)


def _us(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


# -- PostgreSQL: checksums by key range ---------------------------------------------------------


def _postgres_table(
    shop: psycopg.Connection,
    raw: Warehouse,
    columns: dict[tuple[str, str], str],  # RAW's columns of the source: (table, column) -> type
    table: SourceTable,
    as_of: datetime,
) -> TableReconciliation:
    (key,) = table.primary_key
    source_relation = f"public.{table.name}"
    raw_relation = raw.raw_relation("postgres", table.name)
    if not any(t == table.name for t, _ in columns):
        count = shop.execute(f"select count(*) from {source_relation}").fetchone()[0]
        return TableReconciliation(
            "postgres", table.name, count, 0, count, 0, 0, 0, problems=("not in RAW",)
        )
    soft_deletes = (table.name, "_sdc_deleted_at") in columns
    live = "_sdc_deleted_at is null" if soft_deletes else "true"
    ranges = KeyRanges.of(shop, table.name, key)
    as_of_us = _us(as_of)
    pg, wh = key_ranges.postgres_side(shop), key_ranges.warehouse_side(raw)

    def aggregates(side: key_ranges.Side, relation: str, where: str) -> dict[int, tuple]:
        changed = side.epoch_us(table.changed_at or "")
        mixed = ranges.mixed
        sums = "".join(f", sum({money})" for money in table.money)
        rows = side.query(
            f"select {ranges.range_of(side)}, {ranges.key_checksums()}, "
            f"sum({changed} % {CHECKSUM_PRIME}), "
            f"sum(({mixed} * ({changed} % {CHECKSUM_PRIME})) % {CHECKSUM_PRIME}){sums} "
            f"from {relation} where {changed} <= {as_of_us} and {where} group by 1"
        )
        return {int(row[0]): tuple(int(v or 0) for v in row[1:]) for row in rows}

    source_ranges, raw_ranges = key_ranges.side_by_side(
        lambda: aggregates(pg, source_relation, "true"),
        lambda: aggregates(wh, raw_relation, live),
    )
    differ = key_ranges.differing(source_ranges, raw_ranges)
    counts: Counter[str] = Counter()
    problems = []
    if differ:
        examined = differ[:RANGES_EXAMINED]
        counts = _compare_rows(pg, wh, table, ranges, source_relation, raw_relation,
                               soft_deletes, examined, as_of_us)  # fmt: skip
        if len(differ) > len(examined):
            problems.append(
                f"{len(differ) - len(examined)} more key ranges differ (not examined; "
                f"{len(differ)} of {max(len(source_ranges), 1)} differ)"
            )
    deleted_in_raw = 0
    if soft_deletes:
        deleted_in_raw = int(
            raw.query(f"select count(distinct {key}) from {raw_relation} where not ({live})")[0][0]
        )
    return TableReconciliation(
        "postgres",
        table.name,
        source_rows=sum(v[0] for v in source_ranges.values()),
        raw_rows=sum(v[0] for v in raw_ranges.values()),
        missing=counts["missing"],
        outdated=counts["outdated"],
        duplicates=counts["duplicates"],
        deleted_at_source=counts["deleted_at_source"],
        deleted_in_raw=deleted_in_raw,
        problems=tuple(problems),
        scope=f"changed up to {as_of:%Y-%m-%d %H:%M:%S} UTC",
    )


def _compare_rows(
    pg: key_ranges.Side,
    wh: key_ranges.Side,
    table: SourceTable,
    ranges: KeyRanges,
    source_relation: str,
    raw_relation: str,
    soft_deletes: bool,
    examined: list[int],
    as_of_us: int,
) -> Counter[str]:
    """Compare the rows of the differing key ranges one by one."""
    money = "".join(f", {m}" for m in table.money)

    def rows(side: key_ranges.Side, relation: str, deleted: str) -> list[tuple]:
        return side.query(
            f"select {ranges.key}, {side.epoch_us(table.changed_at or '')}, {deleted}{money} "
            f"from {relation} where {ranges.in_ranges(side, examined)}"
        )

    deleted_flag = "_sdc_deleted_at is not null" if soft_deletes else "false"
    source_rows, raw_rows = key_ranges.side_by_side(
        lambda: rows(pg, source_relation, "false"), lambda: rows(wh, raw_relation, deleted_flag)
    )
    source = {row[0]: (int(row[1]), _ints(row[3:])) for row in source_rows}
    raw: dict[object, list[tuple]] = defaultdict(list)
    for row in raw_rows:
        raw[same_key(row[0])].append((int(row[1]), bool(row[2]), _ints(row[3:])))
    counts: Counter[str] = Counter()
    for key_value, (changed, values) in source.items():
        if changed > as_of_us:
            continue  # changed after the run read the table: the next run loads it
        alive = [r for r in raw.get(key_value, []) if not r[1]]
        if not alive:
            counts["missing"] += 1
            continue
        counts["duplicates"] += len(alive) - 1
        newest = max(alive)
        if newest[0] != changed or newest[2] != values:
            counts["outdated"] += 1
    for key_value, copies in raw.items():
        alive = [r for r in copies if not r[1]]
        if key_value not in source and alive:
            counts["deleted_at_source"] += 1
            counts["duplicates"] += len(alive) - 1
    return counts


def _ints(values: Sequence[object]) -> tuple[int, ...]:
    return tuple(int(v) for v in values)  # type: ignore[call-overload]


def same_key(raw_key: object) -> object:
    """RAW's key as the source's (DuckDB's HUGEINT and Snowflake's NUMBER come back as int or
    Decimal)."""
    return int(raw_key) if isinstance(raw_key, Decimal) else raw_key  # type: ignore[arg-type]


# -- Stripe: the API over a window, the shop's payments over the whole history ------------------


def _stripe_table(
    settings: Settings, raw: Warehouse, table: SourceTable, as_of: datetime
) -> TableReconciliation:
    assert table.api_list and table.created_at
    first_day = (as_of - timedelta(days=STRIPE_API_DAYS)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    api: dict[object, tuple] = {
        obj["id"]: tuple(int(obj[m]) for m in table.money)
        for obj in stripe_api.list_created(settings.stripe, table.api_list, first_day, as_of)
    }
    created = raw.epoch_us(table.created_at)
    money = "".join(f", {m}" for m in table.money)
    in_raw: dict[object, list[tuple]] = defaultdict(list)
    for row in raw.query(
        f"select id{money} from {raw.raw_relation('stripe', table.name)} "
        f"where {created} >= {_us(first_day)} and {created} < {_us(as_of)}"
    ):
        in_raw[row[0]].append(_ints(row[1:]))
    scope = f"created {first_day:%Y-%m-%d %H:%M}..{as_of:%Y-%m-%d %H:%M:%S} UTC, via the API"
    return _keyed("stripe", table.name, api, in_raw, scope)


def _keyed(
    source: str,
    table: str,
    at_source: dict[object, tuple],
    in_raw: dict[object, list[tuple]],
    scope: str,
) -> TableReconciliation:
    """Rows of a source and of RAW compared by key: each source row once in RAW with its
    values (RAW may hold several copies of a key: duplicates)."""
    return TableReconciliation(
        source,
        table,
        source_rows=len(at_source),
        raw_rows=sum(len(copies) for copies in in_raw.values()),
        missing=sum(1 for key in at_source if key not in in_raw),
        outdated=sum(
            1 for key, values in at_source.items() if key in in_raw and values not in in_raw[key]
        ),
        duplicates=sum(len(copies) - 1 for copies in in_raw.values()),
        deleted_at_source=sum(1 for key in in_raw if key not in at_source),
        scope=scope,
    )


def _shop_payments(
    shop: psycopg.Connection, raw: Warehouse, charges: SourceTable, as_of: datetime
) -> TableReconciliation:
    """Each day's payments (shop) and charges (RAW) agree per status; days that differ are
    compared charge by charge."""
    link = charges.shop_payments
    payments = f"public.{link['relation']}"
    raw_charges = raw.raw_relation("stripe", charges.name)
    same = link["same"]  # charge column -> payment column
    as_of_us = _us(as_of)

    def by_day(side: key_ranges.Side, relation: str, created: str, columns: Sequence[str]) -> dict:
        day = side.floor_divide(side.epoch_us(created), DAY_US)
        status, amount = columns
        rows = side.query(
            f"select {day}, {status}, count(*), sum({amount}) from {relation} "
            f"where {side.epoch_us(created)} < {as_of_us} group by 1, 2"
        )
        return {(int(r[0]), r[1]): (int(r[2]), int(r[3] or 0)) for r in rows}

    pg, wh = key_ranges.postgres_side(shop), key_ranges.warehouse_side(raw)
    shop_days = by_day(pg, payments, link["created_at"], [same["status"], same["amount"]])
    raw_days = by_day(wh, raw_charges, charges.created_at or "", ["status", "amount"])
    differing = sorted({day for day, _ in shop_days.keys() ^ raw_days.keys()} | {
        day for key in shop_days.keys() & raw_days.keys() if shop_days[key] != raw_days[key]
        for day in [key[0]]
    })  # fmt: skip
    counts: Counter[str] = Counter()
    if differing:
        days = ", ".join(str(d) for d in differing[:RANGES_EXAMINED])
        shop_rows = {
            r[0]: (r[1], int(r[2]))
            for r in pg.query(
                f"select {link['charge_id']}, {same['status']}, {same['amount']} from {payments} "
                f"where {pg.floor_divide(pg.epoch_us(link['created_at']), DAY_US)} in ({days})"
            )
        }
        raw_rows: dict[str, list[tuple]] = defaultdict(list)
        for r in wh.query(
            f"select id, status, amount from {raw_charges} "
            f"where {wh.floor_divide(wh.epoch_us(charges.created_at or ''), DAY_US)} in ({days})"
        ):
            raw_rows[r[0]].append((r[1], int(r[2])))
        # A payment recorded a moment after its charge may fall on the next day: look each
        # unmatched id up on the other side, whatever its day.
        shop_rows |= _lookup(pg, payments, link["charge_id"], [same["status"], same["amount"]],
                             [i for i in raw_rows if i not in shop_rows])  # fmt: skip
        for charge_id, copies in _lookup_many(
            wh, raw_charges, "id", ["status", "amount"], [i for i in shop_rows if i not in raw_rows]
        ).items():
            raw_rows[charge_id] += copies  # fmt: skip
        for charge_id, values in shop_rows.items():
            copies = raw_rows.get(charge_id, [])
            if not copies:
                counts["missing"] += 1
            elif values not in copies:
                counts["outdated"] += 1
        counts["not_in_shop"] = sum(1 for charge_id in raw_rows if charge_id not in shop_rows)
    problems = (
        (f"{counts['not_in_shop']} charges without a shop payment",)
        if counts["not_in_shop"]
        else ()
    )
    return TableReconciliation(
        "stripe",
        f"{charges.name} = postgres.{link['relation']}",
        source_rows=sum(v[0] for v in shop_days.values()),
        raw_rows=sum(v[0] for v in raw_days.values()),
        missing=counts["missing"],
        outdated=counts["outdated"],
        duplicates=0,
        deleted_at_source=0,
        problems=problems,
        scope=f"created before {as_of:%Y-%m-%d %H:%M:%S} UTC, per day and status",
    )


def _lookup(
    side: key_ranges.Side, relation: str, key: str, columns: Sequence[str], ids: list
) -> dict:
    return {k: v[0] for k, v in _lookup_many(side, relation, key, columns, ids).items()}


def _lookup_many(
    side: key_ranges.Side, relation: str, key: str, columns: Sequence[str], ids: list
) -> dict[str, list[tuple]]:
    found: dict[str, list[tuple]] = defaultdict(list)
    for start in range(0, len(ids), 1000):
        literals = ", ".join(
            "'" + str(i).replace("'", "''") + "'" for i in ids[start : start + 1000]
        )
        for row in side.query(
            f"select {key}, {', '.join(columns)} from {relation} where {key} in ({literals})"
        ):
            found[row[0]].append((row[1], int(row[2])))
    return found


# -- Marketing exports: every row of the files the tap has read -------------------------------


def _export_table(
    settings: Settings, raw: Warehouse, table: SourceTable, as_of: datetime
) -> TableReconciliation:
    read_up_to = as_of.replace(microsecond=0)  # the tap's bookmark has whole seconds
    in_files: dict[object, tuple] = {}
    for export in exports.export_files(settings.exports_url, table.name):
        if export.modified.replace(microsecond=0) > read_up_to:
            continue  # written after the tap's run: the next run loads it
        for row in csv.DictReader(io.StringIO(export.read_bytes().decode())):
            key = tuple(row[k] for k in table.primary_key)
            in_files[key] = tuple(Decimal(row[c]).quantize(CENT) for c in table.compared)
    columns = ", ".join([*table.primary_key, *table.compared])
    in_raw: dict[object, list[tuple]] = defaultdict(list)
    for row in raw.query(f"select {columns} from {raw.raw_relation('marketing', table.name)}"):
        width = len(table.primary_key)
        in_raw[tuple(str(v) for v in row[:width])].append(
            tuple(Decimal(str(v)).quantize(CENT) for v in row[width:])
        )
    return _keyed("marketing", table.name, in_files, in_raw,
                  f"files read up to {read_up_to:%Y-%m-%d %H:%M:%S} UTC")  # fmt: skip
