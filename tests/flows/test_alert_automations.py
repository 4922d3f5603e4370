"""The deployments' alerts are the Prefect server's automations (automations.yaml); a run outside
a deployment alerts through its own hooks; never both. A real `prefect server start` on a free
port, its triggers on, and a webhook receiver on 127.0.0.1 standing in for Slack."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from prefect import get_client
from prefect.client.schemas.objects import FlowRun
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.states import Failed

from flows.alerts import AUTOMATIONS_FILE, alert_on_failure, install_alerts, lateness_alert
from flows.realtime_orders import realtime_orders
from sandbox.config import REPO_ROOT, free_port
from sandbox.scheduler import prefect_cli, wait_for_api
from webhook_receiver import WebhookReceiver

ALERT_DEADLINE_S = 60


@pytest.fixture(scope="module")
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.server.shutdown()


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """A Prefect server of the module's own (home, database, port); its API URL."""
    home = Path(tempfile.mkdtemp(prefix="shop-prefect-"))
    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_API_URL": api_url,  # the server's links to its UI (automations' ui_url)
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    }
    with (home / "server.log").open("a") as log:
        process = subprocess.Popen(
            prefect_cli("server", "start", "--host", "127.0.0.1", "--port", str(port)),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_api(api_url, process)
        with temporary_settings({PREFECT_API_URL: api_url}):
            yield api_url
    finally:
        process.terminate()
        process.wait(timeout=60)
        shutil.rmtree(home, ignore_errors=True)


def wait_for_alerts(webhook: WebhookReceiver, settle_s: float = 5) -> list[str]:
    """The alerts received once the first arrived (within the deadline) and settle_s more
    passed without another: a second alert of the same failure would come in that time."""
    deadline = time.monotonic() + ALERT_DEADLINE_S
    while not webhook.payloads and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(settle_s)
    return webhook.texts()


def test_every_deployment_of_prefect_yaml_has_one_sla_automation() -> None:
    deployments = [d["name"] for d in yaml.safe_load((REPO_ROOT / "prefect.yaml").read_text())[
        "deployments"
    ]]
    automations = yaml.safe_load(AUTOMATIONS_FILE.read_text())["automations"]
    watched = [
        a["trigger"]["match_related"]["prefect.resource.name"]
        for a in automations
        if a["trigger"]["posture"] == "Proactive"
    ]
    assert sorted(watched) == sorted(deployments)


def test_a_failed_deployment_run_alerts_once_through_the_server(
    server: str, webhook: WebhookReceiver
) -> None:
    names = install_alerts(webhook.url)
    assert install_alerts(webhook.url) == names  # installing again updates, never duplicates

    async def installed() -> list[str]:
        async with get_client() as client:
            return sorted(a.name for a in await client.read_automations())
    assert asyncio.run(installed()) == sorted(names)

    deployment_id = realtime_orders.to_deployment(name="alerts-test").apply()
    with get_client(sync_client=True) as client:
        # An environment environments.yaml does not declare: the run fails at its first line.
        flow_run = client.create_flow_run_from_deployment(
            deployment_id, parameters={"environment": "nowhere"}
        )
    webhook.payloads.clear()
    # As a worker starts a deployment's run: the engine in a process of its own, where the
    # flow's hook would post to the same webhook if it did not stay silent.
    subprocess.run(
        [sys.executable, "-m", "prefect.engine"],
        env={
            **os.environ,
            "PREFECT_API_URL": server,
            "PREFECT__FLOW_RUN_ID": str(flow_run.id),
            "ALERT_WEBHOOK_URL": webhook.url,
        },
        cwd=REPO_ROOT,
        timeout=120,
    )
    with get_client(sync_client=True) as client:
        assert client.read_flow_run(flow_run.id).state.name == "Failed"

    alerts = wait_for_alerts(webhook)
    assert len(alerts) == 1, alerts
    assert alerts[0].startswith(f":red_circle: *realtime_orders* run *{flow_run.name}* failed")
    assert "deployment alerts-test" in alerts[0]
    assert "unknown environment 'nowhere'" in alerts[0]
    assert f"/runs/flow-run/{flow_run.id}" in alerts[0]


def test_the_hooks_alert_only_outside_a_deployment(
    server: str, webhook: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALERT_WEBHOOK_URL", webhook.url)
    webhook.payloads.clear()
    state = Failed(message="boom")
    for deployment_id in (uuid.uuid4(), None):
        run = FlowRun(flow_id=uuid.uuid4(), name="quiet-fox", deployment_id=deployment_id)
        alert_on_failure(realtime_orders, run, state)
    assert len(webhook.payloads) == 1
    assert webhook.texts()[0].startswith(":red_circle: *realtime_orders* run *quiet-fox* failed")

    webhook.payloads.clear()
    monkeypatch.setenv("PREFECT__RUNTIME__DEPLOYMENT__ID", str(uuid.uuid4()))
    with lateness_alert("realtime_orders", sla_seconds=0.1):
        time.sleep(1)
    assert webhook.payloads == []
    monkeypatch.delenv("PREFECT__RUNTIME__DEPLOYMENT__ID")
    with lateness_alert("realtime_orders", sla_seconds=0.1):
        time.sleep(1)
    assert len(webhook.payloads) == 1
    assert "*realtime_orders*" in webhook.texts()[0] and "is late" in webhook.texts()[0]
