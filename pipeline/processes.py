"""Run a tool (Meltano, dbt, npm) as a child process with its output in a log file."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from pipeline.errors import PlatformError


class ToolTimeoutError(PlatformError):
    pass


def start(
    argv: Sequence[str], log_file: Path, env: Mapping[str, str], cwd: Path
) -> subprocess.Popen[bytes]:
    """Start the command in a process group of its own, stdout and stderr into log_file.

    The child dies with the process that started it (a killed flow run, a killed CLI): an
    orphaned load would go on writing beside the next run."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("w") as log:
        return subprocess.Popen(
            ["setpriv", "--pdeathsig", "KILL", "--", *argv],
            cwd=cwd,
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait(
    process: subprocess.Popen[bytes],
    timeout_s: float,
    what: str,
    log_file: Path,
    tick: Callable[[], None] | None = None,
    tick_every_s: float = 30,
) -> int:
    """Wait for the process, calling `tick` every tick_every_s while it runs; at the deadline
    kill its whole group (its children with it)."""
    deadline = time.monotonic() + timeout_s
    while True:
        left = deadline - time.monotonic()
        try:
            return process.wait(timeout=max(0, min(left, tick_every_s) if tick else left))
        except subprocess.TimeoutExpired:
            if time.monotonic() < deadline and tick:
                tick()
                continue
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise ToolTimeoutError(
            f"{what} did not finish within {timeout_s:.0f} s and was stopped; log: {log_file}"
        ) from None


def stop(process: subprocess.Popen, grace_s: float) -> None:
    """SIGTERM, then SIGKILL if it has not exited within grace_s (a Prefect worker told to stop
    with no run in flight was seen still running after a minute)."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def run(
    argv: Sequence[str],
    log_file: Path,
    env: Mapping[str, str],
    cwd: Path,
    timeout_s: float,
    what: str,
    tick: Callable[[], None] | None = None,
    tick_every_s: float = 30,
) -> int:
    """Run the command to its end (or its deadline); return its exit code."""
    return wait(start(argv, log_file, env, cwd), timeout_s, what, log_file, tick, tick_every_s)


def log_tail(log_file: Path, lines: int = 25) -> str:
    return "\n".join(log_file.read_text(errors="replace").splitlines()[-lines:])


def error_cause(log_lines: list[str]) -> str:
    """The last exception a tool reported, else Meltano's first error, without the log prefix."""
    for line in reversed(log_lines):
        match = re.search(r"\b((?:\w+\.)*\w*(?:Error|Exception)): (.+)$", line)
        if match:
            return f"{match.group(1)}: {match.group(2)}"
    for line in log_lines:
        match = re.search(r"\[error\s*\] meltano\s+(.+)$", line)
        if match:
            return match.group(1)
    return "see the log"
