"""Compare a table across two engines without moving every row: both sides aggregate per range of
the primary key, and only the ranges that differ are read row by row.

The SQL is written once for the shop's PostgreSQL and the warehouse (DuckDB or Snowflake); a
`Side` supplies what differs between their dialects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import psycopg

from pipeline.warehouse import Warehouse

L = TypeVar("L")
R = TypeVar("R")

RANGES = 1024  # ranges of the primary key a table is split into
CHECKSUM_PRIME = 1_000_003


@dataclass(frozen=True)
class Side:
    epoch_us: Callable[[str], str]  # SQL: a timestamp's microseconds since 1970, an integer
    floor_divide: Callable[[str, int], str]  # SQL: floor(a / b) as an integer
    query: Callable[[str], list[tuple]]


def postgres_side(shop: psycopg.Connection) -> Side:
    # In 64-bit arithmetic, not PostgreSQL's `numeric` (what extract() returns): the checksums
    # scan every row of the source, and numeric took ~40 % of it. The whole seconds and the
    # microseconds within the minute are integers a double holds exactly. The division is a
    # double's, as DuckDB's `/` is, so the two round alike; it is exact (as Snowflake's is)
    # below 2^52 (keys; microseconds since 1970 until about 2112).
    return Side(
        epoch_us=lambda x: (
            f"(date_part('epoch', date_trunc('second', {x}))::bigint * 1000000"
            f" + date_part('microseconds', {x})::bigint % 1000000)"
        ),
        floor_divide=lambda x, n: f"floor(({x})::float8 / {n})::bigint",
        query=lambda sql: shop.execute(sql).fetchall(),
    )


def warehouse_side(warehouse: Warehouse) -> Side:
    return Side(
        epoch_us=warehouse.epoch_us,
        floor_divide=lambda x, n: f"floor(({x}) / {n})",
        query=warehouse.query,
    )


@dataclass(frozen=True)
class KeyRanges:
    """The primary key `key` cut into ranges of `size` from `low`; a key that is not an integer
    is one range (small reference tables)."""

    key: str
    low: int = 0
    size: int = 1
    numeric: bool = False

    @classmethod
    def of(cls, shop: psycopg.Connection, table: str, key: str) -> KeyRanges:
        """Ranges fitted to the source table's keys (public.<table> of the shop)."""
        data_type = shop.execute(
            "select data_type from information_schema.columns where table_schema = 'public' "
            "and table_name = %s and column_name = %s",
            [table, key],
        ).fetchone()
        if data_type is None or data_type[0] not in ("smallint", "integer", "bigint"):
            return cls(key)
        low, high = shop.execute(f"select min({key}), max({key}) from public.{table}").fetchone()
        low, high = int(low or 0), int(high or 0)
        return cls(key, low, max(1, -(-(high - low + 1) // RANGES)), True)

    def range_of(self, side: Side) -> str:
        """SQL: the range number of a row's key."""
        return side.floor_divide(f"{self.key} - {self.low}", self.size) if self.numeric else "0"

    def in_ranges(self, side: Side, ranges: Iterable[int]) -> str:
        """SQL: the row's key is in one of the ranges."""
        listed = ", ".join(str(r) for r in ranges)
        return f"{self.range_of(side)} in ({listed})" if self.numeric else "true"

    def key_checksums(self) -> str:
        """SQL: count, key sum and a mixed checksum of the keys in a group."""
        if not self.numeric:
            return "count(*), 0, 0"
        return f"count(*), sum({self.key}), sum(({self.mixed} * {self.mixed}) % {CHECKSUM_PRIME})"

    @property
    def mixed(self) -> str:
        """SQL: the key folded below CHECKSUM_PRIME, as a 64-bit integer (a product of two stays
        in range; PostgreSQL's int4 keys would not)."""
        return f"(cast({self.key} as bigint) % {CHECKSUM_PRIME})" if self.numeric else "1"


def differing(left: dict[int, tuple], right: dict[int, tuple]) -> list[int]:
    """The ranges whose aggregates differ between two sides (or exist on one side only)."""
    return sorted(r for r in left.keys() | right.keys() if left.get(r) != right.get(r))


def side_by_side(left: Callable[[], L], right: Callable[[], R]) -> tuple[L, R]:
    """Both sides' queries at once: each waits on its own engine (PostgreSQL, DuckDB or
    Snowflake) with Python's lock released, so a comparison takes the slower side's time, not the
    sum."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        right_result = pool.submit(right)
        return left(), right_result.result()
