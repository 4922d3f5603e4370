"""Is the shop's last window of orders and paid revenue far from normal? One alert per incident.

The real-time run takes the last complete window (`last_window`), reads its orders and paid
revenue from fct_orders (`read_figures`) and the normal band for that hour of the week from the
dbt model expected_order_bands (`read_band`), and judges it (`assess`): far below normal
(checkout or payments down), far above (a promotion, fraud), or normal. `follow` turns the
verdicts of successive runs into alerts: one when an incident opens, one when it is resolved.

`assess` and `follow` are pure; the flow keeps the incident between runs (`Incident.as_dict`,
`Incident.from_dict`) and posts the alerts (`Alert.text` and `Alert.fields` are what
flows.alerts.send_alert takes).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Literal, Protocol, TypeVar

Verdict = Literal["normal", "below", "above"]
T = TypeVar("T", float, Decimal)

# Settled windows in a row that close an incident: one good window between two bad ones is
# still the same incident.
WINDOWS_TO_RESOLVE = 2


@dataclass(frozen=True)
class Window:
    start: datetime  # UTC, naive like the warehouse's timestamps
    end: datetime

    @property
    def minutes(self) -> int:
        return int((self.end - self.start) / timedelta(minutes=1))

    @property
    def hour_of_week(self) -> int:
        """0 for Monday 00:00-01:00 up to 167 for Sunday 23:00-24:00, at the window's middle."""
        middle = self.start + (self.end - self.start) / 2
        return middle.weekday() * 24 + middle.hour

    def describe(self) -> str:
        return f"{self.start:%a %d %b %H:%M}-{self.end:%H:%M} UTC"


def last_window(now: datetime, minutes: int = 15) -> Window:
    """The newest window of `minutes` that is over by `now` and ends on a quarter hour: a
    window of the data the run has, aligned like the band's samples."""
    if now.tzinfo is not None:  # the warehouse's timestamps are naive UTC
        now = now.astimezone(UTC).replace(tzinfo=None)
    end = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
    return Window(end - timedelta(minutes=minutes), end)


@dataclass(frozen=True)
class Figures:
    """What the shop took in a window: orders placed, and order totals of the orders paid."""

    orders: int
    paid_revenue: Decimal


@dataclass(frozen=True)
class Band:
    """A row of expected_order_bands: normal, and the limits of normal, for one window."""

    expected_orders: float
    orders_lower: float
    orders_upper: float
    expected_paid_revenue: Decimal
    paid_revenue_lower: Decimal
    paid_revenue_upper: Decimal


@dataclass(frozen=True)
class Assessment:
    window: Window
    figures: Figures
    band: Band
    verdict: Verdict
    reasons: tuple[str, ...]  # what is out of its band, e.g. "orders 0 < 21"
    # Within the inner half of the band: far enough from its limits to call an incident over
    # (a day hovering around a limit would otherwise open and close one incident after another).
    settled: bool

    def describe(self) -> str:
        return f"{self.window.describe()}: " + "; ".join(
            f"{name} {text}" for name, text in _figures_against_band(self).items()
        )


def assess(window: Window, figures: Figures, band: Band) -> Assessment:
    """Below when orders or paid revenue is under its band, above when one is over it (below
    wins: a checkout that is down matters more than anything else in the window)."""
    below, above = [], []
    if figures.orders < band.orders_lower:
        below.append(f"orders {figures.orders} < {band.orders_lower:.0f}")
    if figures.paid_revenue < band.paid_revenue_lower:
        below.append(f"paid revenue ${figures.paid_revenue:,.2f} < ${band.paid_revenue_lower:,.2f}")
    if figures.orders > band.orders_upper:
        above.append(f"orders {figures.orders} > {band.orders_upper:.0f}")
    if figures.paid_revenue > band.paid_revenue_upper:
        above.append(f"paid revenue ${figures.paid_revenue:,.2f} > ${band.paid_revenue_upper:,.2f}")
    verdict: Verdict = "below" if below else "above" if above else "normal"
    settled = _within_half(
        figures.orders, band.orders_lower, band.expected_orders, band.orders_upper
    ) and _within_half(
        figures.paid_revenue,
        band.paid_revenue_lower,
        band.expected_paid_revenue,
        band.paid_revenue_upper,
    )
    return Assessment(window, figures, band, verdict, tuple(below or above), settled)


def _within_half(value: float | Decimal, lower: T, expected: T, upper: T) -> bool:
    return lower + (expected - lower) / 2 <= value <= expected + (upper - expected) / 2


@dataclass(frozen=True)
class Incident:
    """An open incident: the shop has been far below (or above) normal since `since`."""

    direction: Literal["below", "above"]
    since: datetime  # start of its first abnormal window
    last_abnormal: datetime  # end of its newest abnormal window
    normal_windows: int = 0  # normal windows in a row since then

    def as_dict(self) -> dict[str, str | int]:
        return {
            "direction": self.direction,
            "since": self.since.isoformat(),
            "last_abnormal": self.last_abnormal.isoformat(),
            "normal_windows": self.normal_windows,
        }

    @staticmethod
    def from_dict(data: dict) -> Incident:
        return Incident(
            direction=data["direction"],
            since=datetime.fromisoformat(data["since"]),
            last_abnormal=datetime.fromisoformat(data["last_abnormal"]),
            normal_windows=int(data["normal_windows"]),
        )


@dataclass(frozen=True)
class Alert:
    text: str
    fields: dict[str, str]


HEADLINES = {
    "below": ":rotating_light: *Orders far below normal*: checkout or payments may be down",
    "above": ":chart_with_upwards_trend: *Orders far above normal*: a promotion, or fraud?",
}


def follow(
    incident: Incident | None, assessment: Assessment
) -> tuple[Incident | None, Alert | None]:
    """The incident after this window, and the alert to send, if any: one when an incident
    opens (or turns from below to above or back), one when WINDOWS_TO_RESOLVE settled windows
    in a row close it (a normal window near the band's limit neither closes nor extends it)."""
    window, verdict = assessment.window, assessment.verdict
    if incident is not None and verdict == "normal":
        if not assessment.settled:
            return replace(incident, normal_windows=0), None
        if incident.normal_windows + 1 < WINDOWS_TO_RESOLVE:
            return replace(incident, normal_windows=incident.normal_windows + 1), None
        lasted = incident.last_abnormal - incident.since
        ended = f"{incident.last_abnormal:%H:%M}"
        if incident.last_abnormal.date() != incident.since.date():
            ended = f"{incident.last_abnormal:%a %d %b} {ended}"
        return None, Alert(
            f":white_check_mark: *Orders back to normal* after {_duration(lasted)} far "
            f"{incident.direction} normal ({incident.since:%a %d %b %H:%M}-{ended} UTC)",
            _fields(assessment),
        )
    if verdict == "normal":
        return None, None
    if incident is not None and incident.direction == verdict:
        return Incident(verdict, incident.since, window.end), None
    opened = Incident(verdict, window.start, window.end)
    text = f"{HEADLINES[verdict]}: {', '.join(assessment.reasons)} in {window.describe()}"
    if incident is not None:
        text += f" (far {incident.direction} normal since {incident.since:%H:%M} UTC)"
    return opened, Alert(text, _fields(assessment))


def _fields(assessment: Assessment) -> dict[str, str]:
    return {"window": assessment.window.describe(), **_figures_against_band(assessment)}


def _figures_against_band(assessment: Assessment) -> dict[str, str]:
    band, figures = assessment.band, assessment.figures
    return {
        "orders": f"{figures.orders} (normal {band.expected_orders:.0f}, "
        f"band {band.orders_lower:.0f} to {band.orders_upper:.0f})",
        "paid revenue": f"${figures.paid_revenue:,.2f} (normal "
        f"${band.expected_paid_revenue:,.2f}, band ${band.paid_revenue_lower:,.2f} to "
        f"${band.paid_revenue_upper:,.2f})",
    }


def _duration(span: timedelta) -> str:
    minutes = int(span / timedelta(minutes=1))
    return f"{minutes} min" if minutes < 120 else f"{minutes / 60:.1f} h"


# -- reading the window and its band from the marts ----------------------------------------------
class Connection(Protocol):
    """A DB-API-like connection with qmark parameters (duckdb; the Snowflake connector with
    paramstyle 'qmark')."""

    def execute(self, query: str, parameters: list) -> Connection: ...

    def fetchone(self) -> tuple | None: ...


# Orders placed in the window, and the totals of orders paid in it (paid within a day of being
# placed, which bounds the scan).
FIGURES_SQL = """
select
    count(case when placed_at >= ? and placed_at < ? then 1 end),
    coalesce(sum(case when paid_at >= ? and paid_at < ? then order_total end), 0)
from marts.fct_orders
where placed_at >= ? and placed_at < ?
"""

BAND_SQL = """
select
    expected_orders, orders_lower, orders_upper,
    expected_paid_revenue, paid_revenue_lower, paid_revenue_upper
from marts.expected_order_bands
where hour_of_week = ? and window_minutes = ?
"""


def read_figures(conn: Connection, window: Window) -> Figures:
    scan_from = window.start - timedelta(days=1)
    row = conn.execute(
        FIGURES_SQL,
        [window.start, window.end, window.start, window.end, scan_from, window.end],
    ).fetchone()
    assert row is not None  # an aggregate always returns a row
    return Figures(orders=int(row[0]), paid_revenue=Decimal(row[1]))


def read_band(conn: Connection, window: Window) -> Band | None:
    """The band of the window's hour of the week, or None before expected_order_bands has one
    for windows of this length."""
    row = conn.execute(BAND_SQL, [window.hour_of_week, window.minutes]).fetchone()
    if row is None:
        return None
    return Band(
        expected_orders=float(row[0]),
        orders_lower=float(row[1]),
        orders_upper=float(row[2]),
        expected_paid_revenue=Decimal(row[3]),
        paid_revenue_lower=Decimal(row[4]),
        paid_revenue_upper=Decimal(row[5]),
    )
