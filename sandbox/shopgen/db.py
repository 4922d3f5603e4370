"""Getting generated rows into PostgreSQL fast: schema (re)creation, COPY in CSV from
pyarrow tables, updates through a temporary table, and the plan's storage."""

from __future__ import annotations

import io
from dataclasses import fields
from pathlib import Path

import numpy as np
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv

from sandbox.shopgen.orders import NEVER, Lifecycle
from sandbox.shopgen.reference import COUNTRIES

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
COPY_BATCH_ROWS = 200_000
_CSV_OPTIONS = pacsv.WriteOptions(include_header=False, batch_size=COPY_BATCH_ROWS)


def run_sql_file(conn: psycopg.Connection, name: str) -> None:
    conn.execute((SQL_DIR / name).read_text())


def recreate_shop_schema(conn: psycopg.Connection) -> None:
    conn.execute("drop schema if exists public cascade; create schema public")
    run_sql_file(conn, "shop.sql")


def recreate_sandbox_schemas(conn: psycopg.Connection) -> None:
    conn.execute("drop schema if exists stripe cascade; drop schema if exists plan cascade")
    run_sql_file(conn, "stripe.sql")
    run_sql_file(conn, "plan.sql")


def drop_keys(conn: psycopg.Connection, schema: str) -> list[str]:
    """Drop the schema's keys, foreign keys and indexes before a bulk load (building an index
    once is far cheaper than maintaining it row by row, and a foreign key is checked by one
    join instead of a trigger per row); returns the statements that restore them exactly."""
    constraints = conn.execute(
        """
        select conrelid::regclass::text, conname, pg_get_constraintdef(oid), contype
        from pg_constraint
        where connamespace = %s::regnamespace and contype in ('p', 'u', 'f')
        order by contype = 'f', conrelid::regclass::text, conname
        """,
        (schema,),
    ).fetchall()
    for table, name, _, _ in sorted(constraints, key=lambda c: c[3] != "f"):
        conn.execute(f'alter table {table} drop constraint "{name}"')
    indexes = conn.execute(
        "select schemaname, indexname, indexdef from pg_indexes "
        "where schemaname = %s order by indexname",
        (schema,),
    ).fetchall()
    for index_schema, name, _ in indexes:
        conn.execute(f'drop index "{index_schema}"."{name}"')
    keys = [
        f'alter table {t} add constraint "{n}" {d}' for t, n, d, kind in constraints if kind != "f"
    ]
    foreign_keys = [
        f'alter table {t} add constraint "{n}" {d}' for t, n, d, kind in constraints if kind == "f"
    ]
    return keys + [definition for _, _, definition in indexes] + foreign_keys


def restore_keys(conn: psycopg.Connection, statements: list[str]) -> None:
    for statement in statements:
        conn.execute(statement)


def copy_rows(conn: psycopg.Connection, table_name: str, table: pa.Table) -> int:
    """COPY a pyarrow table into `table_name` (columns matched by name)."""
    if table.num_rows == 0:
        return 0
    columns = ", ".join(table.column_names)
    conn.execute("set timezone = 'UTC'")  # the CSV's timestamps are UTC without a zone
    with conn.cursor().copy(f"copy {table_name} ({columns}) from stdin (format csv)") as copy:
        for batch in table.to_batches(COPY_BATCH_ROWS):
            buffer = io.BytesIO()
            pacsv.write_csv(batch, buffer, _CSV_OPTIONS)
            copy.write(buffer.getbuffer())
    return table.num_rows


def update_rows(conn: psycopg.Connection, table_name: str, table: pa.Table) -> int:
    """Set the table's non-key columns on the rows matching its first (key) column."""
    if table.num_rows == 0:
        return 0
    key, *columns = table.column_names
    staging = f"changed_{table_name.replace('.', '_')}"
    conn.execute(
        f"create temp table {staging} on commit drop as "
        f"select {', '.join(table.column_names)} from {table_name} limit 0"
    )
    copy_rows(conn, staging, table)
    assignments = ", ".join(f"{column} = s.{column}" for column in columns)
    cursor = conn.execute(
        f"update {table_name} t set {assignments} from {staging} s where t.{key} = s.{key}"
    )
    return cursor.rowcount


def lifecycle_table(lc: Lifecycle) -> pa.Table:
    columns: dict[str, pa.Array] = {}
    for f in fields(Lifecycle):
        values = getattr(lc, f.name)
        if f.name == "country":
            columns["country_code"] = pa.array(np.array([c.code for c in COUNTRIES])[values])
        elif f.name.endswith("_at"):
            columns[f.name] = pa.array(values, pa.int64(), mask=values == NEVER)
        else:
            columns[f.name] = pa.array(values)
    columns["last_event_at"] = pa.array(lc.last_event_at(), pa.int64())
    return pa.table(columns)


def read_plan(conn: psycopg.Connection, after: int) -> Lifecycle:
    """Planned orders with anything left to happen after `after` (epoch seconds)."""
    names = [f.name if f.name != "country" else "country_code" for f in fields(Lifecycle)]
    buffer = io.BytesIO()
    with conn.cursor().copy(
        f"copy (select {', '.join(names)} from plan.orders where last_event_at > {int(after)} "
        "order by order_id) to stdout (format csv)"
    ) as copy:
        for chunk in copy:
            buffer.write(chunk)
    if not buffer.getbuffer().nbytes:
        return Lifecycle.empty()
    types = {name: pa.int64() for name in names}
    types["country_code"] = pa.string()
    types["dispute_won"] = pa.bool_()
    table = pacsv.read_csv(
        io.BytesIO(buffer.getvalue()),
        read_options=pacsv.ReadOptions(column_names=names),
        convert_options=pacsv.ConvertOptions(
            column_types=types, true_values=["t"], false_values=["f"]
        ),
    )
    country_index = {c.code: i for i, c in enumerate(COUNTRIES)}
    values = {}
    for f, name in zip(fields(Lifecycle), names, strict=True):
        column = table.column(name)
        if name == "country_code":
            values[f.name] = np.array([country_index[c] for c in column.to_pylist()], np.int64)
        elif name.endswith("_at"):
            values[f.name] = column.fill_null(int(NEVER)).to_numpy()
        else:
            values[f.name] = column.to_numpy()
    return Lifecycle(**values)
