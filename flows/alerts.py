"""Alerts to a Slack-compatible webhook: a failed or crashed run, and a run that is late.

The webhook is ALERT_WEBHOOK_URL (Slack incoming webhooks take `{"text": ...}`).

Who alerts depends on whether a Prefect server stands behind the run. A run of a deployment
(`shop scheduler`, production) is watched by the server: the automations of automations.yaml
send through the notification block `shop-alerts`, both installed by `install_alerts` — they
also see what no run can report itself (a run that never starts, a process killed outright).
Any other run (`shop demo`, `shop run`, tests) has no such server, so its own hooks alert
(`alert_on_failure`, `lateness_alert`; without the webhook they only log). Never both.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from uuid import UUID

import yaml
from prefect import get_client
from prefect.blocks.notifications import CustomWebhookNotificationBlock
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import Flow, FlowRun, State
from prefect.client.schemas.sorting import TaskRunSort
from prefect.events.schemas.automations import AutomationCore
from prefect.runtime import deployment as current_deployment
from prefect.runtime import flow_run as current_flow_run

from pipeline.settings import REPO_ROOT

logger = logging.getLogger(__name__)

AUTOMATIONS_FILE = REPO_ROOT / "automations.yaml"
NOTIFICATION_BLOCK = "shop-alerts"


def install_alerts(webhook_url: str) -> list[str]:
    """Save the notification block posting to webhook_url and create or update (by name) the
    automations of automations.yaml on the server PREFECT_API_URL names; their names."""
    block = CustomWebhookNotificationBlock(
        name=NOTIFICATION_BLOCK,
        # A webhook's URL carries its token: kept among the block's secrets, not in plain view.
        url="{{webhook_url}}",
        secrets={"webhook_url": webhook_url},
        json_data={"text": "{{body}}"},  # the body is the automation's message, as Slack takes it
    )
    block_id = block.save(NOTIFICATION_BLOCK, overwrite=True)
    declared = yaml.safe_load(AUTOMATIONS_FILE.read_text())["automations"]
    automations = [_sending_through(spec, block_id) for spec in declared]
    with get_client(sync_client=True) as client:
        for automation in automations:
            existing = client.read_automations_by_name(automation.name)
            if existing:
                client.update_automation(existing[0].id, automation)
            else:
                client.create_automation(automation)
    return [automation.name for automation in automations]


def _sending_through(spec: dict, block_id: UUID) -> AutomationCore:
    """The declared automation, its actions (all send-notification) sending through block_id."""
    actions = [{**action, "block_document_id": block_id} for action in spec["actions"]]
    return AutomationCore.model_validate({**spec, "actions": actions})


def send_alert(text: str, fields: dict[str, str]) -> None:
    payload = {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {
                "type": "section",
                "fields": [{"type": "mrkdwn", "text": f"*{k}*\n{v}"} for k, v in fields.items()],
            },
        ],
    }
    url = os.environ.get("ALERT_WEBHOOK_URL")
    logger.warning("ALERT %s %s", text, fields)
    if not url:
        return
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10):
            pass
    except OSError as error:  # an alert must never hide the failure it reports
        logger.error("could not deliver the alert to the webhook: %s", error)


def _describe_failure(state: State) -> str:
    message = state.message or ""
    try:
        result = state.result(raise_on_failure=False)
        if isinstance(result, BaseException):
            message = f"{type(result).__name__}: {result}"
    except Exception:  # the state's message is the fallback
        pass
    return message


def _failed_steps(flow_run: FlowRun) -> str:
    """The names of the flow run's task runs that failed or crashed."""
    try:
        with get_client(sync_client=True) as client:
            task_runs = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run.id])),
                sort=TaskRunSort.EXPECTED_START_TIME_DESC,
                limit=200,
            )
    except Exception as error:  # the alert goes out even when the API does not answer
        return f"unknown ({error})"
    failed = sorted({run.name for run in task_runs if run.state and run.state.is_failed()})
    return ", ".join(failed) or "the flow itself"


def alert_on_failure(flow: Flow, flow_run: FlowRun, state: State) -> None:
    """Flow hook for on_failure and on_crashed: one alert per failed run outside a deployment."""
    if flow_run.deployment_id is not None:
        return  # automations.yaml's shop-run-failed alerts
    send_alert(
        f":red_circle: *{flow.name}* run *{flow_run.name}* {state.name.lower()}",
        {
            "flow run": f"{flow_run.name} ({flow_run.id})",
            "failed step": _failed_steps(flow_run),
            "state": state.name,
            "error": _describe_failure(state)[:1500],
            "parameters": json.dumps(flow_run.parameters, default=str),
        },
    )


@contextmanager
def lateness_alert(flow_name: str, sla_seconds: float) -> Iterator[None]:
    """Alert once if the block is still running after sla_seconds, outside a deployment."""
    if current_deployment.id is not None:
        yield  # the deployment's SLA automation (automations.yaml) alerts
        return
    finished = threading.Event()
    # prefect.runtime reads context variables, which the watcher thread does not inherit.
    run_name, run_id = current_flow_run.name, current_flow_run.id

    def watch() -> None:
        if not finished.wait(sla_seconds):
            send_alert(
                f":warning: *{flow_name}* run *{run_name}* is late: "
                f"not finished after {sla_seconds:.0f} s",
                {"flow run": f"{run_name} ({run_id})", "sla": f"{sla_seconds:.0f} s"},
            )

    watcher = threading.Thread(target=watch, name="lateness-alert", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        finished.set()
