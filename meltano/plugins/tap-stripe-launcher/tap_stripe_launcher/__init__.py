"""Run tap-stripe 3.3.0 unchanged, or — when STRIPE_API_BASE is set — against that base URL.

The tap is hard-wired to api.stripe.com: its request timer reads the stream name with
`re.match(r'http[s]?://api\\.stripe\\.com/v1/(\\w+)', url).groups()`, which crashes on any other
host. Production leaves STRIPE_API_BASE unset and gets the tap exactly as published.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

import stripe
import tap_stripe
from singer import metrics

_ENDPOINT = re.compile(r"^https?://[^/]+/v1/(\w+)")


def _apply_tolerant_request_timer(client: Any) -> None:
    """Like tap_stripe.apply_request_timer_to_client, but for any host."""
    original_request: Callable[..., Any] = client.request

    def timed_request(*args: Any, **kwargs: Any) -> Any:
        match = _ENDPOINT.match(args[1])
        with metrics.http_request_timer(match[1] if match else "unknown"):
            return original_request(*args, **kwargs)

    client.request = timed_request


def main() -> None:
    api_base = os.environ.get("STRIPE_API_BASE")
    if api_base:
        stripe.api_base = api_base.rstrip("/")
        # configure_stripe_client() looks the hook up on the module at call time.
        tap_stripe.apply_request_timer_to_client = _apply_tolerant_request_timer
    tap_stripe.main()
