"""Fixtures of the prod-path tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from snowflake_emulator import Emulator, running_emulator


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """An emulated Snowflake of the module's own."""
    with running_emulator(tmp_path_factory.mktemp("fakesnow")) as started:
        yield started
