"""The Snowflake emulator of the prod-path tests: fakesnow's server on 127.0.0.1, with small
fixes of its server mode. Runs in transform/fakesnow/.venv (fakesnow needs duckdb 2):

    transform/fakesnow/.venv/bin/python tests/prod/fakesnow_server.py \
        --port PORT --db-dir DIR --login-log FILE --statement-log FILE

Every database lives in DIR as a DuckDB file (one per database, readable once the server has
stopped). Each login is appended to the login log as one JSON line (user, role, warehouse,
database, schema, authenticator), and each statement to the statement log with its session's
user, role, database and schema, so tests can check who connected as what, and what each role
did. The Node driver gets its results in JSON (fakesnow_json_results.py).
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import sys
import threading
from pathlib import Path
from typing import Any

import fakesnow.arrow
import fakesnow.server
import pyarrow as pa
import pyarrow.compute as pc
import uvicorn
from fakesnow.cursor import FakeSnowflakeCursor
from fakesnow.instance import FakeSnow
from fakesnow_json_results import answer_json_clients_in_json, session_token
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

LOGIN_PATH = "/session/v1/login-request"
QUERY_PATH = "/queries/v1/query-request"


def share_one_instance(db_dir: Path) -> None:
    # Server mode ignores the CLI's -d: every session shares this instance, kept in db_dir. Like
    # Snowflake it does not create the database and schema named at login: what Terraform does
    # not declare must fail.
    fakesnow.server.shared_fs = FakeSnow(
        create_database_on_connect=False, create_schema_on_connect=False, db_path=db_dir
    )


def keep_null_timestamps() -> None:
    # fakesnow builds the timestamp struct without a null mask: NULL reached clients as 1970-01-01.
    to_struct = fakesnow.arrow.timestamp_to_sf_struct

    def timestamp_to_sf_struct(ts: pa.Array | pa.ChunkedArray) -> pa.Array:
        struct = to_struct(ts)
        if ts.null_count == 0:
            return struct
        if isinstance(ts, pa.ChunkedArray):
            ts = ts.combine_chunks()
        children = [pc.fill_null(child, 0) for child in struct.flatten()]
        return pa.StructArray.from_arrays(children, fields=list(struct.type), mask=ts.is_null())

    fakesnow.arrow.timestamp_to_sf_struct = timestamp_to_sf_struct


def run_one_statement_at_a_time() -> None:
    # fakesnow emulates a MERGE with a work table of a fixed name and catalog rows: two sessions
    # merging at once (dbt's threads) collide on them. Snowflake runs them side by side.
    lock = threading.RLock()
    execute = FakeSnowflakeCursor.execute

    def execute_alone(self: FakeSnowflakeCursor, *args: Any, **kwargs: Any) -> Any:
        with lock:
            return execute(self, *args, **kwargs)

    FakeSnowflakeCursor.execute = execute_alone


def keep_the_cause_of_internal_errors() -> None:
    # fakesnow answers an exception it does not map with HTTP 500 and a message without it:
    # the message gets the original text (emulator_app makes the 500 a ProgrammingError).
    class ServerErrorWithCause(fakesnow.server.ServerError):
        def __init__(self, status_code: int, code: str, message: str) -> None:
            cause = sys.exc_info()[1]  # fakesnow raises this while handling the original
            text = f"{type(cause).__name__}: {cause}" if cause else message
            super().__init__(status_code, code, text)

    fakesnow.server.ServerError = ServerErrorWithCause


def programming_error(message: str) -> JSONResponse:
    """How Snowflake answers a statement that failed (000603: SQL execution internal error)."""
    return JSONResponse(
        {
            "data": {"errorCode": "000603", "sqlState": "XX000"},
            "code": "000603",
            "message": message,
            "success": False,
        }
    )


def emulator_app(login_log: Path, statement_log: Path) -> Starlette:
    """fakesnow's app, with each login appended to login_log (no secret is written), each
    statement to statement_log with its session's login, and an internal error answered as a
    failed statement."""
    sessions: dict[str, dict[str, str | None]] = {}

    async def logged_login(request: Request) -> Response:
        body = await request.body()  # Starlette keeps it for fakesnow's handler
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        data = json.loads(body)["data"]
        params = request.query_params
        login = {
            "user": data.get("LOGIN_NAME"),
            "account": data.get("ACCOUNT_NAME"),
            "authenticator": data.get("AUTHENTICATOR", "SNOWFLAKE"),
            "role": params.get("roleName"),
            "warehouse": params.get("warehouse"),
            "database": params.get("databaseName"),
            "schema": params.get("schemaName"),
        }
        with login_log.open("a") as log:
            log.write(json.dumps(login) + "\n")
        response = await fakesnow.server.login_request(request)
        answer = json.loads(response.body)
        if answer.get("success"):
            sessions[answer["data"]["token"]] = login
        return response

    async def query(request: Request) -> Response:
        body = await request.body()
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        login = sessions.get(session_token(request), {})
        statement = {key: login.get(key) for key in ("user", "role", "database", "schema")}
        with statement_log.open("a") as log:
            log.write(json.dumps({**statement, "sql": json.loads(body)["sqlText"]}) + "\n")
        # A 500 (or a result fakesnow could not encode, which escapes its handler) is retried
        # by the drivers for minutes: fail the statement at once instead, with the cause.
        try:
            response = await fakesnow.server.query_request(request)
        except Exception as error:
            logging.getLogger("fakesnow.server").exception("result not encoded")
            return programming_error(f"{type(error).__name__}: {error}")
        if response.status_code == 500:
            return programming_error(json.loads(response.body)["message"])
        return response

    return Starlette(
        routes=[
            Route(LOGIN_PATH, logged_login, methods=["POST"]),
            Route(QUERY_PATH, query, methods=["POST"]),
            *fakesnow.server.routes,
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db-dir", type=Path, required=True)
    parser.add_argument("--login-log", type=Path, required=True)
    parser.add_argument("--statement-log", type=Path, required=True)
    args = parser.parse_args()
    # fakesnow.server logs every statement it refused (with the SQL) at INFO.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    share_one_instance(args.db_dir)
    keep_null_timestamps()
    run_one_statement_at_a_time()
    keep_the_cause_of_internal_errors()
    app = emulator_app(args.login_log, args.statement_log)
    answer_json_clients_in_json(app)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()
