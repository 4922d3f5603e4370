"""A standing local deployment: Prefect server, process work pool, deployments, worker.

Everything binds to 127.0.0.1; telemetry is off. `shop scheduler` runs it in the foreground
and stops what it started on Ctrl-C.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from sandbox.config import REPO_ROOT, Settings

WORK_POOL = "shop-local"


def prefect_environment(settings: Settings) -> dict[str, str]:
    """Prefect's settings for the local platform: its home with the rest of the state, offline."""
    return {
        "PREFECT_HOME": str(settings.home / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_UI_ENABLED": "true",
        # The temporary server of a flow run without a scheduler starts in ~5 s on a quiet
        # machine but past Prefect's 20 s default on 2 busy cores, failing the run.
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
        "SHOP_REPO_ROOT": str(REPO_ROOT),
    }


def _prefect(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("prefect")), *args]


def _wait_for_api(url: str, process: subprocess.Popen, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Prefect server did not start at {url}") from None
            time.sleep(0.5)


def run(settings: Settings, port: int = 4200) -> None:
    api_url = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        **prefect_environment(settings),
        **settings.as_environment(),
        "PREFECT_API_URL": api_url,
    }
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    with (settings.log_dir / "prefect-server.log").open("a") as log:
        server = subprocess.Popen(
            _prefect("server", "start", "--host", "127.0.0.1", "--port", str(port)),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_api(api_url, server)
        pools = subprocess.run(_prefect("work-pool", "ls"), env=env, capture_output=True, text=True)
        if WORK_POOL not in pools.stdout:
            subprocess.run(
                _prefect("work-pool", "create", WORK_POOL, "--type", "process"), env=env, check=True
            )
        subprocess.run(_prefect("deploy", "--all"), env=env, cwd=REPO_ROOT, check=True)
        print(f"Prefect UI: http://127.0.0.1:{port} — worker running, Ctrl-C stops everything")
        subprocess.run(_prefect("worker", "start", "--pool", WORK_POOL), env=env, cwd=REPO_ROOT)
    except KeyboardInterrupt:
        pass
    finally:
        server.terminate()
        server.wait(timeout=30)
