"""The read path: every query the dashboard, the API and the CLI run. Rollups only, except
`raw_events`, `recount` and `raw_element_counts`, which exist to check the rollups against the
raw events, and `recent_event_count`, the settings page's live "is the tag installed?" check.

Ranges are `[hour_from, hour_to)` in UTC epoch seconds (a site-local day converted by
`dashboard.periods`). Whole weeks are read from `rollups_weekly`, whole UTC days from
`rollups_daily`, the hours at either end from `rollups` (see `plan_range`), so a 90-day range
reads about 19 rows per element cell instead of 2,160.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ctrlens.collector.events import STORED_COLUMNS
from ctrlens.collector.storage.database import Database

HOUR = 3600
DAY = 86400
COUNTS = ("impressions", "via_click", "clicks", "total_clicks", "viewers", "clickers")
CELL_KEYS = ("element", "variant", "page")
GROUP_KEYS = {"none": (), "variant": ("variant",), "page": ("page",)}


@dataclass(frozen=True)
class RangePlan:
    """How to sum `[hour_from, hour_to)`: whole weeks, whole days, plus some hours, minus others.

    A partial UTC day at either end is read as its hours inside the range, or as the whole
    day minus its hours outside the range, whichever touches fewer hourly rows; so a site
    in any time zone reads at most 24 hourly rows per cell on top of the daily rows. Whole
    weeks (Monday to Sunday, UTC) inside the range come from `rollups_weekly`, so at most
    12 daily rows per cell remain.
    """

    weeks: tuple[int, int] | None  # first and last week (`(day + 3) // 7`), inclusive
    days: tuple[tuple[int, int], ...] = ()  # [first, last] UTC epoch day ranges, inclusive
    add: tuple[tuple[int, int], ...] = ()  # [from, to) hour ranges to add
    subtract: tuple[tuple[int, int], ...] = ()  # [from, to) hour ranges to take away

    @property
    def empty(self) -> bool:
        return self.weeks is None and not self.days and not self.add


def _ceil_hour(seconds: int) -> int:
    return -(-seconds // HOUR) * HOUR


def week_of(day: int) -> int:
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


def plan_range(hour_from: int, hour_to: int) -> RangePlan:
    # Rollup rows sit on whole hours; `hour >= x` selects the hours starting at or after x.
    a, b = _ceil_hour(hour_from), _ceil_hour(hour_to)
    if a >= b:
        return RangePlan(None)
    first, last = a // DAY, (b - 1) // DAY
    add: list[tuple[int, int]] = []
    subtract: list[tuple[int, int]] = []
    if first == last:
        start, end = first * DAY, (first + 1) * DAY
        if (b - a) <= DAY - (b - a):
            return RangePlan(None, (), ((a, b),))
        subtract += [(start, a)] if a > start else []
        subtract += [(b, end)] if b < end else []
        return RangePlan(None, ((first, first),), (), tuple(subtract))
    day_from, day_to = first, last
    if a > first * DAY:  # the first day is partial
        inside, outside = (first + 1) * DAY - a, a - first * DAY
        if inside <= outside:
            add.append((a, (first + 1) * DAY))
            day_from += 1
        else:
            subtract.append((first * DAY, a))
    if b < (last + 1) * DAY:  # the last day is partial
        inside, outside = b - last * DAY, (last + 1) * DAY - b
        if inside <= outside:
            add.append((last * DAY, b))
            day_to -= 1
        else:
            subtract.append((b, (last + 1) * DAY))
    if day_from > day_to:
        return RangePlan(None, (), tuple(add), tuple(subtract))
    weeks, days = split_days(day_from, day_to)
    return RangePlan(weeks, days, tuple(add), tuple(subtract))


def group_cells(cells: Iterable[dict[str, Any]], group: str = "none") -> list[dict[str, Any]]:
    """Sum (element, variant, page) cells per element, or per element and variant / page."""
    extra = GROUP_KEYS[group]
    sums: dict[tuple[str, ...], dict[str, Any]] = {}
    for cell in cells:
        key = (cell["element"], *(cell[k] for k in extra))
        row = sums.get(key)
        if row is None:
            row = sums[key] = {"element": cell["element"], **{k: cell[k] for k in extra},
                               "kind": cell["kind"], **dict.fromkeys(COUNTS, 0)}
        for name in COUNTS:
            row[name] += cell[name]
    return [sums[key] for key in sorted(sums)]


class ReadQueries:
    db: Database

    # -- element counts over a range ------------------------------------------------------------

    async def _range_rows(
        self,
        site: str,
        hour_from: int,
        hour_to: int,
        keys: Sequence[str],
        filters: dict[str, str | None],
        columns: Sequence[str] = COUNTS,
    ) -> list[tuple[Any, ...]]:
        """SUM(columns) and MAX(kind) per `keys` over the range, cells without impressions left out."""
        plan = plan_range(hour_from, hour_to)
        if plan.empty:
            return []
        conditions, values = ["site = ?"], [site]
        for column, value in filters.items():
            if value is not None:
                conditions.append(f"{column} = ?")
                values.append(value)
        where = " AND ".join(conditions)
        picked = ", ".join([*keys, "kind", *columns])
        negated = ", ".join([*keys, "kind", *(f"-{c}" for c in columns)])
        parts: list[str] = []
        params: list[Any] = []
        if plan.weeks:
            parts.append(f"SELECT {picked} FROM rollups_weekly WHERE {where} AND week >= ? AND week <= ?")
            params += [*values, *plan.weeks]
        if plan.days:
            days = " OR ".join(["(day >= ? AND day <= ?)"] * len(plan.days))
            parts.append(f"SELECT {picked} FROM rollups_daily WHERE {where} AND ({days})")
            params += [*values, *(d for r in plan.days for d in r)]
        for ranges, select in ((plan.add, picked), (plan.subtract, negated)):
            if ranges:
                hours = " OR ".join(["(hour >= ? AND hour < ?)"] * len(ranges))
                parts.append(f"SELECT {select} FROM rollups WHERE {where} AND ({hours})")
                params += [*values, *(h for r in ranges for h in r)]
        key_list = ", ".join(keys)
        sums = ", ".join(f"SUM({c})" for c in columns)
        return await self.db.fetch(
            f"SELECT {key_list}, MAX(kind), {sums} FROM ({' UNION ALL '.join(parts)}) AS ranged "
            f"GROUP BY {key_list} HAVING SUM(impressions) > 0 ORDER BY {key_list}",
            params,
        )

    async def element_cells(
        self,
        site: str,
        hour_from: int,
        hour_to: int,
        kind: str | None = None,
        element: str | None = None,
    ) -> list[dict[str, Any]]:
        """Counts per (element, variant, page) over [hour_from, hour_to): the overview's raw material."""
        rows = await self._range_rows(
            site, hour_from, hour_to, CELL_KEYS, {"kind": kind, "element": element}
        )
        return [_counts_dict(CELL_KEYS, row) for row in rows]

    async def element_totals(
        self, site: str, hour_from: int, hour_to: int, kind: str | None = None
    ) -> list[dict[str, Any]]:
        """Impressions and clicks per element over [hour_from, hour_to), summed over variants and
        pages: whole days from `rollups_element_days` (narrow rows, one per element and day),
        the partial days at either end from the hourly rollups."""
        plan = plan_range(hour_from, hour_to)
        if plan.empty:
            return []
        days = [*plan.days, *([(7 * plan.weeks[0] - 3, 7 * plan.weeks[1] + 3)] if plan.weeks else [])]
        where, values = ("site = ? AND kind = ?", [site, kind]) if kind else ("site = ?", [site])
        parts: list[str] = []
        params: list[Any] = []
        if days:
            ranges = " OR ".join(["(day >= ? AND day <= ?)"] * len(days))
            parts.append(f"SELECT element, impressions, clicks FROM rollups_element_days WHERE {where} AND ({ranges})")
            params += [*values, *(d for r in days for d in r)]
        for hours, sign in ((plan.add, ""), (plan.subtract, "-")):
            if hours:
                ranges = " OR ".join(["(hour >= ? AND hour < ?)"] * len(hours))
                parts.append(f"SELECT element, {sign}impressions, {sign}clicks FROM rollups WHERE {where} AND ({ranges})")
                params += [*values, *(h for r in hours for h in r)]
        rows = await self.db.fetch(
            f"SELECT element, SUM(impressions), SUM(clicks) FROM ({' UNION ALL '.join(parts)}) AS ranged "
            "GROUP BY element HAVING SUM(impressions) > 0",
            params,
        )
        return [{"element": e, "impressions": i, "clicks": c} for e, i, c in _ints(rows)]

    async def element_counts(
        self,
        site: str,
        hour_from: int,
        hour_to: int,
        group: str = "none",
        kind: str | None = None,
        variant: str | None = None,
        page: str | None = None,
    ) -> list[dict[str, Any]]:
        """Counts per element (and per variant or page when grouped) over [hour_from, hour_to)."""
        keys = ("element", *GROUP_KEYS[group])
        rows = await self._range_rows(
            site, hour_from, hour_to, keys, {"kind": kind, "variant": variant, "page": page}
        )
        return [_counts_dict(keys, row) for row in rows]

    async def element_days(
        self,
        site: str,
        day_from: int,
        day_to: int,
        kind: str | None = None,
        variant: str | None = None,
        page: str | None = None,
    ) -> list[tuple[str, int, int, int]]:
        """(element, UTC day, impressions, clicks) for [day_from, day_to], in no particular order:
        the overview's sparklines."""
        conditions, params = ["site = ?", "day >= ?", "day <= ?"], [site, day_from, day_to]
        for column, value in (("kind", kind), ("variant", variant), ("page", page)):
            if value is not None:
                conditions.append(f"{column} = ?")
                params.append(value)
        if variant is None and page is None:
            rows = await self.db.fetch(
                "SELECT element, day, impressions, clicks FROM rollups_element_days "
                f"WHERE {' AND '.join(conditions)}",
                params,
            )
        else:
            # Grouped in the key's own order (day, element): no sort, one pass over the rows.
            rows = await self.db.fetch(
                "SELECT element, day, SUM(impressions), SUM(clicks) FROM rollups_daily "
                f"WHERE {' AND '.join(conditions)} GROUP BY day, element",
                params,
            )
        return _ints(rows)

    async def element_weeks(
        self,
        site: str,
        week_from: int,
        week_to: int,
        kind: str | None = None,
        variant: str | None = None,
        page: str | None = None,
    ) -> list[tuple[str, int, int, int]]:
        """(element, week, impressions, clicks) for weeks [week_from, week_to]: long sparklines."""
        conditions, params = ["site = ?", "week >= ?", "week <= ?"], [site, week_from, week_to]
        for column, value in (("kind", kind), ("variant", variant), ("page", page)):
            if value is not None:
                conditions.append(f"{column} = ?")
                params.append(value)
        rows = await self.db.fetch(
            "SELECT element, week, SUM(impressions), SUM(clicks) FROM rollups_weekly "
            f"WHERE {' AND '.join(conditions)} GROUP BY week, element",
            params,
        )
        return _ints(rows)

    async def element_hours(
        self,
        site: str,
        element: str,
        hour_from: int,
        hour_to: int,
        variant: str | None = None,
        page: str | None = None,
    ) -> list[dict[str, int]]:
        """One element's counts per UTC hour with any activity: CTR over time."""
        conditions = ["site = ?", "element = ?", "hour >= ?", "hour < ?"]
        params: list[Any] = [site, element, hour_from, hour_to]
        for column, value in (("variant", variant), ("page", page)):
            if value is not None:
                conditions.append(f"{column} = ?")
                params.append(value)
        sums = ", ".join(f"SUM({c})" for c in COUNTS)
        rows = await self.db.fetch(
            f"SELECT hour, {sums} FROM rollups WHERE {' AND '.join(conditions)} "
            "GROUP BY hour ORDER BY hour",
            params,
        )
        return [dict(zip(("hour", *COUNTS), map(int, row))) for row in rows]

    # -- breakdowns, accounts, page views ------------------------------------------------------

    async def breakdown_counts(
        self,
        site: str,
        element: str,
        dimension: str,
        day_from: int,
        day_to: int,
        variant: str | None = None,
    ) -> list[dict[str, Any]]:
        """One element's counts per value of `dimension` (source, device, account) over UTC days."""
        conditions = ["site = ?", "element = ?", "dimension = ?", "day >= ?", "day <= ?"]
        params: list[Any] = [site, element, dimension, day_from, day_to]
        if variant is not None:
            conditions.append("variant = ?")
            params.append(variant)
        rows = await self.db.fetch(
            "SELECT value, SUM(impressions), SUM(clicks), SUM(total_clicks) FROM breakdowns "
            f"WHERE {' AND '.join(conditions)} GROUP BY value ORDER BY value",
            params,
        )
        return [
            {"value": value, "impressions": int(i), "clicks": int(c), "total_clicks": int(t)}
            for value, i, c, t in rows
        ]

    async def account_counts(
        self,
        site: str,
        day_from: int,
        day_to: int,
        element: str | None = None,
        variant: str | None = None,
    ) -> list[dict[str, Any]]:
        """Counts per (element, account) over UTC days [day_from, day_to]."""
        conditions = ["site = ?", "dimension = 'account'", "day >= ?", "day <= ?"]
        params: list[Any] = [site, day_from, day_to]
        for column, value in (("element", element), ("variant", variant)):
            if value is not None:
                conditions.append(f"{column} = ?")
                params.append(value)
        rows = await self.db.fetch(
            "SELECT element, value, SUM(impressions), SUM(clicks), SUM(total_clicks) FROM breakdowns "
            f"WHERE {' AND '.join(conditions)} GROUP BY element, value ORDER BY element, value",
            params,
        )
        return [
            {"element": e, "account": a, "impressions": int(i), "clicks": int(c), "total_clicks": int(t)}
            for e, a, i, c, t in rows
        ]

    async def pageview_counts(self, site: str, hour_from: int, hour_to: int) -> dict[tuple[str, str], int]:
        """Page views per (variant, page) over [hour_from, hour_to): sample-ratio checks."""
        rows = await self.db.fetch(
            "SELECT variant, page, SUM(pageviews) FROM pageview_rollups "
            "WHERE site = ? AND hour >= ? AND hour < ? GROUP BY variant, page",
            (site, hour_from, hour_to),
        )
        return {(variant, page): int(n) for variant, page, n in rows}

    # -- liveness ------------------------------------------------------------------------------

    async def recent_event_count(self, site: str, since_ms: int) -> int:
        """Raw events stored since `since_ms` (server time): "is the tag sending?"."""
        rows = await self.db.fetch(
            "SELECT COUNT(*) FROM events WHERE ts_server >= ? AND site = ?", (since_ms, site)
        )
        return int(rows[0][0])

    async def last_active_hour(self, site: str) -> int | None:
        rows = await self.db.fetch("SELECT MAX(hour) FROM rollups WHERE site = ?", (site,))
        return int(rows[0][0]) if rows and rows[0][0] is not None else None

    # -- checks against the raw events -----------------------------------------------------------

    async def raw_events(self, site: str, limit: int = 100_000) -> list[dict[str, Any]]:
        rows = await self.db.fetch(
            f"SELECT {', '.join(STORED_COLUMNS)} FROM events WHERE site = ? "
            "ORDER BY ts_server, ts_client, event_id LIMIT ?",
            (site, limit),
        )
        return [dict(zip(STORED_COLUMNS, row)) for row in rows]

    async def raw_element_counts(self, site: str, ts_from: int, ts_to: int) -> dict[str, tuple[int, int]]:
        """(impression events, click events) per element straight from raw events in
        [ts_from, ts_to) milliseconds: the baseline `bench/dashboard.py` compares rollups with."""
        rows = await self.db.fetch(
            "SELECT element, SUM(CASE WHEN type = 'impression' THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN type = 'click' THEN 1 ELSE 0 END) FROM events "
            "WHERE site = ? AND ts_server >= ? AND ts_server < ? GROUP BY element",
            (site, ts_from, ts_to),
        )
        return {element: (int(i), int(c)) for element, i, c in rows}

    async def rejection_counts(self, site: str, day_from: int = 0, day_to: int = 2**31) -> dict[str, int]:
        rows = await self.db.fetch(
            "SELECT reason, SUM(count) FROM rejections WHERE site = ? AND day >= ? AND day <= ? "
            "GROUP BY reason ORDER BY reason",
            (site, day_from, day_to),
        )
        return {reason: int(n) for reason, n in rows}

    async def rejected_samples(self, site: str, limit: int = 20) -> list[dict[str, Any]]:
        rows = await self.db.fetch(
            "SELECT ts, reason, payload FROM rejected_samples WHERE site = ? ORDER BY id DESC LIMIT ?",
            (site, limit),
        )
        return [{"ts": ts, "reason": reason, "payload": payload} for ts, reason, payload in rows]

    async def recount(self, site: str) -> dict[str, dict[str, int]]:
        """Element totals recomputed from raw events alone, to check the rollups against."""
        rows = await self.db.fetch(
            "SELECT element, COUNT(*), SUM(clicked), SUM(n_clicks) FROM ("
            "  SELECT element, pageview,"
            "    MAX(CASE WHEN type = 'click' THEN 1 ELSE 0 END) AS clicked,"
            "    SUM(CASE WHEN type = 'click' THEN 1 ELSE 0 END) AS n_clicks"
            "  FROM events WHERE site = ? GROUP BY element, pageview"
            ") per_pageview GROUP BY element",
            (site,),
        )
        return {
            element: {"impressions": int(i), "clicks": int(c), "total_clicks": int(t)}
            for element, i, c, t in rows
        }


def _ints(rows: list[Any]) -> list[Any]:
    """(name, n, n, ...) rows with ints: PostgreSQL's SUM of BIGINT is NUMERIC, SQLite's an int."""
    if not rows or all(type(v) is int for v in rows[0][1:]):
        return rows
    return [(row[0], *map(int, row[1:])) for row in rows]


def _counts_dict(keys: Sequence[str], row: Sequence[Any]) -> dict[str, Any]:
    result: dict[str, Any] = dict(zip((*keys, "kind", *COUNTS), row))
    for name in COUNTS:
        if type(result[name]) is not int:  # PostgreSQL's SUM of BIGINT is NUMERIC
            result[name] = int(result[name])
    return result

