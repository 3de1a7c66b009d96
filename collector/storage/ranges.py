"""How a range of hours is read from the rollups: pure planning, no SQL (reads.py runs it).

Ranges are `[hour_from, hour_to)` in UTC epoch seconds (a site-local day converted by
`dashboard.periods`). The database keeps the hourly `rollups` summed per UTC day and per week
by triggers (rollups.py), so whole weeks are read from `rollups_weekly`, whole UTC days from
`rollups_daily`, and only the hours at either end from `rollups`: a 90-day range reads about
19 rows per element cell instead of 2,160.
"""

from __future__ import annotations

from dataclasses import dataclass

from ctrlens.collector.storage.database import DAY, HOUR


@dataclass(frozen=True)
class RangePlan:
    """How to sum `[hour_from, hour_to)`: whole weeks, whole days, plus some hours, minus others.

    A partial UTC day at either end is read as its hours inside the range, or as the whole
    day minus its hours outside the range, whichever touches fewer hourly rows; so a site
    in any time zone reads at most 24 hourly rows per cell on top of the daily rows. Whole
    weeks (Monday to Sunday, UTC) inside the range come from `rollups_weekly`, so at most
    12 daily rows per cell remain.
    """

    weeks: tuple[int, int] | None  # first and last week (`week_of`), inclusive
    days: tuple[tuple[int, int], ...] = ()  # [first, last] UTC epoch day ranges, inclusive
    add: tuple[tuple[int, int], ...] = ()  # [from, to) hour ranges to add
    subtract: tuple[tuple[int, int], ...] = ()  # [from, to) hour ranges to take away

    @property
    def empty(self) -> bool:
        return self.weeks is None and not self.days and not self.add


def _ceil_hour(seconds: int) -> int:
    return -(-seconds // HOUR) * HOUR


def week_of(day: int) -> int:
    """The week (Monday to Sunday, UTC) of an epoch day: `week` in `rollups_weekly`."""
    return (day + 3) // 7


def split_days(first: int, last: int) -> tuple[tuple[int, int] | None, tuple[tuple[int, int], ...]]:
    """Days [first, last] as the whole weeks inside them and the days left at either end."""
    w0, w1 = -(-(first + 3) // 7), (last - 3) // 7  # week w covers days 7w - 3 .. 7w + 3
    if w0 > w1:
        return None, ((first, last),)
    days = []
    if first < 7 * w0 - 3:
        days.append((first, 7 * w0 - 4))
    if last > 7 * w1 + 3:
        days.append((7 * w1 + 4, last))
    return (w0, w1), tuple(days)


def plan_range(hour_from: int, hour_to: int, subtract_hours: bool = True) -> RangePlan:
    """How to read [hour_from, hour_to). Without `subtract_hours`, a partial day is always read as
    its hours inside the range: every row read then lies inside the range, which a test of
    existence (`impressions > 0`, no sum) needs."""
    # Rollup rows sit on whole hours; `hour >= x` selects the hours starting at or after x.
    a, b = _ceil_hour(hour_from), _ceil_hour(hour_to)
    if a >= b:
        return RangePlan(None)
    first, last = a // DAY, (b - 1) // DAY
    add: list[tuple[int, int]] = []
    subtract: list[tuple[int, int]] = []
    if first == last:
        start, end = first * DAY, (first + 1) * DAY
        if (b - a) <= DAY - (b - a) or not subtract_hours:
            return RangePlan(None, (), ((a, b),))
        subtract += [(start, a)] if a > start else []
        subtract += [(b, end)] if b < end else []
        return RangePlan(None, ((first, first),), (), tuple(subtract))
    day_from, day_to = first, last
    if a > first * DAY:  # the first day is partial
        inside, outside = (first + 1) * DAY - a, a - first * DAY
        if inside <= outside or not subtract_hours:
            add.append((a, (first + 1) * DAY))
            day_from += 1
        else:
            subtract.append((first * DAY, a))
    if b < (last + 1) * DAY:  # the last day is partial
        inside, outside = b - last * DAY, (last + 1) * DAY - b
        if inside <= outside or not subtract_hours:
            add.append((last * DAY, b))
            day_to -= 1
        else:
            subtract.append((b, (last + 1) * DAY))
    if day_from > day_to:
        return RangePlan(None, (), tuple(add), tuple(subtract))
    weeks, days = split_days(day_from, day_to)
    return RangePlan(weeks, days, tuple(add), tuple(subtract))
