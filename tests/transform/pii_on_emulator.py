"""Which text columns of an emulated Snowflake database hold personal data: run by the fakesnow
venv's Python (its DuckDB reads the emulator's files), with the emulator's directory and the
database as arguments and {"emails": [...], "names": [...]} on stdin; prints
[[schema, relation, column], ...] as JSON. Tables and views alike.

A column holds PII when it carries any of the emails, or when most of its distinct values are
among the names (a city or a product named like a person stays out).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import duckdb


def main() -> None:
    known = json.load(sys.stdin)
    emails, names = set(known["emails"]), set(known["names"])
    emulator, database = Path(sys.argv[1]), sys.argv[2]
    conn = duckdb.connect()
    for file in emulator.glob("*.db"):  # views may read other databases
        conn.execute(f"attach '{file}' as \"{file.stem}\" (read_only)")
    columns = conn.execute(
        "select table_schema, table_name, column_name from information_schema.columns "
        "where table_catalog = ? and data_type = 'VARCHAR' "
        "and table_schema not in ('information_schema', 'main') "
        "and table_schema not like '\\_fs%' escape '\\' order by 1, 2, 3",
        [database],
    ).fetchall()
    found = []
    for schema, table, column in columns:
        values = {
            value
            for (value,) in conn.execute(
                f'select distinct "{column}" from "{database}"."{schema}"."{table}" '
                f'where "{column}" is not null'
            ).fetchall()
        }
        named = values & names
        if values & emails or (len(named) >= 5 and len(named) * 2 >= len(values)):
            found.append([schema, table, column])
    json.dump(found, sys.stdout)


if __name__ == "__main__":
    main()
