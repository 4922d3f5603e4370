"""The flows' tests: a webhook receiver on 127.0.0.1 standing in for Slack, one per module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from webhook_receiver import WebhookReceiver


@pytest.fixture(scope="module")
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.server.shutdown()
