"""Change data capture for the shop's PostgreSQL: the replication slot's lifecycle, and the
slot advanced to what RAW holds after each run.

CDC is on for a shop when its slot exists: `shop cdc enable` creates it, and from then on
`el-postgres` runs as `el-postgres-cdc` (LOG_BASED through wal2json: inserts, updates and
hard deletes, the last as rows with `_sdc_deleted_at`). `shop cdc disable` drops the slot
and the CDC bookmarks, and `el-postgres` is INCREMENTAL on `updated_at` again.

The tap does not confirm WAL to the slot (meltano/plugins/tap-postgres-cdc): `advance`
confirms it up to the lowest LSN bookmark Meltano stored, i.e. to changes the loader has
committed. WAL behind that is released; WAL after it is kept (at most
`max_slot_wal_keep_size`) until a run has loaded it.
"""

from __future__ import annotations

from pipeline import extract_load
from sandbox import postgres
from sandbox.config import Settings

SLOT = "shop_cdc"  # = tap-postgres-cdc's replication_slot_name in meltano/meltano.yml
JOB = "el-postgres-cdc"
REPLACES = "el-postgres"


def enabled(settings: Settings) -> bool:
    return postgres.replication_slot(settings, SLOT) is not None


def enable(settings: Settings) -> None:
    """Create the slot; the next el-postgres run reads every table once, then the WAL."""
    if enabled(settings):
        return
    extract_load.prepare(settings)
    _clear_bookmarks(settings)  # bookmarks of an earlier slot mean nothing to this one
    postgres.create_replication_slot(settings, SLOT)


def disable(settings: Settings) -> None:
    """Drop the slot (PostgreSQL keeps no WAL for it any more) and the CDC bookmarks."""
    postgres.drop_replication_slot(settings, SLOT)
    extract_load.prepare(settings)
    _clear_bookmarks(settings)


def _clear_bookmarks(settings: Settings) -> None:
    extract_load.run_meltano(
        settings,
        ["state", "clear", "--force", extract_load.state_id(JOB)],
        settings.log_dir / "cdc-state-clear.log",
    )


def committed_lsn(settings: Settings) -> int | None:
    """The WAL position every CDC stream has landed in RAW up to (the lowest bookmark)."""
    bookmarks = extract_load.read_state(settings, JOB).get("bookmarks", {})
    positions = [b.get("replication_key_value") for b in bookmarks.values()]
    if not positions or None in positions:
        return None
    return min(int(position) for position in positions)


def advance(settings: Settings) -> str | None:
    """Confirm the slot up to the committed LSN; return the slot's confirmed LSN."""
    lsn = committed_lsn(settings)
    if lsn is None:
        return None
    return postgres.advance_replication_slot(settings, SLOT, lsn)


def status(settings: Settings) -> dict[str, object] | None:
    slot = postgres.replication_slot(settings, SLOT)
    if slot is None:
        return None
    return {**slot, "committed_lsn": committed_lsn(settings)}
