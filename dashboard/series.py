"""CTR over time for one element: hourly rollups bucketed into the site's local hours or days."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from ctrlens.collector.errors import InvalidRequest
from ctrlens.collector.storage import Storage
from ctrlens.dashboard.periods import Period
from ctrlens.dashboard.statistics import wilson_interval

INTERVALS = ("hour", "day")
HOUR = 3600
#: An hourly series covers at most this many days (a month of hours is already 744 points).
MAX_HOURLY_DAYS = 31

SERIES_COLUMNS = ("start", "impressions", "clicks", "total_clicks", "ctr", "ctr_low", "ctr_high")


def default_interval(period: Period) -> str:
    return "hour" if period.days <= 2 else "day"


def _bucket_starts(period: Period, interval: str) -> list[int]:
    """UTC epoch seconds where each bucket starts, in order."""
    if interval == "hour":
        first = -(-period.hour_from // HOUR) * HOUR
        return list(range(first, period.hour_to, HOUR))
    zone = ZoneInfo(period.tz)
    return [int(datetime.combine(day, time(0), tzinfo=zone).timestamp()) for day in period.dates()]


async def element_series(
    storage: Storage,
    site: str,
    element: str,
    period: Period,
    interval: str,
    variant: str | None = None,
    page: str | None = None,
) -> list[dict[str, Any]]:
    """One point per local hour or day of the period, empty buckets included (CTR `None`)."""
    if interval not in INTERVALS:
        raise InvalidRequest(f"interval must be one of {', '.join(INTERVALS)}")
    if interval == "hour" and period.days > MAX_HOURLY_DAYS:
        raise InvalidRequest(f"an hourly series covers at most {MAX_HOURLY_DAYS} days; use interval=day")
    starts = _bucket_starts(period, interval)
    counts = [[0, 0, 0] for _ in starts]
    hours = await storage.element_hours(site, element, period.hour_from, period.hour_to, variant, page)
    index = 0
    for row in hours:  # both ordered by time: one merge pass
        while index + 1 < len(starts) and row["hour"] >= starts[index + 1]:
            index += 1
        bucket = counts[index]
        bucket[0] += row["impressions"]
        bucket[1] += row["clicks"]
        bucket[2] += row["total_clicks"]
    zone = ZoneInfo(period.tz)
    points = []
    for start, (impressions, clicks, total) in zip(starts, counts, strict=True):
        local = datetime.fromtimestamp(start, zone)
        low, high = wilson_interval(clicks, impressions) if impressions else (None, None)
        points.append(
            {
                "start": local.isoformat() if interval == "hour" else local.date().isoformat(),
                "impressions": impressions,
                "clicks": clicks,
                "total_clicks": total,
                "ctr": min(clicks, impressions) / impressions if impressions else None,
                "ctr_low": low,
                "ctr_high": high,
            }
        )
    return points


def label(point: dict[str, Any], interval: str) -> str:
    """A short axis label: "14:00" or "3 Mar"."""
    if interval == "hour":
        return datetime.fromisoformat(point["start"]).strftime("%H:%M")
    return datetime.fromisoformat(point["start"]).strftime("%-d %b")
