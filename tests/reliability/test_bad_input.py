"""Property-based bad input: the marketing export contract (pipeline/exports.py) and the Stripe
sandbox's list parameters.

Exports: every valid file passes and reads back as written; every corruption of one line is
refused naming the file and that line. Stripe: valid parameters give pages that are exactly a
slice of the filtered, newest-first list; anything else is a 4xx with Stripe's error body,
never a 500.
"""

from __future__ import annotations

import csv
import io
import string
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.exports import CONTRACTS, ExportValidationError, check_file, validate_exports
from sandbox import generator, stripe_api
from sandbox.config import LocalShop

# ---------------------------------------------------------------------------------------------
# Marketing exports
# ---------------------------------------------------------------------------------------------

# Any text but NUL and "\r" (both refused, see below), not blank.
TEXT = st.text(
    st.characters(codec="utf-8", exclude_characters="\x00\r"), min_size=1, max_size=20
).filter(str.strip)
VALUES = {
    "date": st.dates(min_value=datetime(2000, 1, 1).date()).map(lambda d: d.isoformat()),
    "channel": TEXT,
    "campaign_id": TEXT,
    "campaign_name": TEXT,
    "spend": st.decimals(0, 10**9, places=2).map(str),
    "conversion_value": st.decimals(0, 10**9, places=2).map(str),
    "currency": st.text(string.ascii_uppercase, min_size=3, max_size=3),
    "impressions": st.integers(0, 10**12).map(str),
    "clicks": st.integers(0, 10**12).map(str),
    "conversions": st.integers(0, 10**12).map(str),
}
# Values each column type must refuse (the tap would turn them into NULL or change them).
BAD_VALUES = {
    "date": ["2024-02-30", "24-01-01", "\uff12\uff10\uff12\uff14-01-01", "2024-1-1", ""],
    "spend": ["-1.00", "1.001", "1_000", "١٢", "NaN", "1e3", " 5", "+5", ""],
    "conversion_value": ["-0.5", "Infinity", "12,5", ""],
    "currency": ["usd", "US", "EURO", "€", ""],
    "impressions": ["-1", "1.0", "²", "١٢", " 3", ""],
    "clicks": ["1e2", "0x10", ""],
    "conversions": ["three", ""],
    "channel": [" ", "\t", ""],
    "campaign_id": [""],
    "campaign_name": ["\u3000"],
}


def _rows(table: str) -> st.SearchStrategy[list[list[str]]]:
    contract = CONTRACTS[table]
    row = st.tuples(*(VALUES[column] for column in contract)).map(list)
    return st.lists(row, min_size=1, max_size=8, unique_by=lambda r: (r[0], r[2]))


def _write(directory: Path, table: str, rows: list[list[str]]) -> Path:
    path = directory / table / "export.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(CONTRACTS[table])
        writer.writerows(rows)
    return path


def _line_of_row(path: Path, index: int) -> int:
    """The physical line a data row ends on (a quoted value may span lines), as csv counts."""
    reader = csv.reader(io.StringIO(path.read_text(encoding="utf-8"), newline=""))
    for _ in range(index + 2):
        next(reader)
    return reader.line_num


TABLES = st.sampled_from(sorted(CONTRACTS))
EXAMPLES = settings(max_examples=80, deadline=None)


@EXAMPLES
@given(data=st.data(), table=TABLES)
def test_valid_exports_pass_and_read_back_as_written(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject, table: str
) -> None:
    rows = data.draw(_rows(table))
    directory = tmp_path_factory.mktemp("valid")
    path = _write(directory, table, rows)
    assert validate_exports(directory)[table] == 1
    with path.open(newline="", encoding="utf-8") as handle:
        assert list(csv.reader(handle))[1:] == rows


@EXAMPLES
@given(data=st.data(), table=TABLES)
def test_a_bad_value_is_refused_naming_file_and_line(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject, table: str
) -> None:
    rows = data.draw(_rows(table))
    index = data.draw(st.integers(0, len(rows) - 1))
    column = data.draw(st.sampled_from([c for c in CONTRACTS[table] if c in BAD_VALUES]))
    rows[index][list(CONTRACTS[table]).index(column)] = data.draw(
        st.sampled_from(BAD_VALUES[column])
    )
    path = _write(tmp_path_factory.mktemp("bad"), table, rows)
    problems = check_file(path, table)
    line = _line_of_row(path, index)
    assert any(str(p).startswith(f"{path}:{line}: {column}=") for p in problems), problems


@EXAMPLES
@given(data=st.data(), table=TABLES)
def test_a_short_long_or_duplicated_row_is_refused_naming_file_and_line(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject, table: str
) -> None:
    rows = data.draw(_rows(table))
    index = data.draw(st.integers(0, len(rows) - 1))
    corruption = data.draw(st.sampled_from(["drop a field", "add a field", "duplicate"]))
    if corruption == "drop a field":
        del rows[index][data.draw(st.integers(0, len(rows[index]) - 1))]
    elif corruption == "add a field":
        rows[index].append(data.draw(TEXT))
    else:
        rows.insert(index + 1, list(rows[index]))
        index += 1
    path = _write(tmp_path_factory.mktemp("corrupt"), table, rows)
    with pytest.raises(ExportValidationError) as error:
        validate_exports(path.parent.parent)
    assert f"{path}:{_line_of_row(path, index)}: " in str(error.value)


@EXAMPLES
@given(data=st.data(), table=TABLES)
def test_a_file_cut_off_or_damaged_in_bytes_is_refused_naming_file_and_line(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject, table: str
) -> None:
    path = _write(tmp_path_factory.mktemp("bytes"), table, data.draw(_rows(table)))
    content = path.read_bytes()
    damage = data.draw(st.sampled_from(["cut", "nul", "latin-1", "carriage return"]))
    at = data.draw(st.integers(len(content.split(b"\n")[0]) + 1, len(content) - 2))
    if damage == "carriage return" and content[at : at + 1] == b"\n":
        at += 1  # "\r\n" is CSV's own line end (RFC 4180), read as "\n" by the tap: not damage
    if damage == "cut":  # anywhere but at the end of a line
        content = content[: at if content[at - 1 : at] != b"\n" else at + 1]
    else:
        content = content[:at] + {"nul": b"\0", "latin-1": b"\xe9", "carriage return": b"\r"}[
            damage
        ] + content[at:]  # fmt: skip
    path.write_bytes(content)
    problems = check_file(path, table)
    assert problems, damage
    line = content[:at].count(b"\n") + 1
    assert any(str(p).startswith(f"{path}:") for p in problems)
    if damage != "carriage return":  # a "\r" may break a value or a line: either is refused
        assert any(p.line >= line for p in problems), (damage, line, problems)


# ---------------------------------------------------------------------------------------------
# Stripe sandbox list parameters
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stripe_app(pg: LocalShop) -> Iterator[stripe_api.SandboxApp]:
    """The sandbox's request handling (auth, parsing, paging) without the HTTP plumbing, on a
    small generated shop."""
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    generator.generate(pg, months=0.005, orders_per_month=40_000, seed=3, end=end)
    app = stripe_api.SandboxApp(pg, stripe_api.ServerOptions())
    yield app
    app.pool.close()


def _get(app: stripe_api.SandboxApp, path: str, params: list[tuple[str, str]]) -> tuple[int, dict]:
    headers = {"Authorization": f"Bearer {app.settings.stripe_api_key}"}
    status, body, _ = app.handle("GET", f"{path}?{urlencode(params)}", headers)
    return status, body


def _all_charges(app: stripe_api.SandboxApp) -> list[tuple[str, int]]:
    with app.pool.connection() as conn:
        rows = conn.execute("select id, created from stripe.charges order by created desc, id desc")
        return [(row["id"], row["created"]) for row in rows]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_valid_list_parameters_page_through_the_filtered_list_exactly(
    stripe_app: stripe_api.SandboxApp, data: st.DataObject
) -> None:
    charges = _all_charges(stripe_app)
    times = [created for _, created in charges]
    low = data.draw(st.integers(min(times) - 10, max(times) + 10), label="created[gte]")
    high = data.draw(st.integers(low, max(times) + 10), label="created[lt]")
    limit = data.draw(st.integers(1, 100), label="limit")
    expected = [charge_id for charge_id, created in charges if low <= created < high]
    params = [("limit", str(limit)), ("created[gte]", str(low)), ("created[lt]", str(high))]
    seen: list[str] = []
    while True:
        cursor = [("starting_after", seen[-1])] if seen else []
        status, page = _get(stripe_app, "/v1/charges", params + cursor)
        assert status == 200, page
        ids = [charge["id"] for charge in page["data"]]
        assert len(ids) <= limit
        seen += ids
        if not page["has_more"]:
            break
    assert seen == expected


PARAMETER_NAMES = st.sampled_from(
    ["limit", "starting_after", "ending_before", "created", "created[gte]", "created[lt]",
     "created[gt]", "created[lte]", "created[foo]", "customer", "expand[]", "expand[0]",
     "type", "types[]", "email", "unknown"]
)  # fmt: skip
ANY_VALUE = st.one_of(
    st.text(max_size=30),
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(["0", "101", "-1", "1e3", "²", "ch_missing", "data.refunds", "charge.*"]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    path=st.sampled_from(["/v1/charges", "/v1/customers", "/v1/events", "/v1/disputes"]),
    params=st.lists(st.tuples(PARAMETER_NAMES, ANY_VALUE), max_size=4),
)
def test_any_parameters_get_a_stripe_answer_never_a_500(
    stripe_app: stripe_api.SandboxApp, path: str, params: list[tuple[str, str]]
) -> None:
    status, body = _get(stripe_app, path, params)
    assert status in (200, 400, 404), (status, body)
    if status != 200:
        error = body["error"]
        assert error["type"] == "invalid_request_error" and error["message"], body
        sent = {name.split("[")[0] for name, _ in params}
        assert status == 404 or error["param"].split("[")[0] in sent, body
