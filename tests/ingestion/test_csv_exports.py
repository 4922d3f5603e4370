"""Marketing exports: every kind of bad file is refused with file, line and cause; one bad
file holds back the whole marketing load of the run (the good files are not loaded, not
half-loaded); once fixed, the next run loads everything that waited."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from pipeline import extract_load, meltano, reconcile
from pipeline.exports import ExportValidationError, validate_exports
from sandbox import generator, inspect
from sandbox.config import LocalShop

SPEND_HEADER = "date,channel,campaign_id,campaign_name,spend,currency"
GOOD_ROW = '2031-01-01,paid_search,cmp_new,"Brand, exact",120.50,USD'


def _write(directory: Path, name: str, text: str) -> Path:
    path = directory / "marketing_spend" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            f"{SPEND_HEADER},utm_medium\n{GOOD_ROW},cpc\n",
            "bad.csv:1: header ['date', 'channel', 'campaign_id', 'campaign_name', 'spend', "
            "'currency', 'utm_medium'] does not match ['date', 'channel', 'campaign_id', "
            "'campaign_name', 'spend', 'currency']: unexpected column(s) utm_medium",
        ),
        (
            "date,channel,campaign_id,campaign_name,currency\n2031-01-01,x,c,n,USD\n",
            "bad.csv:1: header ['date', 'channel', 'campaign_id', 'campaign_name', 'currency'] "
            "does not match ['date', 'channel', 'campaign_id', 'campaign_name', 'spend', "
            "'currency']: missing column(s) spend",
        ),
        (f"{SPEND_HEADER}\n{GOOD_ROW}\n2031-01-02,x,c\n", "bad.csv:3: expected 6 fields, got 3"),
        (
            f"{SPEND_HEADER}\n{GOOD_ROW}\n2031-01-02,x,c,n,12.345,USD\n",
            "bad.csv:3: spend='12.345' is not a non-negative amount with at most 2 decimals",
        ),
        (
            f"{SPEND_HEADER}\n{GOOD_ROW}\n{GOOD_ROW}\n",
            "bad.csv:3: duplicate key ('2031-01-01', 'cmp_new'), first at line 2",
        ),
    ],
    ids=["unexpected-column", "missing-column", "short-row", "bad-value", "duplicate-key"],
)
def test_each_bad_input_is_named_with_file_and_line(
    tmp_path: Path, text: str, expected: str
) -> None:
    _write(tmp_path, "bad.csv", text)
    with pytest.raises(ExportValidationError) as error:
        validate_exports(tmp_path)
    print(f"\n{error.value}")
    assert expected in str(error.value)


@pytest.fixture(scope="module")
def shop(shop_home: LocalShop) -> Iterator[LocalShop]:
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    generator.generate(shop_home, months=0.01, orders_per_month=100_000, seed=3, end=end)
    meltano.prepare(shop_home.platform())
    extract_load.run_job(shop_home.platform(), "el-marketing")
    yield shop_home


def _raw_spend(settings: LocalShop) -> tuple[int, int]:
    conn = inspect.connect(settings)
    try:
        row = conn.execute(
            "select count(*), count(*) filter (where campaign_id = 'cmp_new') "
            "from raw_marketing.marketing.marketing_spend"
        ).fetchone()
    finally:
        conn.close()
    assert row is not None
    return int(row[0]), int(row[1])


@pytest.mark.integration
def test_one_bad_file_holds_back_the_whole_load_until_fixed(shop: LocalShop) -> None:
    settings = shop
    before = _raw_spend(settings)
    assert before[0] > 0 and before[1] == 0
    good = _write(settings.marketing_dir, "marketing_spend_2031-01-01.csv", f"{SPEND_HEADER}\n"
                  f"{GOOD_ROW}\n")  # fmt: skip
    bad = _write(
        settings.marketing_dir,
        "marketing_spend_2031-01-02.csv",
        f"{SPEND_HEADER},utm_medium\n2031-01-02,paid_search,cmp_new,n,1.00,USD,cpc\n",
    )
    with pytest.raises(ExportValidationError) as error:
        extract_load.run_job(settings.platform(), "el-marketing")
    assert f"{bad}:1:" in str(error.value) and str(good) not in str(error.value)
    assert _raw_spend(settings) == before  # nothing of the run landed, the good file neither

    bad.write_text(f"{SPEND_HEADER}\n2031-01-02,paid_search,cmp_new,n,1.00,USD\n")
    extract_load.run_job(settings.platform(), "el-marketing")
    assert _raw_spend(settings) == (before[0] + 2, 2)
    for result in reconcile.reconcile(settings.platform(), ["el-marketing"]):
        assert result.ok and result.raw_rows == result.source_rows, result.describe()
