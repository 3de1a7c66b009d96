"""Date ranges from the URL (`from`, `to`, `period`) as UTC hour bounds in the site's time zone."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ctrlens.collector.errors import InvalidRequest

PRESETS = {"today": 0, "7d": 6, "30d": 29, "90d": 89}
PRESET_LABELS = {"today": "Today", "7d": "7 days", "30d": "30 days", "90d": "90 days"}
DAY = 86400
DEFAULT_PRESET = "30d"
MAX_DAYS = 3 * 366
# The dates a period may name: wide enough for any real data, narrow enough that a period, the one
# before it and their UTC hours stay far from the limits of `date` (a bad date is a 400, never a 500).
FIRST_DATE = date(1971, 1, 1)
LAST_DATE = date(2199, 12, 31)


@dataclass(frozen=True)
class Period:
    start: date  # first day, inclusive
    end: date  # last day, inclusive
    tz: str
    preset: str | None = None

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def _utc_hour(self, day: date) -> int:
        local = datetime.combine(day, time(0), tzinfo=ZoneInfo(self.tz))
        return int(local.astimezone(UTC).timestamp())

    @property
    def hour_from(self) -> int:
        return self._utc_hour(self.start)

    @property
    def hour_to(self) -> int:
        """Exclusive: midnight after the last day."""
        return self._utc_hour(self.end + timedelta(days=1))

    @property
    def day_from(self) -> int:
        """The first UTC epoch day the range touches (tables kept per UTC day)."""
        return self.hour_from // DAY

    @property
    def day_to(self) -> int:
        """The last UTC epoch day the range touches, inclusive."""
        return (self.hour_to - 1) // DAY

    def dates(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range(self.days)]

    def previous(self) -> Period:
        """The period of the same length just before this one."""
        return Period(self.start - timedelta(days=self.days), self.start - timedelta(days=1), self.tz)

    def year_before(self) -> Period:
        """The same dates a year earlier (29 February becomes the 28th)."""
        return Period(_year_before(self.start), _year_before(self.end), self.tz)

    def label(self) -> str:
        if self.start == self.end:
            return self.start.strftime("%-d %b %Y")
        if self.start.year == self.end.year:
            return f"{self.start.strftime('%-d %b')} – {self.end.strftime('%-d %b %Y')}"
        return f"{self.start.strftime('%-d %b %Y')} – {self.end.strftime('%-d %b %Y')}"

    def query(self) -> dict[str, str]:
        if self.preset:
            return {"period": self.preset}
        return {"from": self.start.isoformat(), "to": self.end.isoformat()}


def zone(tz: str | None) -> str:
    try:
        ZoneInfo(tz or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"
    return tz or "UTC"


def parse_period(params: dict[str, str], tz: str, today: date | None = None) -> Period:
    tz = zone(tz)
    today = today or datetime.now(ZoneInfo(tz)).date()
    if params.get("from") or params.get("to"):
        return parse_range(params, tz, today)
    preset = params.get("period") or DEFAULT_PRESET
    if preset not in PRESETS:
        raise InvalidRequest(f"period must be one of {', '.join(PRESETS)}")
    return Period(today - timedelta(days=PRESETS[preset]), today, tz, preset)


def parse_range(
    params: Mapping[str, str], tz: str, today: date, first_key: str = "from", last_key: str = "to"
) -> Period:
    """Two dates of the URL as a period; a missing first day is 29 days before today, a missing
    last day is today. A bad, reversed or too wide range is a 400 that names the parameters."""
    names = f"{first_key} and {last_key}"
    start, end = params.get(first_key), params.get(last_key)
    try:
        first = date.fromisoformat(start) if start else today - timedelta(days=PRESETS[DEFAULT_PRESET])
        last = date.fromisoformat(end) if end else today
    except ValueError:
        raise InvalidRequest(f"{names} must be dates as YYYY-MM-DD") from None
    if not (FIRST_DATE <= first <= LAST_DATE and FIRST_DATE <= last <= LAST_DATE):
        raise InvalidRequest(f"{names} must be dates from {FIRST_DATE} to {LAST_DATE}")
    if last < first:
        raise InvalidRequest(f"{last_key} must not be before {first_key}")
    if (last - first).days > MAX_DAYS:
        raise InvalidRequest(f"a range covers at most {MAX_DAYS} days")
    return Period(first, last, tz)


def _year_before(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)
