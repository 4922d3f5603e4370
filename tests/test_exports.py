"""The marketing export contract: bad files are refused with file, line and cause."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.exports import ExportValidationError, validate_exports

SPEND_HEADER = "date,channel,campaign_id,campaign_name,spend,currency"
PERFORMANCE_HEADER = "date,channel,campaign_id,impressions,clicks,conversions,conversion_value"


def write(root: Path, table: str, name: str, text: str) -> Path:
    path = root / table / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def exports(tmp_path: Path) -> Path:
    write(
        tmp_path,
        "marketing_spend",
        "marketing_spend_2026-11-01.csv",
        f'{SPEND_HEADER}\n2026-11-01,paid_search,cmp_1,"Brand, exact",120.50,USD\n',
    )
    write(
        tmp_path,
        "campaign_performance",
        "campaign_performance_2026-11-01.csv",
        f"{PERFORMANCE_HEADER}\n2026-11-01,paid_search,cmp_1,10000,400,12,980.00\n",
    )
    return tmp_path


def test_valid_exports_pass(exports: Path) -> None:
    assert validate_exports(exports) == {"marketing_spend": 1, "campaign_performance": 1}


def test_truncated_row_names_file_and_line(exports: Path) -> None:
    bad = write(
        exports,
        "marketing_spend",
        "marketing_spend_2026-11-02.csv",
        f"{SPEND_HEADER}\n2026-11-02,email,cmp_2,Newsletter,10.00,USD\n2026-11-02,paid_soc",
    )
    with pytest.raises(ExportValidationError) as error:
        validate_exports(exports)
    assert f"{bad}:3: expected 6 fields, got 2" in str(error.value)


def test_malformed_values_are_named(exports: Path) -> None:
    bad = write(
        exports,
        "campaign_performance",
        "campaign_performance_2026-11-02.csv",
        f"{PERFORMANCE_HEADER}\n2026-11-02,display,cmp_3,12k,40,1,-5\n",
    )
    with pytest.raises(ExportValidationError) as error:
        validate_exports(exports)
    message = str(error.value)
    assert f"{bad}:2: impressions='12k' is not a non-negative integer" in message
    assert f"{bad}:2: conversion_value='-5' is not a non-negative amount" in message


def test_missing_column_is_named(exports: Path) -> None:
    bad = write(
        exports,
        "marketing_spend",
        "marketing_spend_2026-11-03.csv",
        "date,channel,campaign_id,campaign_name,currency\n2026-11-03,email,cmp_2,News,USD\n",
    )
    with pytest.raises(ExportValidationError) as error:
        validate_exports(exports)
    assert f"{bad}:1:" in str(error.value)
    assert "missing column(s) spend" in str(error.value)


def test_duplicate_keys_and_bad_dates(exports: Path) -> None:
    write(
        exports,
        "marketing_spend",
        "marketing_spend_2026-11-04.csv",
        f"{SPEND_HEADER}\n2026-11-04,email,cmp_2,News,1.00,USD\n2026-11-04,email,cmp_2,News,2.00,USD\n"
        "2026-13-01,email,cmp_9,News,1.999,usd\n",
    )
    with pytest.raises(ExportValidationError) as error:
        validate_exports(exports)
    message = str(error.value)
    assert "duplicate key ('2026-11-04', 'cmp_2'), first at line 2" in message
    assert "date='2026-13-01' is not a date" in message
    assert "spend='1.999' is not a non-negative amount with at most 2 decimals" in message
    assert "currency='usd' is not an ISO currency code" in message
    assert "4 problem(s) in 1 marketing export file(s)" in message
