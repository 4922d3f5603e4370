"""tap-postgres for change data capture, with the replication slot left where it is.

The tap confirms WAL positions to the slot (`send_feedback(flush_lsn=...)`) as it reads,
before the loader has committed the rows: PostgreSQL then discards that WAL, and a run that
dies between the two loses those changes for good. Here the tap never confirms; the slot is
advanced by `shop` after Meltano has stored the state the loader emitted (the LSN bookmark
of rows that are in RAW). Asking to start at the bookmark makes PostgreSQL skip what was
committed before it, so nothing is read twice either (LSN bookmarks are the tap's own).
"""

from __future__ import annotations

import psycopg2.extras
from tap_postgres.tap import TapPostgres


class _UnconfirmingReplicationCursor(psycopg2.extras.ReplicationCursor):
    def send_feedback(self, write_lsn=0, flush_lsn=0, apply_lsn=0, reply=False, force=False):
        # Keep-alive replies still go out; the positions stay at what the slot has.
        return super().send_feedback(reply=reply, force=force)


def main() -> None:
    # LogicalReplicationConnection.cursor() looks the class up here at call time.
    psycopg2.extras.ReplicationCursor = _UnconfirmingReplicationCursor
    TapPostgres.cli()
