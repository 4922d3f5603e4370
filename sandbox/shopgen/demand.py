"""When orders happen: an hourly demand curve with seasonality, weekday and hour-of-day
patterns and retail holidays, and sampling of order timestamps from it."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np

HOUR = 3600
DAY = 86400

# Relative demand by calendar month (Jan..Dec): a post-holiday slump, the Q4 peak.
MONTH_FACTOR = np.array([0.80, 0.78, 0.90, 0.94, 0.97, 0.94, 0.92, 0.95, 0.98, 1.05, 1.32, 1.42])
# Mon..Sun: online shopping peaks early in the week and dips on Saturday.
WEEKDAY_FACTOR = np.array([1.12, 1.06, 1.02, 1.00, 0.93, 0.82, 1.05])
# Hour of day (shop time = UTC): night trough, lunchtime bump, evening peak.
HOUR_FACTOR = np.array(
    [0.45, 0.30, 0.20, 0.15, 0.13, 0.16, 0.30, 0.55, 0.80, 0.95, 1.05, 1.15,
     1.25, 1.20, 1.10, 1.05, 1.05, 1.15, 1.35, 1.55, 1.65, 1.55, 1.20, 0.80]
)  # fmt: skip
HOUR_FACTOR = HOUR_FACTOR / HOUR_FACTOR.mean()


def black_friday(year: int) -> date:
    """The day after the fourth Thursday of November."""
    first = date(year, 11, 1)
    first_thursday = first + timedelta(days=(3 - first.weekday()) % 7)
    return first_thursday + timedelta(days=22)


def holiday_factors(year: int) -> dict[date, float]:
    """Multipliers on top of the month and weekday pattern for one year's retail calendar."""
    friday = black_friday(year)
    return {
        date(year, 1, 1): 0.6,
        date(year, 2, 13): 1.25,  # last day for Valentine's delivery
        friday - timedelta(days=1): 1.3,  # Thanksgiving evening deals
        friday: 3.6,  # Black Friday
        friday + timedelta(days=1): 1.9,
        friday + timedelta(days=2): 1.7,
        friday + timedelta(days=3): 2.9,  # Cyber Monday
        friday + timedelta(days=4): 1.4,
        date(year, 12, 24): 0.7,
        date(year, 12, 25): 0.5,
        date(year, 12, 26): 1.4,
        date(year, 12, 31): 0.8,
    }


def day_factor(days: np.ndarray) -> np.ndarray:
    """Demand multiplier of each day (days as numpy datetime64[D])."""
    months = days.astype("datetime64[M]").astype(np.int64) % 12
    weekdays = (days.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    factor = MONTH_FACTOR[months] * WEEKDAY_FACTOR[weekdays]
    years = range(int(days.min().astype("datetime64[Y]").astype(int)) + 1970,
                  int(days.max().astype("datetime64[Y]").astype(int)) + 1971)  # fmt: skip
    for year in years:
        for day, multiplier in holiday_factors(year).items():
            factor[days == np.datetime64(day)] *= multiplier
    return factor


def hourly_intensity(start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
    """Relative demand of each whole hour overlapping (start, end], weighted by how much of
    the hour lies inside; returns (hour starts in epoch seconds, weights)."""
    first_hour = start // HOUR * HOUR
    hours = np.arange(first_hour, end, HOUR, dtype=np.int64)
    days = (hours // DAY).astype("datetime64[D]")
    weights = day_factor(days) * HOUR_FACTOR[(hours % DAY) // HOUR]
    overlap = np.minimum(hours + HOUR, end) - np.maximum(hours, start)
    return hours, weights * overlap / HOUR


def sample_times(rng: np.random.Generator, start: int, end: int, count: int) -> np.ndarray:
    """`count` sorted epoch seconds in (start, end], following the demand curve."""
    hours, weights = hourly_intensity(start, end)
    per_hour = rng.multinomial(count, weights / weights.sum())
    hour_of_each = np.repeat(hours, per_hour)
    lo = np.maximum(hour_of_each, start + 1)
    hi = np.minimum(hour_of_each + HOUR, end + 1)
    times = lo + (rng.random(count) * (hi - lo)).astype(np.int64)
    return np.sort(times)
