"""Shared fixtures: the tests' own real PostgreSQL server, in a temporary home, on a free port."""

from __future__ import annotations

import socket
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from sandbox import postgres
from sandbox.config import Settings, load_settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def test_home() -> Iterator[Path]:
    # Not pytest's tmp_path: the postgres system user must be able to traverse it.
    home = Path(tempfile.mkdtemp(prefix="shop-tests-", dir="/tmp"))
    home.chmod(0o755)
    yield home


@pytest.fixture(scope="session")
def settings(test_home: Path) -> Settings:
    return replace(
        load_settings(),
        home=test_home,
        pg_port=free_port(),
        stripe_port=free_port(),
    )


@pytest.fixture(scope="session")
def pg(settings: Settings) -> Iterator[Settings]:
    """A running PostgreSQL with the shop and sandbox databases; stopped after the session."""
    postgres.start(settings)
    try:
        yield settings
    finally:
        postgres.stop(settings)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # Everything the tests talk to is on 127.0.0.1.
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
