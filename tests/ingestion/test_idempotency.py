"""Running the pipeline again when nothing changed at the sources changes nothing: RAW, the marts
and the snapshots identical row for row (EXCEPT ALL both ways, so no new keys, no duplicates and
the same money sums), and the bookmarks where they were. (Two flows at once are kept apart by
the warehouse lock: tests/flows/test_flows.py.)"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from pipeline import extract_load, meltano, reconcile, transform
from sandbox import generator, services
from sandbox.config import LocalShop

pytestmark = pytest.mark.integration

COMPARED = {  # warehouse file -> its schemas compared (not ops: the run log)
    "raw_postgres": ("postgres",),
    "raw_stripe": ("stripe",),
    "raw_marketing": ("marketing",),
    "analytics": ("marts", "snapshots"),
}


@pytest.fixture(scope="module")
def shop(shop_home: LocalShop) -> Iterator[LocalShop]:
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    generator.generate(shop_home, months=0.01, orders_per_month=30_000, seed=7, end=end)
    services.start_stripe_sandbox(shop_home)
    _refresh(shop_home)
    yield shop_home


def _refresh(settings: LocalShop) -> None:
    """What daily_refresh does once the shop has advanced (the report site aside)."""
    extract_load.run_jobs(settings.platform())
    reconcile.reconcile(settings.platform())
    summary = transform.build(settings.platform())
    assert summary.ok, summary.describe()


def _all_state(settings: LocalShop) -> dict[str, dict]:
    """state id -> the Singer state of every job (one `meltano state export`)."""
    env = meltano.environment(settings.platform())
    exported = subprocess.run(
        [meltano.executable(), "state", "export"],
        cwd=meltano.MELTANO_PROJECT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return {
        state_id: state["completed"].get("singer_state", {})
        for state_id, state in json.loads(exported.stdout).items()
    }


def _bookmarks(states: dict[str, dict]) -> dict[tuple[str, str, str], object]:
    """(state id, stream, key) -> bookmark value, of every job."""
    return {
        (state_id, stream, key): value
        for state_id, state in states.items()
        for stream, bookmark in state.get("bookmarks", {}).items()
        for key, value in bookmark.items()
    }


def _differences(before: Path, after: Path, database: str, schemas: tuple[str, ...]) -> dict:
    """table -> (rows before, rows after, rows only before, rows only after), over every column
    but the loader's own (_sdc_*: when a row was extracted and loaded)."""
    conn = duckdb.connect()
    conn.execute(f"attach '{before / database}.duckdb' as before (read_only)")
    conn.execute(f"attach '{after / database}.duckdb' as after (read_only)")
    tables = conn.execute(
        "select schema_name, table_name from duckdb_tables() where database_name = 'after' "
        "and list_contains(?, schema_name) order by all",
        [list(schemas)],
    ).fetchall()
    assert tables, f"no tables in {after / database}.duckdb"
    differences = {}
    for schema, table in tables:
        columns = ", ".join(
            f'"{name}"'
            for (name,) in conn.execute(
                "select column_name from duckdb_columns() where database_name = 'after' "
                "and schema_name = ? and table_name = ? and column_name not like '\\_sdc\\_%' "
                "escape '\\' order by column_index",
                [schema, table],
            ).fetchall()
        )
        old, new = (f"(select {columns} from {db}.{schema}.{table})" for db in ("before", "after"))
        differences[f"{schema}.{table}"] = conn.execute(
            f"select (select count(*) from {old}), (select count(*) from {new}), "
            f"(select count(*) from ({old} except all {new})), "
            f"(select count(*) from ({new} except all {old}))"
        ).fetchone()
    conn.close()
    return differences


def test_a_second_identical_run_changes_nothing(shop: LocalShop) -> None:
    before = shop.home / "before"
    shutil.copytree(shop.warehouse_dir, before, ignore=shutil.ignore_patterns(".*"))
    state_before = _all_state(shop)

    _refresh(shop)

    for database, schemas in COMPARED.items():
        differences = _differences(before, shop.warehouse_dir, database, schemas)
        print(f"\n{database}: (rows before, after, only before, only after) {differences}")
        changed = {t: d for t, d in differences.items() if d[0] != d[1] or d[2] or d[3]}
        assert changed == {}, f"{database} changed: {changed}"

    bookmarks_before, bookmarks_after = _bookmarks(state_before), _bookmarks(_all_state(shop))
    assert bookmarks_after.keys() == bookmarks_before.keys()
    for bookmark, value in bookmarks_before.items():
        if bookmark[0].startswith("dev:tap-stripe"):
            # tap-stripe bookmarks the end of the time window it read (its clock), not a row.
            assert bookmarks_after[bookmark] >= value, bookmark
        else:
            assert bookmarks_after[bookmark] == value, bookmark
