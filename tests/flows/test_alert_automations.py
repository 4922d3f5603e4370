"""The deployments' alerts are the Prefect server's automations (automations.yaml); a run outside
a deployment alerts through its own hooks; never both. A real `prefect server start` on a free
port, its triggers on, and a webhook receiver on 127.0.0.1 standing in for Slack."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from prefect import get_client
from prefect.client.schemas.objects import FlowRun
from prefect.events.schemas.automations import AutomationCore
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.states import Failed, Late, Pending, Running
from webhook_receiver import WebhookReceiver

from flows.alerts import AUTOMATIONS_FILE, alert_on_failure, install_alerts, lateness_alert
from flows.realtime_orders import realtime_orders
from sandbox.config import REPO_ROOT, LocalShop, free_port
from sandbox.scheduler import prefect_server

pytestmark = pytest.mark.integration

ALERT_DEADLINE_S = 60


@pytest.fixture(scope="module")
def server(pg: LocalShop, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Prefect server as `shop scheduler` starts one, of the module's own (home, port), on the
    session's PostgreSQL; its API URL. Its log stays in pytest's temporary folder."""
    home = tmp_path_factory.mktemp("prefect")
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": pg.prefect_database_url(),
    }  # telemetry is off in os.environ (tests/conftest.py)
    with (
        prefect_server(free_port(), env, home / "server.log") as api_url,
        temporary_settings({PREFECT_API_URL: api_url}),
    ):
        yield api_url


def wait_for_alerts(webhook: WebhookReceiver, settle_s: float = 5) -> list[str]:
    """The alerts received once the first arrived (within the deadline) and settle_s more
    passed without another: a second alert of the same failure would come in that time."""
    deadline = time.monotonic() + ALERT_DEADLINE_S
    while not webhook.payloads and time.monotonic() < deadline:
        time.sleep(0.5)
    time.sleep(settle_s)
    return webhook.texts()


@pytest.fixture(scope="module")
def deployment(
    server: str, webhook: WebhookReceiver, tmp_path_factory: pytest.TempPathFactory
) -> uuid.UUID:
    """The alerts installed as `shop scheduler` and production install them, and realtime_orders
    deployed as dev-realtime (its SLA automation watches it); the deployment's id."""
    subprocess.run(
        [str(Path(sys.executable).with_name("shop")), "install-alerts"],
        env={
            **os.environ,
            "PREFECT_API_URL": server,
            "ALERT_WEBHOOK_URL": webhook.url,
            "SHOP_HOME": str(tmp_path_factory.mktemp("shop")),
        },
        check=True,
    )
    return realtime_orders.to_deployment(name="dev-realtime").apply()


def new_run(deployment: uuid.UUID, **parameters: object) -> FlowRun:
    with get_client(sync_client=True) as client:
        return client.create_flow_run_from_deployment(deployment, parameters=parameters)


def test_every_deployment_of_prefect_yaml_has_one_sla_automation() -> None:
    deployments = [
        d["name"] for d in yaml.safe_load((REPO_ROOT / "prefect.yaml").read_text())["deployments"]
    ]
    automations = yaml.safe_load(AUTOMATIONS_FILE.read_text())["automations"]
    watched = [
        a["trigger"]["match_related"]["prefect.resource.name"]
        for a in automations
        if a["trigger"]["posture"] == "Proactive"
    ]
    assert sorted(watched) == sorted(deployments)


def test_installing_again_updates_never_duplicates(
    deployment: uuid.UUID, webhook: WebhookReceiver
) -> None:
    names = install_alerts(webhook.url)
    with get_client(sync_client=True) as client:
        installed = sorted(automation.name for automation in client.read_automations())
    assert installed == sorted(names) and len(names) == 6


def test_a_failed_deployment_run_alerts_once_through_the_server(
    server: str, deployment: uuid.UUID, webhook: WebhookReceiver
) -> None:
    # An environment environments.yaml does not declare: the run fails at its first line.
    flow_run = new_run(deployment, environment="nowhere")
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
    assert len(alerts) == 1, "\n---\n".join(alerts)
    assert alerts[0].startswith(f":red_circle: *realtime_orders* run *{flow_run.name}* failed")
    assert "deployment dev-realtime" in alerts[0]
    assert "unknown environment 'nowhere'" in alerts[0]
    assert f"/runs/flow-run/{flow_run.id}" in alerts[0]


def test_a_late_deployment_run_alerts_through_the_server(
    deployment: uuid.UUID, webhook: WebhookReceiver
) -> None:
    flow_run = new_run(deployment)
    webhook.payloads.clear()
    # What the server's late-runs service does to a scheduled run no worker picked up.
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(flow_run.id, Late(), force=True)
    alerts = wait_for_alerts(webhook)
    assert len(alerts) == 1, "\n---\n".join(alerts)
    assert alerts[0].startswith(f":warning: *realtime_orders* run *{flow_run.name}* is late")
    assert "not started (deployment dev-realtime, state Late)" in alerts[0]


def test_a_deployment_run_over_its_sla_alerts_through_the_server(
    deployment: uuid.UUID, webhook: WebhookReceiver
) -> None:
    with get_client(sync_client=True) as client:
        # dev-realtime's SLA as installed, shortened to the shortest a proactive trigger takes.
        (automation,) = client.read_automations_by_name("shop-run-over-sla-dev-realtime")
        automation.trigger.within = timedelta(seconds=10)
        shortened = AutomationCore(
            name=automation.name, trigger=automation.trigger, actions=automation.actions
        )
        client.update_automation(automation.id, shortened)
        flow_run = new_run(deployment)
        webhook.payloads.clear()
        client.set_flow_run_state(flow_run.id, Pending(), force=True)
        client.set_flow_run_state(flow_run.id, Running(), force=True)
        alerts = wait_for_alerts(webhook)
    assert len(alerts) == 1, "\n---\n".join(alerts)
    assert alerts[0].startswith(f":warning: *realtime_orders* run *{flow_run.name}* is late")
    assert "not finished 0:00:10 after it started (deployment dev-realtime" in alerts[0]


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
