"""A local HTTP server speaking the part of Stripe's REST API that tap-stripe 3.3.0 uses.

It reads the relational tables of sandbox/sql/stripe.sql (schema `stripe` of the sandbox
database) and renders Stripe's JSON shapes (sandbox/stripe_render.py). GET only; lists page by
keyset (sandbox/stripe_store.py). Auth, errors, rate limiting (429 + Retry-After) and an
optional fault injector behave like Stripe's, so the tap's own retry logic is exercised.
It only ever binds 127.0.0.1.
"""

from __future__ import annotations

import base64
import hmac
import itertools
import json
import math
import queue
import re
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote

import psycopg
from psycopg.rows import dict_row

from sandbox import postgres
from sandbox import stripe_store as store
from sandbox.config import LocalShop
from sandbox.stripe_render import API_VERSION, StripeObject, list_object, render_account

LOOPBACK = "127.0.0.1"
MAX_LIMIT = 100
DEFAULT_LIMIT = 10
Params = list[tuple[str, str]]


class StripeError(Exception):
    """An error answered with Stripe's error body: {"error": {"type", "message", ...}}."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.headers = dict(headers or {})
        self.error: dict[str, str] = {"type": error_type, "message": message}
        if param is not None:
            self.error["param"] = param
        if code is not None:
            self.error["code"] = code


def bad_parameter(param: str, message: str, code: str = "parameter_invalid") -> StripeError:
    return StripeError(400, message, param=param, code=code)


@dataclass(frozen=True)
class FaultBurst:
    """`length` requests in a row answered with `status` (500 or 429) after every `every`
    requests, the first `every` untouched: an outage or a rate limit that lasts a while."""

    status: int
    every: int
    length: int

    @classmethod
    def parse(cls, spec: str) -> FaultBurst:
        """'STATUS:EVERY:LENGTH', e.g. '500:40:6'."""
        try:
            status, every, length = (int(part) for part in spec.split(":"))
        except ValueError:
            raise ValueError(f"fault burst {spec!r}: expected STATUS:EVERY:LENGTH") from None
        if status not in (429, 500) or not 0 < length < every:
            raise ValueError(f"fault burst {spec!r}: status 429 or 500, 0 < LENGTH < EVERY")
        return cls(status, every, length)

    def hits(self, request_number: int) -> bool:
        return request_number > self.every and (request_number - 1) % self.every < self.length


@dataclass(frozen=True)
class ServerOptions:
    rate_limit_per_s: float | None = None  # None: no limit
    fail_every_n: int | None = None  # every n-th request answers 500 api_error (reliability tests)
    fault_bursts: tuple[FaultBurst, ...] = ()  # consecutive 500s / 429s (reliability tests)
    debug: bool = False  # one stderr line per request


class TokenBucket:
    """Allows `rate_per_s` requests a second on average, bursts up to one second's worth."""

    def __init__(self, rate_per_s: float) -> None:
        self._rate = rate_per_s
        self._capacity = max(1.0, rate_per_s)
        self._tokens = self._capacity
        self._updated = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> float:
        """0 if a request may proceed now, else the seconds until one may."""
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self._capacity, self._tokens + (now - self._updated) * self._rate)
            self._updated = now
            if self._tokens >= 1:
                self._tokens -= 1
                return 0.0
            return (1 - self._tokens) / self._rate


class ConnectionPool:
    """Autocommit connections reused across requests (opening one costs more than a page)."""

    def __init__(self, settings: LocalShop, max_idle: int = 8) -> None:
        self._settings = settings
        self._idle: queue.LifoQueue[psycopg.Connection] = queue.LifoQueue()
        self._max_idle = max_idle

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            # No server-side prepared statements: a generic plan for "(created, id) < ($1, $2)"
            # can forget the index; planning with the real values costs ~0.2 ms.
            conn = postgres.connect(
                self._settings,
                self._settings.sandbox_db,
                autocommit=True,
                row_factory=dict_row,
                prepare_threshold=None,
            )
        try:
            yield conn
        finally:
            if conn.closed or conn.broken or self._idle.qsize() >= self._max_idle:
                conn.close()
            else:
                self._idle.put(conn)

    def close(self) -> None:
        while not self._idle.empty():
            self._idle.get_nowait().close()


def masked_key(key: str) -> str:
    prefix = key[:8] if key.startswith(("sk_test_", "sk_live_")) else ""
    return f"{prefix}****{key[-3:]}"


def api_key_from(headers: Mapping[str, str]) -> str | None:
    """The key from `Authorization: Bearer <key>`, or HTTP basic auth with the key as user."""
    authorization = headers.get("Authorization") or ""
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() == "bearer":
        return credentials.strip() or None
    if scheme.lower() == "basic":
        try:
            user = base64.b64decode(credentials.strip()).decode().partition(":")[0]
        except (ValueError, UnicodeDecodeError):
            return None
        return user or None
    return None


def parse_int(param: str, text: str) -> int:
    if not re.fullmatch(r"-?[0-9]+", text):  # ASCII digits only, as Stripe
        raise bad_parameter(param, f"Invalid integer: {text}", "parameter_invalid_integer")
    return int(text)


_ARRAY_PARAM = re.compile(r"^(expand|types)\[(\d*)\]$")
_CREATED_PARAM = re.compile(r"^created(?:\[(gt|gte|lt|lte)\])?$")


def _array_values(params: Params, name: str) -> list[str]:
    return [value for key, value in params if (m := _ARRAY_PARAM.match(key)) and m[1] == name]


def parse_expand(params: Params, expandable: frozenset[str], prefix: str) -> frozenset[str]:
    """`expand[]=data.refunds` / `expand[0]=...` → {"refunds"}; prefix is "data." on lists."""
    expand = set()
    for value in _array_values(params, "expand"):
        field = value.removeprefix(prefix) if value.startswith(prefix) else None
        if field not in expandable:
            raise bad_parameter("expand", f"This property cannot be expanded ({value}).")
        expand.add(field)
    return frozenset(expand)


def _check_known(params: Params, known: set[str]) -> None:
    for key, _ in params:
        array = _ARRAY_PARAM.match(key)
        name = array[1] + "[]" if array else key
        if name not in known and not _CREATED_PARAM.match(key):
            raise bad_parameter(key, f"Received unknown parameter: {key}", "parameter_unknown")


def parse_list_params(resource: store.Resource, params: Params) -> store.ListQuery:
    is_events = resource.path == "events"
    known = {"limit", "starting_after", "ending_before", "expand[]", *resource.filters}
    if is_events:
        known |= {"type", "types[]"}
    _check_known(params, known)
    values = dict(params)  # last value wins for scalar parameters
    limit = parse_int("limit", values.get("limit", str(DEFAULT_LIMIT)))
    if not 1 <= limit <= MAX_LIMIT:
        raise bad_parameter(
            "limit",
            f"This value must be between 1 and {MAX_LIMIT} (it currently is {limit}).",
            "parameter_invalid_integer",
        )
    if "starting_after" in values and "ending_before" in values:
        raise bad_parameter(
            "ending_before", "You may only specify one of these parameters: ending_before, "
            "starting_after."
        )  # fmt: skip
    created: list[tuple[store.CreatedOperator, int]] = []
    for key, value in params:
        if match := _CREATED_PARAM.match(key):
            created.append((match[1] or "eq", parse_int(key, value)))  # type: ignore[arg-type]
    patterns: list[str] = []
    if is_events:
        types = _array_values(params, "types")
        if "type" in values and types:
            raise bad_parameter(
                "types", "You may only specify one of these parameters: type, types."
            )
        patterns = [store.event_type_pattern(t) for t in (types or [values.get("type")]) if t]
    return store.ListQuery(
        limit=limit,
        created=tuple(created),
        equals=tuple((column, values[p]) for p, column in resource.filters.items() if p in values),
        event_type_patterns=tuple(patterns),
        starting_after=values.get("starting_after") or None,
        ending_before=values.get("ending_before") or None,
    )


def _check_no_nul(path: str, params: Params) -> None:
    # PostgreSQL text cannot hold NUL: refuse it here, as Stripe does, instead of failing with 500.
    if "\x00" in path:
        raise StripeError(404, "Unrecognized request URL: it contains a NUL character.")
    for key, value in params:
        if "\x00" in key or "\x00" in value:
            raise bad_parameter(key, f"Invalid string: {key} contains a NUL character.")


def _rate_limited(wait_s: float) -> StripeError:
    return StripeError(
        429,
        "Too many requests hit the API too quickly. We recommend an exponential backoff "
        "of your requests.",
        error_type="rate_limit_error",
        code="rate_limit",
        headers={"Retry-After": str(max(1, math.ceil(wait_s))), "Stripe-Should-Retry": "true"},
    )


class SandboxApp:
    """Everything but the HTTP plumbing: auth, limits, routing, rendering."""

    def __init__(self, settings: LocalShop, options: ServerOptions) -> None:
        self.settings = settings
        self.options = options
        self.pool = ConnectionPool(settings)
        self._bucket = TokenBucket(options.rate_limit_per_s) if options.rate_limit_per_s else None
        self._request_numbers = itertools.count(1)

    def handle(
        self, method: str, target: str, headers: Mapping[str, str]
    ) -> tuple[int, StripeObject, dict[str, str]]:
        request_number = next(self._request_numbers)
        try:
            self._check_rate_limit()
            self._inject_fault(request_number)
            self._authenticate(headers)
            if method != "GET":
                raise StripeError(405, f"The Stripe sandbox is read-only ({method} {target}).")
            path, _, query = target.partition("?")
            params = parse_qsl(query, keep_blank_values=True)
            _check_no_nul(unquote(path), params)
            with self.pool.connection() as conn:
                return 200, self._route(conn, unquote(path), params), {}
        except StripeError as error:
            return error.status, {"error": error.error}, error.headers
        except psycopg.errors.UndefinedTable:
            message = "The Stripe sandbox's tables (schema stripe) do not exist: generate data."
            return 500, {"error": {"type": "api_error", "message": message}}, {}
        except (psycopg.Error, postgres.PostgresError) as error:
            message = f"The Stripe sandbox's storage failed: {str(error).strip()}"
            return 500, {"error": {"type": "api_error", "message": message}}, {}

    def _check_rate_limit(self) -> None:
        if self._bucket is None:
            return
        wait_s = self._bucket.take()
        if wait_s > 0:
            print(f"rate limited: 429, retry after {wait_s:.2f} s", file=sys.stderr)  # for tests
            raise _rate_limited(wait_s)

    def _inject_fault(self, request_number: int) -> None:
        every = self.options.fail_every_n
        statuses = [
            burst.status for burst in self.options.fault_bursts if burst.hits(request_number)
        ]
        if every and request_number % every == 0:
            statuses.append(500)
        if not statuses:
            return
        status = 429 if 429 in statuses else 500
        print(f"injected {status} on request {request_number}", file=sys.stderr)  # for tests
        if status == 429:
            raise _rate_limited(1.0)
        raise StripeError(
            500,
            f"An unknown error occurred (injected by the sandbox on request {request_number}).",
            error_type="api_error",
            headers={"Stripe-Should-Retry": "true"},
        )

    def _authenticate(self, headers: Mapping[str, str]) -> None:
        key = api_key_from(headers)
        if key is None:
            raise StripeError(
                401,
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY').",
            )
        if not hmac.compare_digest(key.encode(), self.settings.stripe_api_key.encode()):
            raise StripeError(401, f"Invalid API Key provided: {masked_key(key)}")
        account = headers.get("Stripe-Account")
        if account and account != self.settings.stripe_account_id:
            raise StripeError(
                403,
                f"The provided key '{masked_key(key)}' does not have access to account "
                f"'{account}' (or that account does not exist).",
                code="account_invalid",
            )

    def _route(self, conn: psycopg.Connection, path: str, params: Params) -> StripeObject:
        parts = path.strip("/").split("/")
        match parts:
            case ["v1", "account"]:
                return self._account(self.settings.stripe_account_id, params)
            case ["v1", "accounts", account_id]:
                return self._account(account_id, params)
            case ["v1", name] if name in store.RESOURCES:
                resource = store.RESOURCES[name]
                return self._list(conn, resource, params, path, ())
            case ["v1", name, object_id] if name in store.RESOURCES:
                return self._retrieve(conn, store.RESOURCES[name], object_id, params)
            case ["v1", "charges", charge_id, "refunds"]:
                # Where an embedded refund list's url points.
                return self._list(
                    conn, store.RESOURCES["refunds"], params, path, (("charge", charge_id),)
                )
        raise StripeError(
            404, f"Unrecognized request URL (GET: {path}). Please see https://stripe.com/docs."
        )

    def _account(self, account_id: str, params: Params) -> StripeObject:
        _check_known(params, {"expand[]"})
        if account_id != self.settings.stripe_account_id:
            raise StripeError(
                404, f"No such account: '{account_id}'", param="account", code="resource_missing"
            )
        return render_account(account_id)

    def _list(
        self,
        conn: psycopg.Connection,
        resource: store.Resource,
        params: Params,
        url: str,
        fixed_filters: tuple[tuple[str, str], ...],
    ) -> StripeObject:
        query = parse_list_params(resource, params)
        if fixed_filters:
            query = replace(query, equals=query.equals + fixed_filters)
        expand = parse_expand(params, resource.expandable, "data.")
        try:
            rows, has_more = store.list_rows(conn, resource, query)
        except store.UnknownCursor as unknown:
            param = "ending_before" if query.ending_before else "starting_after"
            raise StripeError(
                400,
                f"No such {resource.object_name}: '{unknown}'",
                param=param,
                code="resource_missing",
            ) from None
        return list_object(store.render_rows(conn, resource, rows, expand), url, has_more)

    def _retrieve(
        self, conn: psycopg.Connection, resource: store.Resource, object_id: str, params: Params
    ) -> StripeObject:
        _check_known(params, {"expand[]"})
        expand = parse_expand(params, resource.expandable, "")
        rendered = store.render_rows(
            conn, resource, store.get_rows(conn, resource, [object_id]), expand
        )
        if not rendered:
            raise StripeError(
                404,
                f"No such {resource.object_name}: '{object_id}'",
                param="id",
                code="resource_missing",
            )
        return rendered[0]


class _SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, app: SandboxApp) -> None:
        self.app = app
        super().__init__((LOOPBACK, port), _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the SDK reuses one connection for all pages
    # Headers and body leave in separate writes; with Nagle on, the client's delayed ACK
    # stalls every small response by ~40 ms.
    disable_nagle_algorithm = True
    server_version = "StripeSandbox/1"
    timeout = 120  # idle keep-alive connections give their thread back eventually
    server: _SandboxHTTPServer

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")

    def do_DELETE(self) -> None:
        self._answer("DELETE")

    def _answer(self, method: str) -> None:
        # Drain any request body so the connection stays usable.
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        app = self.server.app
        status, payload, headers = app.handle(method, self.path, self.headers)
        body = json.dumps(payload, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Request-Id", f"req_sandbox{time.monotonic_ns():x}")
        self.send_header("Stripe-Version", API_VERSION)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.app.options.debug:
            sys.stderr.write(f"stripe-sandbox {self.address_string()} {format % args}\n")


def _bind(
    settings: LocalShop, host: str, port: int | None, options: ServerOptions
) -> _SandboxHTTPServer:
    if host != LOOPBACK:
        raise ValueError(f"the Stripe sandbox binds {LOOPBACK} only, not {host}")
    chosen_port = settings.stripe_port if port is None else port
    try:
        return _SandboxHTTPServer(chosen_port, SandboxApp(settings, options))
    except OSError as error:
        raise RuntimeError(
            f"cannot listen on {LOOPBACK}:{chosen_port} ({error.strerror}); "
            "stop whatever uses it or set STRIPE_API_BASE to another port"
        ) from error


def serve(
    settings: LocalShop,
    *,
    host: str = LOOPBACK,
    port: int | None = None,
    rate_limit_per_s: float | None = None,
    fail_every_n: int | None = None,
    fault_bursts: tuple[FaultBurst, ...] = (),
    debug: bool = False,
) -> None:
    """Serve until interrupted (port defaults to settings.stripe_port)."""
    options = ServerOptions(rate_limit_per_s, fail_every_n, fault_bursts, debug)
    server = _bind(settings, host, port, options)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        server.app.pool.close()


class SandboxServer:
    """A sandbox serving from a background thread; `with start_background(...) as server:`."""

    def __init__(self, server: _SandboxHTTPServer) -> None:
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, name="stripe-sandbox", daemon=True
        )
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self._server.server_address[1]}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        self._server.app.pool.close()

    def __enter__(self) -> SandboxServer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def start_background(
    settings: LocalShop,
    *,
    port: int = 0,
    rate_limit_per_s: float | None = None,
    fail_every_n: int | None = None,
    debug: bool = False,
) -> SandboxServer:
    """Start serving in a thread; port 0 picks a free one (see `.url`)."""
    options = ServerOptions(rate_limit_per_s, fail_every_n, debug=debug)
    return SandboxServer(_bind(settings, LOOPBACK, port, options))
