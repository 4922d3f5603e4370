"""Shared fixtures: the tests' own real PostgreSQL server, in a temporary home, on a free port.

The fixtures give the local stand-ins (`LocalShop`); `shop.platform()` gives the platform's
settings (environment dev) pointed at them."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from sandbox import postgres, services
from sandbox.config import LocalShop, temporary_shop

# Before any test module imports Prefect, which reads its settings then: its test servers never
# phone home (nothing leaves 127.0.0.1).
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "1"


@contextmanager
def running_postgres(settings: LocalShop) -> Iterator[LocalShop]:
    """PostgreSQL running in the home for the block; the home is removed afterwards."""
    postgres.start(settings)
    try:
        yield settings
    finally:
        services.stop_stripe_sandbox(settings)
        postgres.stop(settings)
        shutil.rmtree(settings.home, ignore_errors=True)


@pytest.fixture(scope="session")
def pg() -> Iterator[LocalShop]:
    """A running PostgreSQL with the shop and sandbox databases, shared by the session:
    for tests that recreate the schemas they use."""
    with running_postgres(temporary_shop("session")) as settings:
        yield settings


@pytest.fixture(scope="module")
def shop_home(request: pytest.FixtureRequest) -> Iterator[LocalShop]:
    """A home of the module's own (PostgreSQL, RAW files, Meltano bookmarks), for tests whose
    state carries over between steps."""
    with running_postgres(temporary_shop(request.module.__name__.rsplit(".", 1)[-1])) as settings:
        yield settings


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # Everything the tests talk to is on 127.0.0.1.
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
