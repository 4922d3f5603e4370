"""One writer at a time: every run that loads RAW, builds the marts or reads them for the report
site holds this for its whole length, whichever way it was started (CLI or Prefect).

How runs are kept apart is the environment's (environments.yaml, `runs_kept_apart_by`):
locally a lock file on the one host (a DuckDB file takes one writing process, and other
processes cannot even open it read-only while it is written); in production a Prefect global
concurrency limit of one slot, which holds across workers on any host.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

from pipeline.errors import PlatformError
from pipeline.settings import Settings


class WriterBusyError(PlatformError):
    pass


class WriterUnavailableError(PlatformError):
    pass


@contextmanager
def one_writer(settings: Settings, holder: str, wait_s: float = 0.0) -> Iterator[None]:
    """Be the only writer for the block, waiting up to wait_s for the current one."""
    how = settings.runs_kept_apart_by
    if "lock_file" in how:
        with lock_file(Path(how["lock_file"]), "the warehouse", holder, wait_s):
            yield
    else:
        with _concurrency_limit(how["prefect_concurrency_limit"], holder, wait_s):
            yield


@contextmanager
def lock_file(path: Path, what: str, holder: str, wait_s: float) -> Iterator[None]:
    """Hold an exclusive lock on the file for the block (one host), waiting up to wait_s; the
    file names the holder, for the error of whoever waits."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise WriterUnavailableError(
            f"cannot write to {path.parent} ({error.strerror}): the pipeline needs it "
            "writable; fix its permissions or set SHOP_HOME to a writable folder"
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
                    raise WriterBusyError(
                        f"{what} {path.parent} is being written by {current}; waited {wait_s:.0f} s"
                    ) from None
                time.sleep(0.5)
        os.ftruncate(fd, 0)
        os.write(
            fd, f"{holder} (pid {os.getpid()}, since {datetime.now(UTC):%H:%M:%S} UTC)".encode()
        )
        yield
    finally:
        os.close(fd)  # closing releases the lock


@contextmanager
def _concurrency_limit(name: str, holder: str, wait_s: float) -> Iterator[None]:
    from prefect.concurrency.asyncio import ConcurrencySlotAcquisitionError
    from prefect.concurrency.sync import concurrency

    with ExitStack() as held:
        try:
            # strict: a limit nobody created would let every run through.
            held.enter_context(
                concurrency(name, occupy=1, timeout_seconds=max(wait_s, 1), strict=True)
            )
        except TimeoutError:
            raise WriterBusyError(
                f"the warehouse is being written by another run (Prefect concurrency limit "
                f"{name}); {holder} waited {wait_s:.0f} s"
            ) from None
        except ConcurrencySlotAcquisitionError as error:
            raise WriterUnavailableError(
                f"Prefect concurrency limit {name} is not usable ({error}): create it once with "
                f"`prefect gcl create {name} --limit 1` (docs/production.md, step 6)"
            ) from None
        yield
