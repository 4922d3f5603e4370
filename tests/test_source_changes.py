"""The real-time flow's two cost levers outside Snowflake: a run skips when the source has nothing
new (and the revenue watch no new window), and in production every tool of the flow runs on the
warehouse platform.yaml gives the workload."""

from __future__ import annotations

from datetime import datetime

from pipeline import settings as platform
from pipeline import source_changes
from pipeline.source_changes import SourceMark

NOW = datetime(2026, 12, 5, 10, 20)  # the watch's last window ends at 10:15
LOADED = SourceMark(newest_change="2026-12-05T10:19:00", watch_window_end="2026-12-05T10:15:00")


def test_a_run_skips_only_when_nothing_changed_and_no_window_closed() -> None:
    assert source_changes.nothing_new(LOADED, "2026-12-05T10:19:00", NOW)
    assert not source_changes.nothing_new(LOADED, "2026-12-05T10:19:30", NOW)  # a change
    # A silent source in a window the watch has not judged may be an outage: run.
    assert not source_changes.nothing_new(
        LOADED, "2026-12-05T10:19:00", datetime(2026, 12, 5, 10, 31)
    )
    # No completed run on this runner yet: run.
    assert not source_changes.nothing_new(SourceMark(), None, NOW)


PROD = {
    "SNOWFLAKE_ACCOUNT": "myorg-myaccount",
    "TAP_POSTGRES_HOST": "shop-db",
    "TAP_POSTGRES_USER": "reader",
    "TAP_POSTGRES_DATABASE": "shop",
    "TAP_POSTGRES_CDC_SLOT": "shop_cdc",
    "TAP_STRIPE_CLIENT_SECRET": "sk_live_x",
    "TAP_STRIPE_ACCOUNT_ID": "acct_x",
    "MARKETING_EXPORTS_URL": "s3://exports/marketing",
    "MELTANO_STATE_BACKEND_URI": "snowflake://MELTANO_SVC@acct/RAW/MELTANO?warehouse=LOADING_WH&role=LOADER",
}


def test_the_realtime_flow_runs_every_tool_on_one_warehouse() -> None:
    settings = platform.on_workload(platform.load("prod", PROD), "realtime_orders")
    assert settings.snowflake is not None and settings.snowflake.warehouse == "REALTIME_WH"
    tools = (
        "TARGET_SNOWFLAKE_WAREHOUSE",  # Meltano's loader
        "SNOWFLAKE_WAREHOUSE",  # dbt's profile
        "EVIDENCE_SOURCE__warehouse__warehouse",
        "EVIDENCE_SOURCE__costs__warehouse",
    )
    assert {settings.variables[name] for name in tools} == {"REALTIME_WH"}
    assert settings.variables["MELTANO_STATE_BACKEND_URI"].endswith(
        "?warehouse=REALTIME_WH&role=LOADER"
    )


def test_the_local_world_has_no_warehouse_to_pick() -> None:
    dev = platform.load("dev", {})
    assert platform.on_workload(dev, "realtime_orders") is dev


def test_the_daily_flow_runs_each_tool_on_its_own_warehouse() -> None:
    settings = platform.on_workload(platform.load("prod", PROD), "daily_refresh")
    assert settings.snowflake is not None and settings.snowflake.warehouse == "TRANSFORMING_WH"
    assert settings.variables["TARGET_SNOWFLAKE_WAREHOUSE"] == "LOADING_WH"
    assert settings.variables["EVIDENCE_SOURCE__warehouse__warehouse"] == "REPORTING_WH"
