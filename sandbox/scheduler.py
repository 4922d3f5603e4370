"""`shop scheduler`: a standing deployment of the embedded default on this machine.

The local sources run, the shop lives on (new orders, payments, refunds up to the real clock,
every minute), and a Prefect server on 127.0.0.1 with a process work pool and worker runs
prefect.yaml's dev deployments — the same flows a production worker runs. Telemetry is off;
Ctrl-C (or SIGTERM) stops the worker, the server and the shop's clock, in that order.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import yaml

from pipeline import processes
from pipeline import settings as platform
from sandbox import generator, postgres, services
from sandbox.config import DEMO_MONTHS, DEMO_ORDERS_PER_MONTH, REPO_ROOT, LocalShop

WORK_POOL = "shop-local"
SHOP_TICK_S = 60


def local_deployments() -> list[str]:
    """The deployments of prefect.yaml that run the dev environment on the local pool."""
    declared = yaml.safe_load((REPO_ROOT / "prefect.yaml").read_text())["deployments"]
    return [d["name"] for d in declared if d["work_pool"]["name"] == WORK_POOL]


def prefect_cli(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("prefect")), *args]


def wait_for_api(url: str, process: subprocess.Popen, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if process.poll() is not None or time.monotonic() > deadline:
                raise services.ServiceError(f"the Prefect server did not start at {url}") from None
            time.sleep(0.5)


def api_url(port: int) -> str:
    """The API of the Prefect server prefect_server starts on the port."""
    return f"http://127.0.0.1:{port}/api"


@contextmanager
def prefect_server(port: int, env: Mapping[str, str], log_file: Path) -> Iterator[str]:
    """`prefect server start` on 127.0.0.1:port with `env` (its database, home, telemetry), its
    output appended to log_file; its API URL once it answers. Stopped on leaving."""
    url = api_url(port)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("a") as log:
        server = subprocess.Popen(
            prefect_cli("server", "start", "--host", "127.0.0.1", "--port", str(port)),
            env={**env, "PREFECT_API_URL": url},  # the server's links to its UI
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_api(url, server)
        yield url
    finally:
        processes.stop(server, grace_s=60)


def _keep_the_shop_living(shop: LocalShop, stop: threading.Event) -> None:
    while not stop.wait(SHOP_TICK_S):
        generator.simulate(shop, until=datetime.now(UTC))


def _stop_as_on_ctrl_c(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM (systemd, kill) stops everything as Ctrl-C does


def run(shop: LocalShop, port: int = 4200) -> None:
    postgres.start(shop)
    services.start_stripe_sandbox(shop)
    if generator.shop_clock(shop) is None:
        generator.generate(shop, months=DEMO_MONTHS, orders_per_month=DEMO_ORDERS_PER_MONTH)
    generator.simulate(shop, until=datetime.now(UTC))
    env = {
        **os.environ,
        **platform.prefect_variables(shop.platform()),
        **shop.platform_variables(),
        "PREFECT_API_URL": api_url(port),
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": shop.prefect_database_url(),
        "PREFECT_UI_ENABLED": "true",
        "SHOP_REPO_ROOT": str(REPO_ROOT),  # prefect.yaml's pull step runs the flows from here
    }
    signal.signal(signal.SIGTERM, _stop_as_on_ctrl_c)
    stop_the_shop = threading.Event()
    try:
        with prefect_server(port, env, shop.log_dir / "prefect-server.log"):
            pools = subprocess.run(
                prefect_cli("work-pool", "ls"), env=env, capture_output=True, text=True
            )
            if WORK_POOL not in pools.stdout:
                subprocess.run(
                    prefect_cli("work-pool", "create", WORK_POOL, "--type", "process"),
                    env=env,
                    check=True,
                )
            names = [arg for name in local_deployments() for arg in ("--name", name)]
            subprocess.run(
                prefect_cli("--no-prompt", "deploy", *names), env=env, cwd=REPO_ROOT, check=True
            )
            if env.get("ALERT_WEBHOOK_URL"):
                subprocess.run(
                    [str(Path(sys.executable).with_name("shop")), "install-alerts"],
                    env=env,
                    check=True,
                )
            else:
                print("ALERT_WEBHOOK_URL unset: failed and late runs show in the Prefect UI only")
            threading.Thread(
                target=_keep_the_shop_living, args=(shop, stop_the_shop), daemon=True
            ).start()
            print(f"Prefect UI: http://127.0.0.1:{port} — worker running, Ctrl-C stops everything")
            worker = subprocess.Popen(
                prefect_cli("worker", "start", "--pool", WORK_POOL), env=env, cwd=REPO_ROOT
            )
            try:
                worker.wait()
            finally:
                processes.stop(worker, grace_s=20)
    except KeyboardInterrupt:
        pass
    finally:
        stop_the_shop.set()
