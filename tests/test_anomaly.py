"""Revenue anomaly alerts: the verdict on a window, one alert per incident, and the band the dbt
model expected_order_bands learns from nine synthetic weeks (with a Black Friday in them), which
then sees a 45-minute checkout outage and a promotion in the tenth week and nothing else."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from pipeline import anomaly, transform
from pipeline import settings as platform
from pipeline.anomaly import Band, Figures, Incident, Window
from sandbox.shopgen.demand import HOUR_FACTOR, WEEKDAY_FACTOR

BAND = Band(
    expected_orders=50,
    orders_lower=20,
    orders_upper=100,
    expected_paid_revenue=Decimal("5000"),
    paid_revenue_lower=Decimal("2000"),
    paid_revenue_upper=Decimal("10000"),
)
TUESDAY_7PM = datetime(2026, 12, 1, 19, 0)


def quarter(start: datetime) -> Window:
    return Window(start, start + timedelta(minutes=15))


# -- windows ----------------------------------------------------------------------------------
def test_the_last_window_is_over_and_ends_on_a_quarter_hour() -> None:
    assert anomaly.last_window(datetime(2026, 12, 1, 19, 7, 33)) == quarter(
        datetime(2026, 12, 1, 18, 45)
    )
    assert anomaly.last_window(datetime(2026, 12, 1, 19, 15), minutes=60) == Window(
        datetime(2026, 12, 1, 18, 15), datetime(2026, 12, 1, 19, 15)
    )
    # the warehouse's timestamps are naive UTC
    aware = datetime(2026, 12, 1, 20, 7, tzinfo=UTC).astimezone()
    assert anomaly.last_window(aware).end == datetime(2026, 12, 1, 20, 0)


def test_hour_of_week_counts_from_monday_midnight() -> None:
    assert quarter(datetime(2026, 11, 30, 0, 0)).hour_of_week == 0  # a Monday
    assert quarter(datetime(2026, 12, 6, 23, 45)).hour_of_week == 167  # a Sunday
    assert quarter(TUESDAY_7PM).hour_of_week == 24 + 19


# -- the verdict ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("orders", "paid_revenue", "verdict"),
    [
        (50, "5000", "normal"),
        (20, "2000", "normal"),  # on the limits is still normal
        (100, "10000", "normal"),
        (0, "0", "below"),  # checkout down
        (50, "0", "below"),  # payments down: orders come, no money
        (19, "5000", "below"),
        (101, "5000", "above"),  # a promotion
        (50, "10000.01", "above"),  # a few very large orders: fraud?
        (0, "20000", "below"),  # below wins
    ],
)
def test_a_window_is_judged_against_its_band(orders: int, paid_revenue: str, verdict: str) -> None:
    figures = Figures(orders, Decimal(paid_revenue))
    assert anomaly.assess(quarter(TUESDAY_7PM), figures, BAND).verdict == verdict


def test_an_empty_window_is_normal_where_the_band_allows_none() -> None:
    quiet = replace(BAND, orders_lower=0, paid_revenue_lower=Decimal(0))
    assert anomaly.assess(quarter(TUESDAY_7PM), Figures(0, Decimal(0)), quiet).verdict == "normal"


# -- incidents --------------------------------------------------------------------------------
def run(windows: list[tuple[int, str]]) -> list[tuple[str, anomaly.Alert]]:
    """follow() over successive quarter hours from Tuesday 19:00, the incident kept as JSON
    between windows as the flow would; the alerts with their window's start."""
    stored: str | None = None
    alerts = []
    for n, (orders, paid_revenue) in enumerate(windows):
        window = quarter(TUESDAY_7PM + n * timedelta(minutes=15))
        incident = Incident.from_dict(json.loads(stored)) if stored else None
        assessment = anomaly.assess(window, Figures(orders, Decimal(paid_revenue)), BAND)
        incident, alert = anomaly.follow(incident, assessment)
        stored = json.dumps(incident.as_dict()) if incident else None
        if alert:
            alerts.append((f"{window.start:%H:%M}", alert))
    return alerts


NORMAL, DOWN, BUSY = (50, "5000"), (0, "0"), (300, "30000")
NORMAL_FIGURES = (50, Decimal("5000"))


def test_one_alert_when_an_incident_opens_and_one_when_it_is_resolved() -> None:
    alerts = run([NORMAL, DOWN, DOWN, DOWN, NORMAL, NORMAL, NORMAL])
    assert [at for at, _ in alerts] == ["19:15", "20:15"]
    opened, resolved = (alert for _, alert in alerts)
    assert "far below normal" in opened.text and "orders 0 < 20" in opened.text
    assert opened.fields["window"] == "Tue 01 Dec 19:15-19:30 UTC"
    assert opened.fields["orders"] == "0 (normal 50, band 20 to 100)"
    assert "back to normal* after 45 min" in resolved.text
    assert "(Tue 01 Dec 19:15-20:00 UTC)" in resolved.text


def test_a_normal_window_between_bad_ones_does_not_split_the_incident() -> None:
    alerts = run([DOWN, NORMAL, DOWN, NORMAL, NORMAL])
    assert [at for at, _ in alerts] == ["19:00", "20:00"]


def test_a_day_hovering_near_the_limit_stays_one_incident() -> None:
    """Windows back inside the band but in its outer half (90 orders against 50, limit 100)
    neither close the incident nor open a new one when the next goes over again."""
    hovering = (90, "9000")
    alerts = run([BUSY, hovering, hovering, BUSY, hovering, hovering, NORMAL, NORMAL])
    assert [at for at, _ in alerts] == ["19:00", "20:45"]
    assert "back to normal* after 60 min far above" in alerts[1][1].text


def test_an_incident_over_midnight_names_both_days() -> None:
    incident: Incident | None = Incident(
        "above", datetime(2026, 11, 27, 0, 0), datetime(2026, 11, 28, 0, 30)
    )
    settled = anomaly.assess(quarter(datetime(2026, 11, 28, 1)), Figures(*NORMAL_FIGURES), BAND)
    alert = None
    while incident is not None:
        incident, alert = anomaly.follow(incident, settled)
    assert alert is not None
    assert "after 24.5 h far above normal (Fri 27 Nov 00:00-Sat 28 Nov 00:30 UTC)" in alert.text


def test_a_turn_from_below_to_above_is_a_new_alert() -> None:
    alerts = run([DOWN, BUSY, NORMAL, NORMAL])
    assert [at for at, _ in alerts] == ["19:00", "19:15", "19:45"]
    assert "far above normal" in alerts[1][1].text
    assert "(far below normal since 19:00 UTC)" in alerts[1][1].text


# -- the band, learned by dbt from nine weeks ------------------------------------------------
HISTORY_START = datetime(2026, 9, 28)  # a Monday; ten weeks of orders
REPLAY_WEEK = HISTORY_START + timedelta(weeks=9)
BLACK_FRIDAY = HISTORY_START + timedelta(weeks=5, days=4)  # 3.6 times the usual Friday
OUTAGE_START = REPLAY_WEEK + timedelta(days=1, hours=19)  # Tuesday 19:00, for 45 minutes
OUTAGE_END = OUTAGE_START + timedelta(minutes=45)
PROMOTION_START = REPLAY_WEEK + timedelta(days=3, hours=18)  # Thursday 18:00, for 2 hours
PROMOTION_END = PROMOTION_START + timedelta(hours=2)
ORDERS_PER_HOUR = 100  # on average: 44 in a quarter hour at the evening peak, 3 at night


def synthetic_orders(rng: np.random.Generator) -> pa.Table:
    """Orders of ten weeks following the sandbox's weekday and hour-of-day demand: none during
    the outage, three times as many during the promotion and 3.6 times on Black Friday."""
    hour = np.timedelta64(1, "h")
    hours = np.datetime64(HISTORY_START, "us") + np.arange(10 * 7 * 24) * hour
    hour_of_day = hours.astype("datetime64[h]").astype(np.int64) % 24
    weekday = (hours.astype("datetime64[D]").astype(np.int64) + 3) % 7  # 1970-01-01: Thursday
    rate = ORDERS_PER_HOUR * HOUR_FACTOR[hour_of_day] * WEEKDAY_FACTOR[weekday]
    rate[hours.astype("datetime64[D]") == np.datetime64(BLACK_FRIDAY.date())] *= 3.6
    rate[(hours >= np.datetime64(PROMOTION_START)) & (hours < np.datetime64(PROMOTION_END))] *= 3
    counts = rng.poisson(rate)
    placed = np.repeat(hours, counts) + rng.integers(0, 3600, counts.sum()) * np.timedelta64(1, "s")
    placed = placed[(placed < np.datetime64(OUTAGE_START)) | (placed >= np.datetime64(OUTAGE_END))]
    paid = rng.random(len(placed)) < 0.9
    paid_at = placed + np.timedelta64(2, "m")
    return pa.table(
        {
            "placed_at": pa.array(placed, pa.timestamp("us")),
            "paid_at": pa.array(paid_at, pa.timestamp("us"), mask=~paid),
            "order_total": pa.array(
                [Decimal(f"{v:.2f}") for v in rng.lognormal(4.5, 0.6, len(placed))],
                pa.decimal128(18, 2),
            ),
        }
    )


@pytest.fixture(scope="module")
def marts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse whose fct_orders has the synthetic orders, and expected_order_bands learned
    from the nine weeks before the replayed one."""
    home = tmp_path_factory.mktemp("anomaly")
    warehouse = home / "warehouse"
    warehouse.mkdir()
    for source in ("postgres", "stripe", "marketing"):  # the profile attaches them
        duckdb.connect(str(warehouse / f"raw_{source}.duckdb")).close()
    with duckdb.connect(str(warehouse / "analytics.duckdb")) as conn:
        conn.execute("create schema marts")
        conn.register("orders", synthetic_orders(np.random.default_rng(19)))
        conn.execute("create table marts.fct_orders as select * from orders")
    code, log_file = transform.run_dbt(
        platform.load("dev", {**os.environ, "SHOP_HOME": str(home)}),
        [
            *("run", "--select", "expected_order_bands"),
            *("--vars", json.dumps({"anomaly_as_of": REPLAY_WEEK.isoformat()})),
        ],
    )
    assert code == 0, log_file.read_text()[-3000:]
    return warehouse / "analytics.duckdb"


def test_the_band_learns_the_usual_week_and_ignores_black_friday(marts: Path) -> None:
    with duckdb.connect(str(marts), read_only=True) as conn:
        friday_evening = anomaly.read_band(conn, quarter(BLACK_FRIDAY.replace(hour=20)))
        night = anomaly.read_band(conn, quarter(BLACK_FRIDAY.replace(hour=4)))
    usual = ORDERS_PER_HOUR * HOUR_FACTOR[20] * WEEKDAY_FACTOR[4] / 4
    assert friday_evening is not None and night is not None
    assert friday_evening.expected_orders == pytest.approx(usual, rel=0.15)
    assert 0 < friday_evening.orders_lower < usual / 2
    assert usual * 2 <= friday_evening.orders_upper < usual * 3.6
    assert night.orders_lower == 0 and night.paid_revenue_lower == 0  # a quiet hour


def test_a_week_of_windows_alerts_on_the_outage_and_the_promotion_only(marts: Path) -> None:
    alerts = []
    incident = None
    with duckdb.connect(str(marts), read_only=True) as conn:
        for n in range(7 * 24 * 4):
            window = quarter(REPLAY_WEEK + n * timedelta(minutes=15))
            band = anomaly.read_band(conn, window)
            assert band is not None
            assessment = anomaly.assess(window, anomaly.read_figures(conn, window), band)
            incident, alert = anomaly.follow(incident, assessment)
            if alert:
                alerts.append((window.start, alert.text.split("*")[1]))
    # open with the first quarter hour of each; resolved by the second normal one after it
    assert alerts == [
        (OUTAGE_START, "Orders far below normal"),
        (OUTAGE_END + timedelta(minutes=15), "Orders back to normal"),
        (PROMOTION_START, "Orders far above normal"),
        (PROMOTION_END + timedelta(minutes=15), "Orders back to normal"),
    ]
