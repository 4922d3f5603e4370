"""The contract of the marketing CSV exports, checked before the CSV tap reads them.

tap-spreadsheets turns a value it cannot parse into NULL and a short row into missing
columns, silently. A file that breaks the contract is therefore refused before loading:
the error names the file, the line and the problem, and the file stays where it is, to be
fixed and picked up by the next run (the tap's bookmark is the file's mtime).

The rule when one file is bad: the whole marketing load of that run is held back, the good
files too. Nothing of the run lands in RAW, so RAW never holds a day's spend without its
performance, nor part of a file; once the bad file is fixed (or removed), the next run loads
every file that was waiting, since their mtimes are all after the last bookmark.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

# ASCII digits only: Python's int() and Decimal() also take "²", "١٢" or "1_000", which the
# tap cannot cast and would load as NULL.


def _is_date(value: str) -> bool:
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_amount(value: str) -> bool:
    return bool(re.fullmatch(r"[0-9]+(\.[0-9]{1,2})?", value))


def _is_count(value: str) -> bool:
    return bool(re.fullmatch(r"[0-9]+", value))


def _is_text(value: str) -> bool:
    return value.strip() != ""


def _is_currency(value: str) -> bool:
    return bool(re.fullmatch(r"[A-Z]{3}", value))


Check = Callable[[str], bool]
CHECK_NAMES: dict[Check, str] = {
    _is_date: "a date YYYY-MM-DD",
    _is_amount: "a non-negative amount with at most 2 decimals",
    _is_count: "a non-negative integer",
    _is_text: "a non-empty text",
    _is_currency: "an ISO currency code like USD",
}

CONTRACTS: dict[str, dict[str, Check]] = {
    "marketing_spend": {
        "date": _is_date,
        "channel": _is_text,
        "campaign_id": _is_text,
        "campaign_name": _is_text,
        "spend": _is_amount,
        "currency": _is_currency,
    },
    "campaign_performance": {
        "date": _is_date,
        "channel": _is_text,
        "campaign_id": _is_text,
        "impressions": _is_count,
        "clicks": _is_count,
        "conversions": _is_count,
        "conversion_value": _is_amount,
    },
}
PRIMARY_KEYS = ["date", "campaign_id"]


@dataclass(frozen=True)
class ExportProblem:
    file: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class ExportValidationError(ValueError):
    def __init__(self, problems: list[ExportProblem], limit: int = 20) -> None:
        shown = "\n".join(f"  {problem}" for problem in problems[:limit])
        more = f"\n  ... and {len(problems) - limit} more" if len(problems) > limit else ""
        files = len({problem.file for problem in problems})
        super().__init__(
            f"{len(problems)} problem(s) in {files} marketing export file(s); the marketing "
            f"load is held back (no file of this run was loaded) until they are fixed:\n"
            f"{shown}{more}"
        )
        self.problems = problems


def check_file(path: Path, contract: dict[str, Check]) -> list[ExportProblem]:
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        return [ExportProblem(path, line, f"not UTF-8 text ({error.reason} at byte {error.start})")]
    if "\x00" in text:  # Python's csv reads it as part of a value; no database column takes it
        line = text[: text.index("\x00")].count("\n") + 1
        return [ExportProblem(path, line, "a NUL byte: not a text file")]
    problems = []
    if text and not text.endswith("\n"):
        # Every export ends with a line break: without one, the file was cut off mid-row (and
        # the cut row may still look complete).
        line = text.count("\n") + 1
        problems.append(ExportProblem(path, line, "no line break at the end: truncated"))
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        return _check_rows(path, reader, contract) + problems
    except csv.Error as error:  # e.g. a quote left open
        return [ExportProblem(path, reader.line_num, f"unreadable CSV: {error}"), *problems]


def _check_rows(
    path: Path, reader: Iterator[list[str]], contract: dict[str, Check]
) -> list[ExportProblem]:
    problems: list[ExportProblem] = []
    header = next(reader, None)
    if header is None:
        return [ExportProblem(path, 1, "empty file, expected a header row")]
    expected = list(contract)
    if header != expected:
        missing = [column for column in expected if column not in header]
        unexpected = [column for column in header if column not in expected]
        detail = "; ".join(
            part
            for part in (
                f"missing column(s) {', '.join(missing)}" if missing else "",
                f"unexpected column(s) {', '.join(unexpected)}" if unexpected else "",
                "columns out of order" if not missing and not unexpected else "",
            )
            if part
        )
        return [ExportProblem(path, 1, f"header {header} does not match {expected}: {detail}")]
    seen_keys: dict[tuple[str, ...], int] = {}
    for row in reader:
        line = reader.line_num
        if len(row) != len(expected):
            problems.append(
                ExportProblem(path, line, f"expected {len(expected)} fields, got {len(row)}")
            )
            continue
        record = dict(zip(expected, row, strict=True))
        for column, value in record.items():
            if "\r" in value:  # the CSV tap reads "\r\n" inside a quoted value as "\n"
                problems.append(
                    ExportProblem(path, line, f"{column} holds a carriage return (\\r)")
                )
        for column, check in contract.items():
            if not check(record[column]):
                problems.append(
                    ExportProblem(
                        path, line, f"{column}={record[column]!r} is not {CHECK_NAMES[check]}"
                    )
                )
        key = tuple(record[column] for column in PRIMARY_KEYS)
        if key in seen_keys:
            problems.append(
                ExportProblem(path, line, f"duplicate key {key}, first at line {seen_keys[key]}")
            )
        seen_keys[key] = line
    return problems


def validate_exports(marketing_dir: Path) -> dict[str, int]:
    """Check every export file against its contract; return the files found per table."""
    problems: list[ExportProblem] = []
    files_per_table: dict[str, int] = {}
    for table, contract in CONTRACTS.items():
        files = sorted((marketing_dir / table).glob("*.csv"))
        files_per_table[table] = len(files)
        for path in files:
            problems.extend(check_file(path, contract))
    if problems:
        raise ExportValidationError(problems)
    return files_per_table
