"""Query results in Snowflake's JSON row format for the clients that read no Arrow.

fakesnow's server answers every query in Arrow (`queryResultFormat: arrow`, `rowsetBase64`), the
format the Python connector reads. The Node driver (snowflake-sdk 1.9.0, under Evidence's
Snowflake connector) reads only JSON (`rowset`: rows of strings, or null), and Snowflake answers
it so. `answer_json_clients_in_json(app)` makes fakesnow's app do the same: a session whose login
named the Node driver (`CLIENT_APP_ID` "JavaScript") gets its results re-encoded as JSON; every
other client keeps Arrow, as on Snowflake.

Runs in transform/fakesnow/.venv (fakesnow needs duckdb 2), in tests/prod/fakesnow_server.py.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pyarrow as pa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

LOGIN_PATH = "/session/v1/login-request"
QUERY_PATH = "/queries/v1/query-request"
JSON_CLIENTS = {"JavaScript"}  # the CLIENT_APP_ID snowflake-sdk (Node) logs in with
EPOCH_DATE = date(1970, 1, 1)

Endpoint = Callable[[Request], Awaitable[Response]]


def answer_json_clients_in_json(app: Starlette) -> None:
    """Wrap the app's login and query routes (whatever already wraps them stays in place)."""
    json_sessions: set[str] = set()

    def remember_json_clients(login: Endpoint) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            response = await login(request)
            body = await request.body()  # Starlette keeps it: the login already read it
            if request.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            answer = json.loads(response.body)
            if answer["success"] and json.loads(body)["data"].get("CLIENT_APP_ID") in JSON_CLIENTS:
                json_sessions.add(answer["data"]["token"])
            return response

        return endpoint

    def answer_in_json(query: Endpoint) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            response = await query(request)
            if session_token(request) not in json_sessions:
                return response
            answer = json.loads(response.body)
            data = answer.get("data") or {}
            if data.get("queryResultFormat") != "arrow":
                return response
            encoded = data.pop("rowsetBase64")
            data["queryResultFormat"] = "json"
            data["rowset"] = json_rowset(base64.b64decode(encoded), data["rowtype"])
            # the Node driver reads as many rows as `returned` says (fakesnow sends only `total`)
            data["returned"] = len(data["rowset"])
            return JSONResponse(answer, status_code=response.status_code)

        return endpoint

    wrap = {LOGIN_PATH: remember_json_clients, QUERY_PATH: answer_in_json}
    routes = app.router.routes
    for index, route in enumerate(routes):
        if isinstance(route, Route) and route.path in wrap:
            routes[index] = Route(
                route.path, wrap[route.path](route.endpoint), methods=list(route.methods or ())
            )


def session_token(request: Request) -> str:
    # Authorization: Snowflake Token="<token>"
    return request.headers.get("Authorization", "").partition('Token="')[2].rstrip('"')


def json_rowset(ipc_stream: bytes, rowtype: list[dict[str, Any]]) -> list[list[str | None]]:
    """The rows of an Arrow result (as fakesnow encodes it for the Python connector), in JSON."""
    if not ipc_stream:
        return []
    table = pa.ipc.open_stream(ipc_stream).read_all()
    columns = [
        [json_value(value, column["type"], column["scale"]) for value in values.to_pylist()]
        for values, column in zip(table.columns, rowtype, strict=True)
    ]
    return [list(row) for row in zip(*columns, strict=True)]


def json_value(value: Any, sf_type: str, scale: int | None) -> str | None:
    """One value as Snowflake writes it in a JSON rowset: always text, NULL as null."""
    if value is None:
        return None
    if sf_type.startswith("timestamp"):
        # Arrow carries {epoch seconds, fraction in ns[, timezone]}. A NULL is a null struct, or,
        # from fakesnow's struct without a null mask, a struct of null fields.
        if value["epoch"] is None:
            return None
        seconds = Decimal(value["epoch"]) + Decimal(value["fraction"]).scaleb(-9)
        text = f"{seconds:.{scale or 0}f}"
        # TIMESTAMP_TZ: the offset in minutes + 1440, after a space
        return f"{text} {value['timezone']}" if sf_type == "timestamp_tz" else text
    if sf_type == "date":
        return str((value - EPOCH_DATE).days)
    if sf_type == "time":  # nanoseconds since midnight
        return f"{Decimal(value).scaleb(-9):.{scale or 0}f}"
    if sf_type == "boolean":
        return "1" if value else "0"
    if sf_type == "fixed":
        return f"{value:f}" if isinstance(value, Decimal) else str(value)
    if sf_type == "real":
        return repr(value)
    if sf_type == "binary":
        return value.hex().upper()
    return str(value)
