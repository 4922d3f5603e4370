"""Test-only substitute of target-snowflake 0.20.4's stage step, for the fakesnow emulator.

target-snowflake PUTs each batch file to the user stage (@~), MERGEs into the table straight
from the staged files with `file_format =>`, deduplicating by `ORDER BY SEQ8()`, then REMOVEs
the files and at the end DROPs its file formats. fakesnow runs none of that. The substitute
keeps everything around it (tables, schema evolution, file formats, batch files, STATE) and
target-snowflake's own MERGE clauses and casts, and moves the rows this way instead: PUT to a
named stage of the sync -> COPY into a one-VARIANT-column table -> the casts and the
last-row-per-key dedup into a second table -> target-snowflake's MERGE from that table.
(Streams without keys, which target-snowflake COPYs instead, are not substituted: every stream
of the platform has keys.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import text

FILE_ORDER = "_EMULATOR_FILE_ORDER"


def install(connector: Any, address: dict[str, str | int]) -> None:
    get_connect_args = connector.get_connect_args

    def connect_args(self: Any) -> dict[str, Any]:
        return {**get_connect_args(self), **address}

    connector.get_connect_args = connect_args
    connector.put_batches_to_stage = put_batches_to_named_stage
    connector.merge_from_stage = merge_from_named_stage
    connector.remove_staged_files = drop_staged_rows
    # fakesnow has no DROP FILE FORMAT: the sink's file formats stay on the emulator.
    connector.drop_file_format = lambda self, file_format: None


def _schema(self: Any) -> str:
    return f"{self.config['database']}.{self.config['default_target_schema']}".upper()


def _stage(self: Any, sync_id: str) -> str:
    return f'{_schema(self)}."tf-stage-{sync_id}"'


def _staged_json(self: Any, sync_id: str) -> str:
    return f'{_schema(self)}."tf-json-{sync_id}"'


def _staged_rows(self: Any, sync_id: str) -> str:
    return f'{_schema(self)}."tf-rows-{sync_id}"'


def put_batches_to_named_stage(self: Any, sync_id: str, files: Sequence[str]) -> None:
    # fakesnow has no user stage (@~) and no REMOVE: one named stage per sync instead.
    with self._connect() as conn, conn.begin():
        conn.execute(text(f"create stage {_stage(self, sync_id)}"))
        for file_uri in files:
            conn.execute(text(f"put :file_uri @{_stage(self, sync_id)}"), {"file_uri": file_uri})


def _casts(self: Any, schema: dict) -> str:
    """target-snowflake's own `$1:<property>::<type> as <column>` list, read from column V."""
    selections = self._get_column_selections(schema)
    return self._format_column_selections(selections, "json_casting").replace("$1:", "V:")


def merge_from_named_stage(
    self: Any,
    full_table_name: str,
    schema: dict,
    sync_id: str,
    file_format: str,
    key_properties: Sequence[str],
) -> int:
    merge = str(
        self._get_merge_from_stage_statement(
            full_table_name=full_table_name,
            schema=schema,
            sync_id=sync_id,
            file_format=file_format,
            key_properties=key_properties,
        )[0]
    )
    # Its source `(select ... from '@~/...'(file_format => ...) QUALIFY ...) s` becomes a table.
    into, _, source_and_rest = merge.partition(" using (")
    _, _, on_and_whens = source_and_rest.rpartition(") s on ")
    staged_json, staged_rows = _staged_json(self, sync_id), _staged_rows(self, sync_id)
    keys = ", ".join(self.format_identifier(key, safe=True) for key in key_properties)
    with self._connect() as conn, conn.begin():
        conn.execute(text(f"create transient table {staged_json} (V VARIANT)"))
        conn.execute(
            text(
                f"copy into {staged_json} from @{_stage(self, sync_id)} "
                f"file_format = (format_name='{file_format}')"
            )
        )
        # The last row of a key in the files wins, as with target-snowflake's SEQ8() order.
        conn.execute(
            text(
                f"create transient table {staged_rows} as select {_casts(self, schema)} "
                f"from (select V, seq8() as {FILE_ORDER} from {staged_json}) "
                f"qualify row_number() over (partition by {keys} order by {FILE_ORDER} desc) = 1"
            )
        )
        # fakesnow's MERGE needs a current schema (its work tables are unqualified).
        conn.execute(text(f"use schema {_schema(self)}"))
        row = conn.execute(text(f"{into} using {staged_rows} s on {on_and_whens}")).fetchone()
    return sum(row)


def drop_staged_rows(self: Any, sync_id: str) -> None:
    # The staged files themselves stay (fakesnow has neither REMOVE nor DROP STAGE).
    with self._connect() as conn, conn.begin():
        for table in (_staged_json(self, sync_id), _staged_rows(self, sync_id)):
            conn.execute(text(f"drop table if exists {table}"))
