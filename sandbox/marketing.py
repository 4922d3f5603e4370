"""Marketing channels, campaigns and their daily CSV exports (spend and performance).

The exports are derived from the orders: the orders a campaign brought in on a day are its
conversions; clicks follow from the campaign's conversion rate, impressions from its
click-through rate and spend from its cost per click, so CAC and ROAS come out plausible.
Noise is drawn from a generator seeded by (seed, day), so re-rendering a day (simulate adds
orders to today) keeps the numbers of the orders it already had stable.
"""

from __future__ import annotations

import csv
import os
import tempfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import psycopg


@dataclass(frozen=True)
class Channel:
    name: str
    share_new: float  # share of first orders arriving through this channel
    share_returning: float  # share of repeat orders


@dataclass(frozen=True)
class Campaign:
    campaign_id: str
    channel: str
    name: str
    conversion_rate: float  # orders per click
    cost_per_click: float  # dollars
    click_through_rate: float  # clicks per impression


CHANNELS = (
    Channel("organic_search", 0.30, 0.18),
    Channel("direct", 0.17, 0.30),
    Channel("email", 0.05, 0.20),
    Channel("paid_search", 0.20, 0.12),
    Channel("paid_social", 0.14, 0.08),
    Channel("display", 0.05, 0.03),
    Channel("affiliate", 0.09, 0.09),
)
CAMPAIGNS = (
    Campaign("cmp-em-newsletter", "email", "Weekly Newsletter", 0.045, 1.80, 0.030),
    Campaign("cmp-em-winback", "email", "Win-back Flow", 0.035, 1.60, 0.025),
    Campaign("cmp-em-cart", "email", "Abandoned Cart Flow", 0.080, 2.80, 0.060),
    Campaign("cmp-ps-brand", "paid_search", "Search - Brand", 0.070, 2.80, 0.080),
    Campaign("cmp-ps-generic", "paid_search", "Search - Generic", 0.025, 2.00, 0.035),
    Campaign("cmp-ps-shopping", "paid_search", "Shopping - All Products", 0.030, 1.70, 0.012),
    Campaign("cmp-so-prospecting", "paid_social", "Social - Prospecting", 0.012, 1.20, 0.009),
    Campaign("cmp-so-retargeting", "paid_social", "Social - Retargeting", 0.030, 1.70, 0.014),
    Campaign("cmp-dis-retargeting", "display", "Display - Retargeting", 0.008, 0.73, 0.004),
    Campaign("cmp-dis-awareness", "display", "Display - Awareness", 0.004, 0.53, 0.002),
    Campaign("cmp-aff-network", "affiliate", "Affiliate Network", 0.050, 2.50, 0.020),
    Campaign("cmp-aff-creators", "affiliate", "Creator Partnerships", 0.035, 2.00, 0.015),
)
CURRENCY = "USD"
SPEND_HEADER = ("date", "channel", "campaign_id", "campaign_name", "spend", "currency")
PERFORMANCE_HEADER = (
    "date", "channel", "campaign_id", "impressions", "clicks", "conversions", "conversion_value",
)  # fmt: skip


def spend_path(marketing_dir: Path, day: date) -> Path:
    return marketing_dir / "marketing_spend" / f"marketing_spend_{day.isoformat()}.csv"


def performance_path(marketing_dir: Path, day: date) -> Path:
    return marketing_dir / "campaign_performance" / f"campaign_performance_{day.isoformat()}.csv"


def daily_conversions(
    shop: psycopg.Connection, first_day: date, last_day: date
) -> dict[tuple[date, str], tuple[int, int]]:
    """(day, campaign_id) -> (orders, order value in cents) for orders placed in the days."""
    rows = shop.execute(
        """
        select (placed_at at time zone 'UTC')::date, utm_campaign, count(*), sum(total_cents)
        from orders
        where utm_campaign is not null
          and placed_at >= %(first)s::date and placed_at < %(last)s::date + 1
        group by 1, 2
        """,
        {"first": first_day, "last": last_day},
    ).fetchall()
    return {(day, campaign): (int(n), int(value)) for day, campaign, n, value in rows}


def write_exports(
    marketing_dir: Path,
    seed: int,
    first_day: date,
    last_day: date,
    conversions: dict[tuple[date, str], tuple[int, int]],
) -> int:
    """Write (or atomically rewrite) both files for every day in [first_day, last_day];
    returns the number of data rows written per export."""
    rows = 0
    day = first_day
    while day <= last_day:
        spend_rows, performance_rows = _day_rows(seed, day, conversions)
        _write_atomically(spend_path(marketing_dir, day), SPEND_HEADER, spend_rows)
        _write_atomically(
            performance_path(marketing_dir, day), PERFORMANCE_HEADER, performance_rows
        )
        rows += len(spend_rows)
        day += timedelta(days=1)
    return rows


def _day_rows(
    seed: int, day: date, conversions: dict[tuple[date, str], tuple[int, int]]
) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    rng = np.random.default_rng([seed, 7, day.toordinal()])
    noise = rng.lognormal(0.0, [[0.15], [0.10], [0.20]], size=(3, len(CAMPAIGNS)))
    spend_rows, performance_rows = [], []
    for index, campaign in enumerate(CAMPAIGNS):
        orders, value_cents = conversions.get((day, campaign.campaign_id), (0, 0))
        clicks = max(round(orders / campaign.conversion_rate * noise[0, index]), orders)
        spend = round(clicks * campaign.cost_per_click * noise[1, index], 2)
        impressions = max(round(clicks / campaign.click_through_rate * noise[2, index]), clicks)
        iso = day.isoformat()
        spend_rows.append(
            (iso, campaign.channel, campaign.campaign_id, campaign.name, f"{spend:.2f}", CURRENCY)
        )
        performance_rows.append(
            (iso, campaign.channel, campaign.campaign_id, impressions, clicks, orders,
             f"{value_cents / 100:.2f}")
        )  # fmt: skip
    return spend_rows, performance_rows


def _write_atomically(path: Path, header: tuple[str, ...], rows: list[tuple[object, ...]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", newline="") as out:
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)
        os.chmod(temp_name, 0o644)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
