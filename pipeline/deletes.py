"""Rows deleted at the source, found without a log and marked deleted in RAW.

INCREMENTAL replication reads rows whose change column moved; a row deleted at the source never
moves again, so it would stay in RAW — and in every mart — for good. After each load, the keys
of each table are compared across the shop's PostgreSQL and RAW by checksums over key ranges
(count, sum and a mixed checksum of the keys: one aggregate scan on each side, no rows moved);
only ranges that differ are read key by key. A key RAW has and the source no longer has gets
`_sdc_deleted_at`, the way change data capture marks a delete, so staging drops it, the
incremental facts delete it (transform/macros/delete_rows_deleted_at_source.sql) and the
snapshots close its last version — on the same run. Keys the source has and RAW does not are
new rows the next run loads; they are not this step's business.

Under change data capture the tap sees deletes itself; this step is for INCREMENTAL jobs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial

import psycopg

from pipeline import catalog, key_ranges, meltano, shop_database, warehouse
from pipeline.key_ranges import KeyRanges
from pipeline.reconcile import same_key
from pipeline.settings import Settings

MARK_BATCH = 1000  # keys per UPDATE


def mark_deleted(settings: Settings, job: str) -> dict[str, int]:
    """Mark the rows of the job's PostgreSQL tables deleted in RAW whose keys the source no
    longer has; return the keys newly marked per table."""
    if meltano.source_of(job) != "postgres" or job == settings.cdc_job:
        return {}  # the CDC job's tap sees deletes itself
    marked = {}
    now = datetime.now(UTC).isoformat()
    with (
        shop_database.connect(settings.postgres) as shop,
        warehouse.connect(settings, ["postgres"], write_raw=True) as raw,
    ):
        columns = raw.raw_columns("postgres")
        for table in catalog.tables_of("postgres"):
            if table.name not in meltano.job_tables(job):
                continue
            if (table.name, "_sdc_deleted_at") not in columns:
                continue  # not loaded yet
            (key,) = table.primary_key
            gone = _keys_gone_at_source(shop, raw, table.name, key)
            relation = raw.raw_relation("postgres", table.name)
            for start in range(0, len(gone), MARK_BATCH):
                listed = ", ".join(_literal(k) for k in gone[start : start + MARK_BATCH])
                raw.execute(
                    f"update {relation} set _sdc_deleted_at = ? where {key} in ({listed})", [now]
                )
            marked[table.name] = len(gone)
    return marked


def _keys_gone_at_source(
    shop: psycopg.Connection, raw: warehouse.Warehouse, table: str, key: str
) -> list[object]:
    ranges = KeyRanges.of(shop, table, key)
    pg, wh = key_ranges.postgres_side(shop), key_ranges.warehouse_side(raw)
    source_relation = f"public.{table}"
    raw_relation = raw.raw_relation("postgres", table)
    live = "_sdc_deleted_at is null"

    def checksums(side: key_ranges.Side, relation: str, where: str) -> dict[int, tuple]:
        rows = side.query(
            f"select {ranges.range_of(side)}, {ranges.key_checksums()} from {relation} "
            f"where {where} group by 1"
        )
        return {int(row[0]): tuple(int(v or 0) for v in row[1:]) for row in rows}

    differ = key_ranges.differing(*key_ranges.side_by_side(
        lambda: checksums(pg, source_relation, "true"),
        lambda: checksums(wh, raw_relation, live),
    ))  # fmt: skip
    gone: list[object] = []
    for start in range(0, len(differ), 256):  # a bounded IN list per query
        chunk = differ[start : start + 256]
        at_source, in_raw = key_ranges.side_by_side(
            partial(pg.query, f"select {key} from {source_relation} "
                              f"where {ranges.in_ranges(pg, chunk)}"),
            partial(wh.query, f"select {key} from {raw_relation} "
                              f"where {live} and {ranges.in_ranges(wh, chunk)}"),
        )  # fmt: skip
        gone += sorted({same_key(row[0]) for row in in_raw} - {row[0] for row in at_source})  # type: ignore[type-var]
    return gone


def _literal(value: object) -> str:
    return str(value) if isinstance(value, int) else "'" + str(value).replace("'", "''") + "'"
