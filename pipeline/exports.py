"""The contract of the marketing CSV exports, checked before the CSV tap reads them.

tap-spreadsheets turns a value it cannot parse into NULL and a short row into missing
columns, silently. A file that breaks the contract is therefore refused before loading:
the error names the file, the line and the problem, and the file stays where it is, to be
fixed and picked up by the next run (the tap's bookmark is the file's mtime).

The rule when one file is bad: the whole marketing load of that run is held back, the good
files too. Nothing of the run lands in RAW, so RAW never holds a day's spend without its
performance, nor part of a file; once the bad file is fixed (or removed), the next run loads
every file that was waiting, since their mtimes are all after the last bookmark.

The exports live where the environment says (MARKETING_EXPORTS_URL): a folder, or an S3 URL
`s3://bucket/prefix` read with the usual AWS credentials — the same place the CSV tap reads.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urlparse

from pipeline import catalog
from pipeline.errors import PlatformError

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


@dataclass(frozen=True)
class ExportFile:
    location: str  # a path, or s3://bucket/key
    modified: datetime

    def read_bytes(self) -> bytes:
        if self.location.startswith("s3://"):
            url = urlparse(self.location)
            body = _s3().get_object(Bucket=url.netloc, Key=url.path.lstrip("/"))["Body"]
            return body.read()
        return Path(self.location).read_bytes()

    def __str__(self) -> str:
        return self.location


def _s3():  # boto3's client types are generated at run time
    import boto3  # production's S3 exports only

    return boto3.client("s3")


def export_files(exports_url: str | Path, table: str) -> list[ExportFile]:
    """The export files of a table, `<exports_url>/<table>/*.csv`, by name."""
    exports_url = str(exports_url)
    if exports_url.startswith("s3://"):
        url = urlparse(exports_url)
        prefix = f"{url.path.strip('/')}/{table}/".lstrip("/")
        files = []
        for page in (
            _s3().get_paginator("list_objects_v2").paginate(Bucket=url.netloc, Prefix=prefix)
        ):
            for item in page.get("Contents", []):
                key = item["Key"]
                if key.endswith(".csv") and "/" not in key[len(prefix) :]:
                    files.append(ExportFile(f"s3://{url.netloc}/{key}", item["LastModified"]))
        return sorted(files, key=lambda f: f.location)
    folder = Path(exports_url.removeprefix("file://")) / table
    return [
        ExportFile(str(path), datetime.fromtimestamp(path.stat().st_mtime, UTC))
        for path in sorted(folder.glob("*.csv"))
    ]


@dataclass(frozen=True)
class ExportProblem:
    file: ExportFile | Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class ExportValidationError(PlatformError):
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


def check_file(path: ExportFile | Path, table: str) -> list[ExportProblem]:
    contract = CONTRACTS[table]
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
        return _check_rows(path, reader, contract, table) + problems
    except csv.Error as error:  # e.g. a quote left open
        return [ExportProblem(path, reader.line_num, f"unreadable CSV: {error}"), *problems]


def _check_rows(
    path: ExportFile | Path, reader: Iterator[list[str]], contract: dict[str, Check], table: str
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
        key = tuple(record[column] for column in catalog.table("marketing", table).primary_key)
        if key in seen_keys:
            problems.append(
                ExportProblem(path, line, f"duplicate key {key}, first at line {seen_keys[key]}")
            )
        seen_keys[key] = line
    return problems


def validate_exports(exports_url: str | Path) -> dict[str, int]:
    """Check every export file against its contract; return the files found per table."""
    problems: list[ExportProblem] = []
    files_per_table: dict[str, int] = {}
    for table in CONTRACTS:
        files = export_files(exports_url, table)
        files_per_table[table] = len(files)
        for path in files:
            problems.extend(check_file(path, table))
    if problems:
        raise ExportValidationError(problems)
    return files_per_table
