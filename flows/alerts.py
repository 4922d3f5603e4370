"""Alerts to a Slack-compatible webhook: a failed or crashed run, and a run that is late.

The webhook is ALERT_WEBHOOK_URL (Slack incoming webhooks take `{"text": ...}`); without it
alerts are only logged. Lateness is watched inside the run: a run still going when its
expected duration (its SLA) is over raises one alert and goes on.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import Flow, FlowRun, State
from prefect.client.schemas.sorting import TaskRunSort
from prefect.runtime import flow_run as current_flow_run

logger = logging.getLogger(__name__)


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
    """Flow hook for on_failure and on_crashed: one alert per failed run."""
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
    """Alert once if the block is still running after sla_seconds."""
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
