"""Change data capture of the shop's PostgreSQL: the replication slot's lifecycle, and the slot
advanced to what RAW holds after each run.

CDC is on when the slot (TAP_POSTGRES_CDC_SLOT) exists: `shop cdc enable` creates it, and from
then on the daily flow runs the environment's `cdc` job instead of el-postgres (LOG_BASED through
wal2json: inserts, updates and hard deletes, the last as rows with `_sdc_deleted_at`).
`shop cdc disable` drops the slot and the CDC bookmarks: el-postgres is INCREMENTAL again.

The tap does not confirm WAL to the slot (meltano/plugins/tap-postgres-cdc): `advance` confirms
it up to the lowest LSN bookmark Meltano stored, i.e. to changes the loader has committed. WAL
behind that is released; WAL after it is kept (at most the server's `max_slot_wal_keep_size`)
until a run has loaded it.
"""

from __future__ import annotations

from pipeline import meltano, shop_database
from pipeline.settings import Settings


def enabled(settings: Settings) -> bool:
    return shop_database.replication_slot(settings.postgres) is not None


def job_for(settings: Settings, job: str) -> str:
    """The Meltano job that runs for `job`: the CDC job instead of the one it replaces
    (environments.yaml) while the slot exists."""
    return settings.cdc_job if job == settings.job_cdc_replaces and enabled(settings) else job


def enable(settings: Settings) -> None:
    """Create the slot; the next run reads every table once, then the WAL."""
    if enabled(settings):
        return
    meltano.prepare(settings)
    meltano.clear_state(settings, settings.cdc_job)  # an earlier slot's bookmarks mean nothing
    shop_database.create_replication_slot(settings.postgres)


def disable(settings: Settings) -> None:
    """Drop the slot (PostgreSQL keeps no WAL for it any more) and the CDC bookmarks."""
    shop_database.drop_replication_slot(settings.postgres)
    meltano.prepare(settings)
    meltano.clear_state(settings, settings.cdc_job)


def committed_lsn(settings: Settings) -> int | None:
    """The WAL position every CDC stream has landed in RAW up to (the lowest bookmark)."""
    bookmarks = meltano.read_state(settings, settings.cdc_job).get("bookmarks", {})
    positions = [b.get("replication_key_value") for b in bookmarks.values()]
    if not positions or None in positions:
        return None
    return min(int(position) for position in positions)


def advance(settings: Settings) -> str | None:
    """Confirm the slot up to the committed LSN; return the slot's confirmed LSN."""
    lsn = committed_lsn(settings)
    if lsn is None:
        return None
    return shop_database.advance_replication_slot(settings.postgres, lsn)


def status(settings: Settings) -> dict[str, object] | None:
    slot = shop_database.replication_slot(settings.postgres)
    if slot is None:
        return None
    return {"slot": settings.postgres.cdc_slot, **slot, "committed_lsn": committed_lsn(settings)}
