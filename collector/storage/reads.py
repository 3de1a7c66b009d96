"""The read path: every query the dashboard, the API and the CLI run over the rollups.

Ranges of hours are read as `ranges.plan_range` plans them: whole weeks from `rollups_weekly`,
whole UTC days from `rollups_daily`, the hours at either end from the hourly `rollups`; per
element, `rollups_element_weeks` and `rollups_element_days`. The database keeps those tables from
`rollups` by triggers (rollups.py says which), so they always agree with the hourly rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ctrlens.collector.storage.counts import CELL_KEYS, COUNTS, GROUP_KEYS, counts_dict, group_cells
from ctrlens.collector.storage.database import DAY, HOUR, Database
from ctrlens.collector.storage.ranges import RangePlan, plan_range, split_days, week_of

# The dashboard (dashboard/reports.py, dashboard/breakdowns.py) and its tests import the pure
# helpers from here; they live in counts.py, database.py and ranges.py.
__all__ = ["DAY", "HOUR", "Reads", "group_cells", "plan_range", "week_of"]


class Reads:
    """The dashboard's queries, over rollups only."""

    def __init__(self, db: Database) -> None:
        self.db = db

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
        # rollups_weekly and rollups_daily are kept from `rollups` by triggers (rollups.py).
        parts, params = _plan_parts(plan, "rollups_weekly", "rollups_daily", where, values, picked, negated)
        key_list = ", ".join(keys)
        # BIGINT: PostgreSQL's SUM of BIGINT is NUMERIC, decoded in Python on the event loop,
        # a cost that shows at tens of thousands of rows (bench/dashboard.py); ints decode in C.
        sums = ", ".join(f"CAST(SUM({c}) AS BIGINT)" for c in columns)
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
        return [counts_dict(CELL_KEYS, row) for row in rows]

    async def element_pages(
        self, site: str, day_from: int, day_to: int, elements: Sequence[str] | None = None
    ) -> list[tuple[str, str, str]]:
        """(element, page, kind) of every element seen on a page over UTC days [day_from, day_to]:
        whole weeks from `rollups_weekly`, the days at either end from `rollups_daily`. No sums, so
        an experiment's sample-ratio check learns its pages from ~20,000 short rows at 90 days,
        not from a range read of every count (bench/dashboard.py)."""
        if day_to < day_from or (elements is not None and not elements):
            return []
        weeks, days = split_days(day_from, day_to)
        only = f" AND element IN ({', '.join('?' * len(elements))})" if elements is not None else ""
        extra = list(elements) if elements is not None else []
        parts, params = [], []
        if weeks is not None:
            parts.append("SELECT element, page, kind FROM rollups_weekly "
                         f"WHERE site = ? AND week >= ? AND week <= ? AND impressions > 0{only}")
            params += [site, *weeks, *extra]
        for first, last in days:
            parts.append("SELECT element, page, kind FROM rollups_daily "
                         f"WHERE site = ? AND day >= ? AND day <= ? AND impressions > 0{only}")
            params += [site, first, last, *extra]
        rows = await self.db.fetch(
            f"SELECT element, page, MAX(kind) FROM ({' UNION ALL '.join(parts)}) AS ranged "
            "GROUP BY element, page ORDER BY element, page",
            params,
        )
        return [(str(e), str(p), str(k)) for e, p, k in rows]

    async def element_totals(
        self,
        site: str,
        hour_from: int,
        hour_to: int,
        kind: str | None = None,
        counts: Sequence[str] = COUNTS,
    ) -> list[dict[str, Any]]:
        """`counts` (by default every one of COUNTS; impressions always) and MAX(kind) per element
        over [hour_from, hour_to), summed over variants and pages, in element order: whole weeks
        from `rollups_element_weeks` and whole days from `rollups_element_days` (narrow rows, one
        per element and week or day), the partial days at either end from the hourly rollups."""
        counts = ("impressions", *(c for c in COUNTS if c in counts and c != "impressions"))
        plan = plan_range(hour_from, hour_to)
        if plan.empty:
            return []
        where, values = ("site = ? AND kind = ?", [site, kind]) if kind else ("site = ?", [site])
        picked = ", ".join(("element", "kind", *counts))
        negated = ", ".join(("element", "kind", *(f"-{c}" for c in counts)))
        parts, params = _plan_parts(
            plan, "rollups_element_weeks", "rollups_element_days", where, values, picked, negated
        )
        # BIGINT: PostgreSQL's SUM of BIGINT is NUMERIC (see _range_rows).
        sums = ", ".join(f"CAST(SUM({c}) AS BIGINT)" for c in counts)
        rows = await self.db.fetch(
            f"SELECT element, MAX(kind), {sums} FROM ({' UNION ALL '.join(parts)}) AS ranged "
            "GROUP BY element HAVING SUM(impressions) > 0 ORDER BY element",
            params,
        )
        if counts == COUNTS:
            return [counts_dict(("element",), row) for row in rows]
        return [
            {"element": row[0], "kind": row[1], **{c: int(v) for c, v in zip(counts, row[2:], strict=True)}}
            for row in rows
        ]

    async def cell_keys(
        self, site: str, hour_from: int, hour_to: int, kind: str | None = None
    ) -> list[tuple[str, str, str]]:
        """The (element, variant, page) cells with impressions in [hour_from, hour_to), without
        their counts: the overview's per-element rows take their sums from the per-element tables
        (`element_totals`) and only their pages and the site's variants and pages from here. A
        test of existence on each row, not a sum, so the plan reads hours inside the range only
        and the rows need no GROUP BY (a 30-day range at 10M events: 3.5 ms, the summed cells 12)."""
        plan = plan_range(hour_from, hour_to, subtract_hours=False)
        if plan.empty:
            return []
        where, values = ("site = ? AND kind = ?", [site, kind]) if kind else ("site = ?", [site])
        where += " AND impressions > 0"
        keys = ", ".join(CELL_KEYS)
        parts, params = _plan_parts(plan, "rollups_weekly", "rollups_daily", where, values, keys)
        # UNION drops the repeats between the parts; a lone part needs DISTINCT.
        sql = " UNION ".join(parts) if len(parts) > 1 else parts[0].replace("SELECT", "SELECT DISTINCT", 1)
        rows = await self.db.fetch(sql, params)
        return [(str(e), str(v), str(p)) for e, v, p in rows]

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
        return [counts_dict(keys, row) for row in rows]

    async def element_days(
        self,
        site: str,
        day_from: int,
        day_to: int,
        kind: str | None = None,
        variant: str | None = None,
        page: str | None = None,
        elements: Sequence[str] | None = None,
    ) -> list[tuple[str, int, int, int]]:
        """(element, UTC day, impressions, clicks) for [day_from, day_to], in no particular order:
        the overview's sparklines."""
        conditions, params = filtered(
            ["site = ?", "day >= ?", "day <= ?"], [site, day_from, day_to],
            (("kind", kind), ("variant", variant), ("page", page)), elements,
        )
        if variant is None and page is None:
            rows = await self.db.fetch(
                "SELECT element, day, impressions, clicks FROM rollups_element_days "
                f"WHERE {' AND '.join(conditions)}",
                params,
            )
        else:
            # Grouped in the key's own order (day, element): no sort, one pass over the rows.
            rows = await self.db.fetch(
                "SELECT element, day, CAST(SUM(impressions) AS BIGINT), CAST(SUM(clicks) AS BIGINT) "
                "FROM rollups_daily "
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
        elements: Sequence[str] | None = None,
    ) -> list[tuple[str, int, int, int]]:
        """(element, week, impressions, clicks) for weeks [week_from, week_to]: long sparklines."""
        conditions, params = filtered(
            ["site = ?", "week >= ?", "week <= ?"], [site, week_from, week_to],
            (("kind", kind), ("variant", variant), ("page", page)), elements,
        )
        rows = await self.db.fetch(
            "SELECT element, week, CAST(SUM(impressions) AS BIGINT), CAST(SUM(clicks) AS BIGINT) "
            "FROM rollups_weekly "
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
        """One element's counts per UTC hour with any activity: CTR over time.

        `+hour` keeps the planner off the (site, hour) index, which would walk every element's
        rows of the range (50 ms for 30 days at 10M events), and on the primary key's
        (site, element) prefix instead: this element's rows only (5 ms; docs/performance.md)."""
        conditions = ["site = ?", "element = ?", "+hour >= ?", "+hour < ?"]
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
        return [dict(zip(("hour", *COUNTS), map(int, row), strict=True)) for row in rows]

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

    async def last_active_hour(self, site: str) -> int | None:
        rows = await self.db.fetch("SELECT MAX(hour) FROM rollups WHERE site = ?", (site,))
        return int(rows[0][0]) if rows and rows[0][0] is not None else None


def _plan_parts(
    plan: RangePlan,
    weekly: str,
    daily: str,
    where: str,
    values: Sequence[Any],
    picked: str,
    negated: str | None = None,
) -> tuple[list[str], list[Any]]:
    """The SELECTs of `picked` that read `plan`, each under `where` (with `values`): whole weeks
    from `weekly`, whole days from `daily`, the hours at either end from the hourly `rollups`;
    hours to take away read as `negated` (a plan without `subtract_hours` has none)."""
    parts: list[str] = []
    params: list[Any] = []
    if plan.weeks:
        parts.append(f"SELECT {picked} FROM {weekly} WHERE {where} AND week >= ? AND week <= ?")
        params += [*values, *plan.weeks]
    if plan.days:
        days = " OR ".join(["(day >= ? AND day <= ?)"] * len(plan.days))
        parts.append(f"SELECT {picked} FROM {daily} WHERE {where} AND ({days})")
        params += [*values, *(d for r in plan.days for d in r)]
    assert negated is not None or not plan.subtract, "hours to take away need negated columns"
    for ranges, select in ((plan.add, picked), (plan.subtract, negated)):
        if ranges:
            hours = " OR ".join(["(hour >= ? AND hour < ?)"] * len(ranges))
            parts.append(f"SELECT {select} FROM rollups WHERE {where} AND ({hours})")
            params += [*values, *(h for r in ranges for h in r)]
    return parts, params


def filtered(
    conditions: list[str],
    params: list[Any],
    equal: Sequence[tuple[str, str | None]],
    elements: Sequence[str] | None = None,
) -> tuple[list[str], list[Any]]:
    """`conditions` and `params` with the filters that are set: `column = value` for each of
    `equal` whose value is not None (column names come from the code, never a request), and a
    list of elements (an empty list matches none)."""
    for column, value in equal:
        if value is not None:
            conditions.append(f"{column} = ?")
            params.append(value)
    if elements is not None:
        conditions.append(f"element IN ({', '.join('?' * len(elements))})" if elements else "0 = 1")
        params.extend(elements)
    return conditions, params


def _ints(rows: list[Any]) -> list[Any]:
    """(name, n, n, ...) rows with ints: PostgreSQL's SUM of BIGINT is NUMERIC, SQLite's an int."""
    if not rows or all(type(v) is int for v in rows[0][1:]):
        return rows
    return [(row[0], *map(int, row[1:])) for row in rows]
