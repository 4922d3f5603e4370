"""Stripe answering 429s (a rate limit) and 500s: tap-stripe retries through them and loses
nothing (RAW holds every object of the sandbox, once, with its values)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from pipeline import extract_load
from sandbox import generator, inspect, services
from sandbox.config import LocalShop

pytestmark = pytest.mark.integration


def test_rate_limits_and_server_errors_lose_nothing(shop_home: LocalShop) -> None:
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    generator.generate(shop_home, months=0.1, orders_per_month=15_000, seed=5, end=end)
    services.start_stripe_sandbox(shop_home, rate_limit_per_s=12, fail_every_n=30)
    try:
        extract_load.run_job(shop_home.platform(), "el-stripe")
    finally:
        services.stop_stripe_sandbox(shop_home)
    # The sandbox's own log proves the faults happened during the load.
    sandbox_log = (shop_home.log_dir / "stripe-sandbox.log").read_text()
    assert len(re.findall(r"^injected 500 on request \d+$", sandbox_log, re.M)) >= 3
    assert len(re.findall(r"^rate limited: 429", sandbox_log, re.M)) >= 1
    differences = inspect.stripe_differences(shop_home)
    assert differences == {table: dict.fromkeys(d, 0) for table, d in differences.items()}
    with inspect.connect(shop_home) as conn:
        (charges,) = conn.execute("select count(*) from raw_stripe.stripe.charges").fetchone()
    assert charges > 1_000
