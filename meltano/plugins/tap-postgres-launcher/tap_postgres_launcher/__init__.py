"""tap-postgres whose INCREMENTAL bookmarks never pass a change that was still uncommitted when
the tap read its table.

PostgreSQL's now() is the start of the transaction. A transaction open while the tap reads a
table commits rows whose updated_at can be older than the bookmark the tap stores, and the
next run (updated_at >= bookmark) would never read them. So at the start of every run the
tap records `pending_since`: the start of the oldest transaction open in the database, minus
a margin (now, when none is open). A change committed after that moment comes from a
transaction open then or begun later, so its updated_at is at or after `pending_since` —
provided updated_at is stamped by the writing transaction from the database clock (now(), a
trigger, or later), never back-dated. The next run first lowers every INCREMENTAL bookmark to
the `pending_since` of the run that stored it, so such changes are read again. The value
travels in the tap's Singer state, so it is stored with the bookmarks in whatever state
backend Meltano uses, and a crashed run's partial state carries its own. The loaders merge
re-read rows on their keys.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from tap_postgres.tap import TapPostgres

PENDING_SINCE = "pending_since"  # a top-level key of the tap's Singer state
# Covers the instant between a transaction starting and pg_stat_activity showing it, and
# writers whose clock runs slightly behind the database's.
MARGIN = timedelta(minutes=1)

# Every session of the database but this one; one the tap's user may not see has a NULL
# backend_type (and xact_start).
_OLDEST_OPEN_TRANSACTION = sa.text(
    """
    select least(now(), min(xact_start) filter (where backend_type = 'client backend')),
           count(*) filter (where backend_type is null),
           current_user
    from pg_stat_activity
    where datname = current_database() and pid <> pg_backend_pid()
    """
)


class PendingSafeTapPostgres(TapPostgres):
    def load_state(self, state: dict) -> None:
        super().load_state(state)  # keeps only the bookmarks
        if PENDING_SINCE in state:
            self.state[PENDING_SINCE] = state[PENDING_SINCE]

    def sync_all(self) -> None:
        pending_since = self._pending_since()
        if PENDING_SINCE in self.state:
            self._lower_bookmarks(datetime.fromisoformat(self.state[PENDING_SINCE]))
        self.state[PENDING_SINCE] = pending_since.isoformat()
        super().sync_all()

    def _pending_since(self) -> datetime:
        with self.connector._connect() as conn:
            oldest, hidden, user = conn.execute(_OLDEST_OPEN_TRANSACTION).one()
        if hidden:
            raise RuntimeError(
                f"user {user} cannot see {hidden} other session(s) of the database in "
                "pg_stat_activity, so it cannot tell which transactions are still open; "
                f"GRANT pg_read_all_stats TO {user}"
            )
        self.logger.info("Oldest open transaction since %s", oldest.isoformat())
        return oldest - MARGIN

    def _lower_bookmarks(self, pending_since: datetime) -> None:
        bookmarks = self.state.get("bookmarks", {})
        for stream in self.streams.values():
            bookmark = bookmarks.get(stream.tap_stream_id, {})
            value = bookmark.get("replication_key_value")
            if stream.replication_method != "INCREMENTAL" or value is None:
                continue
            taken = datetime.fromisoformat(value)
            if taken.tzinfo is None:
                raise ValueError(
                    f"bookmark {value!r} of {stream.tap_stream_id} has no time zone: its "
                    f"replication key {stream.replication_key} must be a timestamptz"
                )
            if taken > pending_since:
                bookmark["replication_key_value"] = pending_since.isoformat()
                self.logger.info(
                    "Bookmark of %s lowered from %s to %s (changes pending then)",
                    stream.tap_stream_id,
                    value,
                    pending_since.isoformat(),
                )


def main() -> None:
    PendingSafeTapPostgres.cli()
