"""Background processes of the embedded default that we start ourselves (the Stripe sandbox)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from pipeline.errors import PlatformError
from sandbox.config import LocalShop


class ServiceError(PlatformError):
    pass


def _pid_file(settings: LocalShop) -> Path:
    return settings.home / "run" / "stripe-sandbox.pid"


def _running_pid(settings: LocalShop) -> int | None:
    """The sandbox's pid if the process recorded in the pid file is still ours and alive."""
    pid_file = _pid_file(settings)
    if not pid_file.exists():
        return None
    pid = int(pid_file.read_text().strip())
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        return None
    return pid if "stripe serve" in cmdline else None


def stripe_is_ready(settings: LocalShop) -> bool:
    request = urllib.request.Request(
        f"{settings.stripe_api_base}/v1/account",
        headers={"Authorization": f"Bearer {settings.stripe_api_key}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def start_stripe_sandbox(
    settings: LocalShop,
    timeout_s: float = 20.0,
    *,
    rate_limit_per_s: float | None = None,
    fail_every_n: int | None = None,
    fault_bursts: Sequence[str] = (),
) -> int:
    """Start the Stripe sandbox in the background (idempotent); return its pid.

    rate_limit_per_s, fail_every_n and fault_bursts ('STATUS:EVERY:LENGTH') make it answer
    429s and 500s, as Stripe does at times."""
    pid = _running_pid(settings)
    if pid is not None:
        return pid
    # Checked first: whatever answers on the port would otherwise pass the readiness check.
    with socket.socket() as probe:
        probe.settimeout(0.5)
        if probe.connect_ex(("127.0.0.1", settings.stripe_port)) == 0:
            raise ServiceError(
                f"port {settings.stripe_port} on 127.0.0.1 is already in use by another "
                "process; stop it or point STRIPE_API_BASE at a free port"
            )
    faults = [
        *(["--rate-limit", str(rate_limit_per_s)] if rate_limit_per_s else []),
        *(["--fail-every", str(fail_every_n)] if fail_every_n else []),
        *(arg for spec in fault_bursts for arg in ("--fault-burst", spec)),
    ]
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    _pid_file(settings).parent.mkdir(parents=True, exist_ok=True)
    log_file = settings.log_dir / "stripe-sandbox.log"
    with log_file.open("a") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "flows.cli", "stripe", "serve", *faults],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **settings.as_environment()},
            start_new_session=True,
        )
    _pid_file(settings).write_text(f"{process.pid}\n")
    deadline = time.monotonic() + timeout_s
    while not stripe_is_ready(settings):
        if process.poll() is not None:
            tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-10:])
            raise ServiceError(f"the Stripe sandbox exited (code {process.returncode}):\n{tail}")
        if time.monotonic() > deadline:
            stop_stripe_sandbox(settings)
            raise ServiceError(f"the Stripe sandbox did not answer within {timeout_s:.0f} s")
        time.sleep(0.2)
    return process.pid


def stop_stripe_sandbox(settings: LocalShop) -> None:
    pid = _running_pid(settings)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            if _running_pid(settings) is None:
                break
            time.sleep(0.1)
    _pid_file(settings).unlink(missing_ok=True)
