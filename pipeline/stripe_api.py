"""Read Stripe's API the way the platform's reconciliation needs it: one list endpoint over a
window of `created`, every page (forward paging by `starting_after` while `has_more`)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import datetime

from pipeline.errors import PlatformError
from pipeline.settings import StripeSource

API_VERSION = "2022-11-15"  # the version tap-stripe 3.3.0 pins: objects look as it loads them
PAGE_SIZE = 100
RETRIES = 6


class StripeApiError(PlatformError):
    pass


def _get(source: StripeSource, path: str, params: dict[str, str]) -> dict:
    url = f"{source.api_base}{path}?{urllib.parse.urlencode(params)}"
    request = urllib.request.Request(
        url,
        headers={
            "Authorization": f"Bearer {source.api_key}",
            "Stripe-Version": API_VERSION,
            "Stripe-Account": source.account_id,
        },
    )
    for attempt in range(RETRIES):
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.load(response)
        except urllib.error.HTTPError as error:
            # Stripe asks to retry 429s and 5xx; anything else is ours to fix.
            if (error.code == 429 or error.code >= 500) and attempt < RETRIES - 1:
                time.sleep(float(error.headers.get("Retry-After") or 2**attempt))
                continue
            body = error.read().decode(errors="replace")[:500]
            raise StripeApiError(f"GET {path} answered {error.code}: {body}") from None
        except urllib.error.URLError as error:
            if attempt < RETRIES - 1:
                time.sleep(2**attempt)
                continue
            raise StripeApiError(
                f"GET {path}: Stripe's API at {source.api_base} is unreachable ({error.reason})"
            ) from None
    raise AssertionError("unreachable")


def list_created(
    source: StripeSource, path: str, created_from: datetime, created_before: datetime
) -> Iterator[dict]:
    """Every object of the list endpoint created in [created_from, created_before)."""
    params = {
        "limit": str(PAGE_SIZE),
        "created[gte]": str(int(created_from.timestamp())),
        "created[lt]": str(int(created_before.timestamp())),
    }
    while True:
        page = _get(source, path, params)
        yield from page["data"]
        if not page["has_more"] or not page["data"]:
            return
        params["starting_after"] = page["data"][-1]["id"]


def newest_event_created(source: StripeSource) -> int | None:
    """When Stripe's newest event was created (epoch seconds, Stripe's clock), if any: lists are
    newest first."""
    page = _get(source, "/v1/events", {"limit": "1"})
    return int(page["data"][0]["created"]) if page["data"] else None
