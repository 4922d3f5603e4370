"""The shop's side of the key-range checksums (pipeline/key_ranges.py) computes what DuckDB's and
Snowflake's sides compute: a timestamp's exact microseconds and a key's range, whatever the
session's time zone. The generated shop has whole seconds and positive keys; these values do not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipeline import key_ranges
from sandbox import postgres
from sandbox.config import LocalShop

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MOMENTS = [
    datetime(2026, 12, 7, 1, 2, 3, 999_999, tzinfo=UTC),
    datetime(2026, 12, 7, 1, 2, 3, 1, tzinfo=UTC),
    datetime(2000, 2, 29, 23, 59, 59, 500_000, tzinfo=UTC),
    datetime(1969, 12, 31, 23, 59, 59, 250_000, tzinfo=UTC),  # before 1970: negative
    datetime(2262, 4, 11, 23, 47, 16, 854_775, tzinfo=UTC),
]


@pytest.mark.parametrize("time_zone", ["UTC", "Asia/Kathmandu", "America/St_Johns"])
def test_the_shops_side_counts_every_microsecond(pg: LocalShop, time_zone: str) -> None:
    with postgres.connect(pg, pg.shop_db) as shop:
        shop.execute(f"set time zone '{time_zone}'")
        side = key_ranges.postgres_side(shop)
        for moment in MOMENTS:
            literal = moment.isoformat(sep=" ")
            expected = (moment - EPOCH) // timedelta(microseconds=1)
            for sql_type in ("timestamptz", "timestamp"):
                value = f"'{literal}'::{sql_type}"
                (got,) = side.query(f"select {side.epoch_us(value)}")[0]
                assert (literal, sql_type, got) == (literal, sql_type, expected)


def test_the_shops_side_puts_each_key_in_its_range(pg: LocalShop) -> None:
    with postgres.connect(pg, pg.shop_db) as shop:
        side = key_ranges.postgres_side(shop)
        for key in (-1025, -1024, -1, 0, 1, 1023, 1024, 2**40 + 7, 2**52 - 1):
            (got,) = side.query(f"select {side.floor_divide(f'{key}::bigint', 1024)}")[0]
            assert (key, got) == (key, key // 1024)
