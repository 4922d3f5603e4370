"""Shared fixtures: the tests' own real PostgreSQL server, in a temporary home, on a free port."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from pipeline import services
from sandbox import postgres
from sandbox.config import Settings, temporary_settings


@contextmanager
def running_postgres(settings: Settings) -> Iterator[Settings]:
    """PostgreSQL running in the home for the block; the home is removed afterwards."""
    postgres.start(settings)
    try:
        yield settings
    finally:
        services.stop_stripe_sandbox(settings)
        postgres.stop(settings)
        shutil.rmtree(settings.home, ignore_errors=True)


@pytest.fixture(scope="session")
def pg() -> Iterator[Settings]:
    """A running PostgreSQL with the shop and sandbox databases, shared by the session:
    for tests that recreate the schemas they use."""
    with running_postgres(temporary_settings("session")) as settings:
        yield settings


@pytest.fixture(scope="module")
def shop_home(request: pytest.FixtureRequest) -> Iterator[Settings]:
    """A home of the module's own (PostgreSQL, RAW files, Meltano bookmarks), for tests whose
    state carries over between steps."""
    with running_postgres(
        temporary_settings(request.module.__name__.rsplit(".", 1)[-1])
    ) as settings:
        yield settings


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # Everything the tests talk to is on 127.0.0.1.
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
