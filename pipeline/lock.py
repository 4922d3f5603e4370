"""One writer at a time for the local warehouse.

A DuckDB file takes one writing process, and other processes cannot even open it read-only
while it is written. Every run that loads RAW, builds the marts or reads them for the report
site holds this lock for its whole length, whichever way it was started (CLI or Prefect).
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sandbox.config import Settings


class WarehouseBusyError(RuntimeError):
    pass


class WarehouseUnwritableError(RuntimeError):
    pass


@contextmanager
def warehouse_writer(settings: Settings, holder: str, wait_s: float = 0.0) -> Iterator[None]:
    """Hold the warehouse's writer lock, waiting up to wait_s for the current holder."""
    path = settings.warehouse_dir / ".writer.lock"
    try:
        settings.warehouse_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise WarehouseUnwritableError(
            f"cannot write to {settings.warehouse_dir} ({error.strerror}): the pipeline needs "
            "it writable; fix its permissions or set SHOP_HOME to a writable folder"
        ) from None
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    current = path.read_text().strip() or "unknown"
                    raise WarehouseBusyError(
                        f"the warehouse {settings.warehouse_dir} is being written by {current}; "
                        f"waited {wait_s:.0f} s"
                    ) from None
                time.sleep(0.5)
        os.ftruncate(fd, 0)
        os.write(
            fd, f"{holder} (pid {os.getpid()}, since {datetime.now(UTC):%H:%M:%S} UTC)".encode()
        )
        yield
    finally:
        os.close(fd)  # closing releases the lock
