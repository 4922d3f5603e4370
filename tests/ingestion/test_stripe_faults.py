"""tap-stripe against a sandbox that rate-limits (429 + Retry-After) and fails (500) now and then:
the load backs off, retries, skips no page, and RAW reconciles exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pipeline import extract_load, reconcile
from sandbox import generator, services
from sandbox.config import LocalShop

pytestmark = pytest.mark.integration


def test_rate_limits_and_server_errors_lose_nothing(shop_home: LocalShop) -> None:
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    generator.generate(shop_home, months=0.2, orders_per_month=15_000, seed=5, end=end)
    services.start_stripe_sandbox(shop_home, rate_limit_per_s=8, fail_every_n=9)
    try:
        run = extract_load.run_job(shop_home.platform(), "el-stripe")
    finally:
        services.stop_stripe_sandbox(shop_home)
    sandbox_log = (shop_home.log_dir / "el-stripe.log").read_text()
    assert "429" in sandbox_log or "rate" in sandbox_log.lower()
    results = {r.table: r for r in reconcile.reconcile(shop_home.platform(), ["el-stripe"])}
    assert results["charges"].source_rows > 2_000
    assert all(r.ok and r.raw_rows == r.source_rows for r in results.values())
    assert run.seconds > 0
