"""A small secret scanner: the formats of the secrets this platform handles or could leak.

Why not a generic scanner (detect-secrets): the secrets at stake are few and known — the
PostgreSQL password, the Stripe key, the Snowflake private key, an alert webhook — and the
default local password is the plain word "sandbox", which entropy-based detection cannot see.
Exact formats plus the known values (tests/reliability checks the logs for those) find them
without a baseline of false positives to maintain.
"""

from __future__ import annotations

import re

SECRET_PATTERNS = {
    "private key": r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY-----",
    "Stripe live key": r"\b[sr]k_live_[0-9a-zA-Z]{10,}",
    "Stripe test key": r"\b[sr]k_test_[0-9a-zA-Z]{10,}",  # real test keys are long
    "password in a URL": r"\b[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:[^/\s@'\"$<{]{3,}@",
    "Slack webhook": r"https://hooks\.slack\.com/services/T[0-9A-Za-z]+/B[0-9A-Za-z]+/[0-9A-Za-z]+",
    "AWS access key": r"\bAKIA[0-9A-Z]{16}\b",
    "GitHub token": r"\bgh[pousr]_[0-9A-Za-z]{36}\b",
}


def scan_text(text: str) -> list[str]:
    """'kind: excerpt' for every secret-looking string in the text."""
    return [
        f"{kind}: {match.group(0)[:24]}..."
        for kind, pattern in SECRET_PATTERNS.items()
        for match in re.finditer(pattern, text)
    ]
