"""Shared fixtures: the tests' own real PostgreSQL server, in a temporary home, on a free port.

The fixtures give the local stand-ins (`LocalShop`); `shop.platform()` gives the platform's
settings (environment dev) pointed at them."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from sandbox import postgres, services
from sandbox.config import LocalShop, temporary_shop

# Before any test module imports Prefect, which reads its settings then: its test servers never
# phone home (nothing leaves 127.0.0.1).
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "1"


# The slowest modules, slowest first (seconds in a fresh-clone run with three workers,
# 2026-12-06): the workers take modules in this order, so that no long module starts last while
# the others idle.
SLOWEST_MODULES = (
    "tests/reports/test_reports.py",  # 485
    "tests/prod/test_production_path.py",  # ~380
    "tests/flows/test_flows.py",  # 359
    "tests/transform/test_transform.py",  # 175
    "tests/reliability/test_faults.py",  # 139
    "tests/ingestion/test_deletes.py",  # 122
    "tests/test_pipeline.py",  # 113
    "tests/ingestion/test_backfill.py",  # 110
    "tests/ingestion/test_cdc.py",  # 104
    "tests/ingestion/test_exactly_once.py",  # 89
    "tests/bench/test_bench_smoke.py",  # 83
    "tests/ingestion/test_idempotency.py",  # 79
    "tests/ingestion/test_stripe_faults.py",  # 73
    "tests/flows/test_alert_automations.py",  # 59
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {module: position for position, module in enumerate(SLOWEST_MODULES)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


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


@pytest.fixture(scope="session")
def report_compiles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's folder of kept report compiles (SHOP_REPORT_COMPILES), every xdist worker's:
    the site is compiled once, by the first module to build it; the others render with it."""
    base = tmp_path_factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "report-compiles"


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # Everything the tests talk to is on 127.0.0.1.
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
