"""Rows the dashboard, the JSON API and `ctrlens report` all show: storage counts + statistics,
and each element's funnel for the chosen goal (funnel.py).

Every function here takes counts from `Storage` (rollups only) and returns plain dicts and
lists, ready for a template, `JSONResponse` or a terminal table.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ctrlens.collector.events import DEFAULT_KIND
from ctrlens.collector.storage import Site, Storage
from ctrlens.collector.storage.counts import GROUP_KEYS
from ctrlens.collector.storage.reads import group_cells, week_of
from ctrlens.dashboard.funnel import (
    FUNNEL_COLUMNS,
    FunnelCounts,
    choose_goal,
    funnel_fields,
    site_post_click_rate,
    viewability_threshold,
)
from ctrlens.dashboard.inference import Moments
from ctrlens.dashboard.periods import Period
from ctrlens.dashboard.ratings import RATINGS, rate
from ctrlens.dashboard.site_settings import rating_settings
from ctrlens.dashboard.statistics import design_effect

GROUPS = ("none", "variant", "page")
EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
#: Longer periods get one sparkline point per week: a 96-pixel line cannot show 90 days.
MAX_DAILY_SPARKLINE = 31
#: Columns sorted A to Z by default; every other column sorts largest first.
TEXT_SORTS = ("element", "kind", "variant", "page")
SORTS = (
    *TEXT_SORTS, "impressions", "clicks", "ctr", "visitor_ctr", "change", "rating",
    "present", "viewability_rate", "conversions", "post_click_rate", "conversions_per_1000", "value_per_1000",
)
DEFAULT_SORT = ("impressions", "desc")

#: What `rated` adds to a row with impressions and clicks.
RATED_COLUMNS = ("ctr", "ctr_low", "ctr_high", "rating", "rating_firm")

#: The columns of the elements table, in the order the CSV export writes them.
ELEMENT_COLUMNS = (
    "element",
    "kind",
    "variant",
    "page",
    "pages",
    "impressions",
    "clicks",
    "total_clicks",
    *RATED_COLUMNS,
    "viewers",
    "clickers",
    "visitor_ctr",
    "previous_impressions",
    "previous_ctr",
    "change_abs",
    "change_rel",
    *FUNNEL_COLUMNS,
)


@dataclass(frozen=True)
class Filters:
    kind: str | None = None
    variant: str | None = None
    page: str | None = None

    def keep(self, cell: dict[str, Any]) -> bool:
        return (self.variant is None or cell["variant"] == self.variant) and (
            self.page is None or cell["page"] == self.page
        )


@dataclass
class Overview:
    rows: list[dict[str, Any]]
    variants: list[str]
    pages: list[str]
    totals: dict[str, Any]
    sparkline_interval: str = "day"
    sparkline_starts: list[date] = field(default_factory=list)
    goal: str | None = None  # the goal the conversion columns are for
    goals: list[str] = field(default_factory=list)  # the site's goals, for choosing another


def default_direction(sort: str) -> str:
    return "asc" if sort in TEXT_SORTS else "desc"


def element_columns(group: str) -> list[str]:
    """The elements table's CSV columns: `variant` or `page` only when rows are per variant or page."""
    return [c for c in ELEMENT_COLUMNS if c not in ("variant", "page") or c == group]


def rated(
    counts: dict[str, Any], kind: str, thresholds: Any, min_impressions: int, design_effect: float = 1.0
) -> dict[str, Any]:
    """CTR, its 95% interval and the rating, for any row with impressions and clicks (Wilson,
    on the effective impressions when a design effect is given)."""
    rating = rate(counts["clicks"], counts["impressions"], kind, thresholds, min_impressions, design_effect)
    return dict(
        zip(RATED_COLUMNS, (rating.ctr, rating.low, rating.high, rating.rating, rating.firm), strict=True)
    )


def element_row(counts: dict[str, Any], thresholds: Any, min_impressions: int) -> dict[str, Any]:
    viewers, clickers = counts["viewers"], counts["clickers"]
    row = {"element": counts["element"], "kind": counts["kind"]}
    for optional in ("variant", "page"):
        if optional in counts:
            row[optional] = counts[optional]
    row.update(
        impressions=counts["impressions"],
        clicks=counts["clicks"],
        total_clicks=counts["total_clicks"],
        **rated(counts, counts["kind"], thresholds, min_impressions),
        viewers=viewers,
        clickers=clickers,
        visitor_ctr=min(1.0, clickers / viewers) if viewers else 0.0,
    )
    return row


def _key(row: dict[str, Any], group: str) -> tuple[str, ...]:
    return (row["element"],) if group == "none" else (row["element"], row[group])


async def overview(
    storage: Storage,
    site: Site,
    period: Period,
    group: str = "none",
    filters: Filters = Filters(),
    sort: tuple[str, str] = DEFAULT_SORT,
    sparklines: bool = True,
    goal: str | None = None,
) -> Overview:
    """The site overview: one row per element (or element and variant / page), with the
    change against the previous period of the same length, a daily CTR sparkline and the
    funnel for `goal` (by default the site's first goal: `funnel.choose_goal`)."""
    thresholds, min_impressions = rating_settings(site)
    goals = await storage.goals(site.key)
    goal = choose_goal(goal, goals)
    previous = period.previous()
    # Independent reads, run side by side (SQLite has several reader connections).
    # Per element only (the default view), the previous period comes from narrower rows.
    per_element = group == "none" and filters.variant is None and filters.page is None
    reads: list[Awaitable[Any]] = [
        storage.element_cells(site.key, period.hour_from, period.hour_to, kind=filters.kind),
        storage.element_totals(site.key, previous.hour_from, previous.hour_to, kind=filters.kind)
        if per_element
        else storage.element_cells(site.key, previous.hour_from, previous.hour_to, kind=filters.kind),
    ]
    keys = ("element", *GROUP_KEYS[group])
    reads.append(
        FunnelCounts.read(
            storage, site.key, goal, period.hour_from, period.hour_to, keys,
            variant=filters.variant, page=filters.page,
        )
    )
    if sparklines:
        reads.append(_sparklines(storage, site, period, filters))
    cells, before, funnel, *spark = await asyncio.gather(*reads)
    variants = sorted({c["variant"] for c in cells})
    pages = sorted({c["page"] for c in cells})
    kept = [c for c in cells if filters.keep(c)]

    pages_of: dict[tuple[str, ...], set[str]] = defaultdict(set)
    for cell in kept:
        pages_of[_key(cell, group)].add(cell["page"])
    rows = [element_row(counts, thresholds, min_impressions) for counts in group_cells(kept, group)]
    rows += await _present_only(storage, site, funnel, rows, group, filters, thresholds, min_impressions)
    # The site's post-click rate counts every element's clicks, whatever the kind filter.
    clicks = sum(c["clicks"] for c in kept) if filters.kind is None else sum(
        c["clicks"] for c in await storage.element_cells(site.key, period.hour_from, period.hour_to)
        if filters.keep(c)
    )
    site_rate = site_post_click_rate(funnel.attributed(), clicks, goal)
    threshold = viewability_threshold(site)
    for row in rows:
        key = _key(row, group)
        row.update(
            funnel_fields(
                row, funnel.present.get(key, 0), funnel.goal_counts.get(key), goal, site_rate,
                min_impressions, threshold,
            )
        )

    earlier: dict[tuple[str, ...], dict[str, Any]]
    if per_element:
        earlier = {(r["element"],): r for r in before}
    else:
        earlier = {_key(r, group): r for r in group_cells([c for c in before if filters.keep(c)], group)}

    for row in rows:
        row["pages"] = sorted(pages_of[_key(row, group)])
        old = earlier.get(_key(row, group))
        old_ctr = old["clicks"] / old["impressions"] if old else None
        row["previous_impressions"] = old["impressions"] if old else 0
        row["previous_ctr"] = old_ctr
        row["change_abs"] = row["ctr"] - old_ctr if old_ctr is not None else None
        row["change_rel"] = (row["ctr"] - old_ctr) / old_ctr if old_ctr else None

    interval, starts = "day", period.dates()
    if spark:
        by_element: dict[str, list[float | None]]
        interval, starts, by_element = spark[0]
        empty = [None] * len(starts)
        for row in rows:
            row["sparkline"] = by_element.get(row["element"], empty)
    await _clustered_intervals(storage, site, period, rows, group, filters, thresholds, min_impressions)
    sort_rows(rows, *sort)
    totals = _totals(rows, group)
    totals.update(
        goal=goal,
        conversions=funnel.attributed() + funnel.unattributed() if goal else None,
        unattributed=funnel.unattributed() if goal else None,
        site_post_click_rate=site_rate,
    )
    return Overview(rows, variants, pages, totals, interval, starts, goal, [g.name for g in goals])


async def _present_only(
    storage: Storage,
    site: Site,
    funnel: FunnelCounts,
    rows: list[dict[str, Any]],
    group: str,
    filters: Filters,
    thresholds: Any,
    min_impressions: int,
) -> list[dict[str, Any]]:
    """Rows for elements present in the period but never seen: the `not_seen` ones the
    impression rollups cannot show. Their kind is the one they were last seen with."""
    shown = {_key(row, group) for row in rows}
    missing = [key for key in funnel.present if key not in shown and key[0]]
    if not missing:
        return []
    kinds = await storage.element_kinds(site.key, sorted({key[0] for key in missing}))
    added = []
    for key in sorted(missing):
        kind = kinds.get(key[0], DEFAULT_KIND)
        if filters.kind is not None and kind != filters.kind:
            continue
        counts: dict[str, Any] = {
            "element": key[0], "kind": kind, "impressions": 0, "clicks": 0, "total_clicks": 0,
            "viewers": 0, "clickers": 0,
        }
        if group != "none":
            counts[group] = key[1]
        row = element_row(counts, thresholds, min_impressions)
        row.update(
            pages=[key[1]] if group == "page" else [], previous_impressions=0, previous_ctr=None,
            change_abs=None, change_rel=None,
        )
        added.append(row)
    return added


async def _clustered_intervals(
    storage: Storage,
    site: Site,
    period: Period,
    rows: list[dict[str, Any]],
    group: str,
    filters: Filters,
    thresholds: Any,
    min_impressions: int,
) -> None:
    """Re-rate the rows with intervals clustered by visitor-day (docs/design.md §4): each row's
    design effect is measured from the visitor-day moments of its element (and variant) over the
    UTC days of the period; rows per page take their element's."""
    moments: dict[tuple[str, ...], Moments] = {}
    for m in await storage.variant_moments(site.key, period.day_from, period.day_to):
        sums = Moments(m.clusters, m.impressions, m.clicks, m.impressions_sq, m.clicks_sq, m.cross_products)
        for cell in ((m.element,), (m.element, m.variant)):
            moments[cell] = moments[cell] + sums if cell in moments else sums
    for row in rows:
        key: tuple[str, ...] = (row["element"],)
        if group == "variant" or filters.variant is not None:
            key = (row["element"], str(row.get("variant", filters.variant)))
        deff = design_effect(moments[key]) if key in moments else 1.0
        if deff > 1.0:
            row.update(rated(row, row["kind"], thresholds, min_impressions, deff))


async def _sparklines(
    storage: Storage, site: Site, period: Period, filters: Filters
) -> tuple[str, list[date], dict[str, list[float | None]]]:
    """CTR per day (per week beyond a month) for each element: `None` where there were no
    impressions. Read from the per-UTC-day (per-week) rollups: exact for a UTC site; for a
    site in another zone each point is the UTC day of the same date, the one that overlaps
    the local day most. Weeks run Monday to Sunday and are counted whole."""
    first = period.start.toordinal() - EPOCH_ORDINAL
    last = first + period.days - 1
    args = (filters.kind, filters.variant, filters.page)
    if period.days <= MAX_DAILY_SPARKLINE:
        interval, start, count = "day", first, period.days
        counts = await storage.element_days(site.key, first, last, *args)
        starts = [date.fromordinal(EPOCH_ORDINAL + d) for d in range(first, last + 1)]
    else:
        interval, start = "week", week_of(first)
        count = week_of(last) - start + 1
        counts = await storage.element_weeks(site.key, start, week_of(last), *args)
        starts = [date.fromordinal(EPOCH_ORDINAL + 7 * w - 3) for w in range(start, start + count)]
    by_element: dict[str, list[float | None]] = {}
    for element, bucket, impressions, clicks in counts:
        values = by_element.get(element)
        if values is None:
            values = by_element[element] = [None] * count
        if impressions:
            values[bucket - start] = min(clicks, impressions) / impressions
    return interval, starts, by_element


#: Rating ranks per sort direction: "desc" puts the best first, "asc" the worst; elements
#: without enough data go last either way.
_RATING_RANK = {
    "desc": {"good": 0, "average": 1, "poor": 2, "insufficient": 3},
    "asc": {"poor": 0, "average": 1, "good": 2, "insufficient": 3},
}


def sort_rows(rows: list[dict[str, Any]], sort: str, direction: str = "desc") -> None:
    """Sort in place; missing values (no previous period) always go last."""
    reverse = direction == "desc"
    if sort == "rating":
        rank = _RATING_RANK["desc" if reverse else "asc"]
        rows.sort(key=lambda r: (rank[r["rating"]], -r["impressions"], r["element"]))
        return
    key = "change_rel" if sort == "change" else sort
    present = [r for r in rows if r.get(key) is not None]
    missing = [r for r in rows if r.get(key) is None]
    present.sort(key=lambda r: (r[key], r["element"]), reverse=reverse)
    missing.sort(key=lambda r: r["element"])
    rows[:] = present + missing


def _totals(rows: Sequence[dict[str, Any]], group: str) -> dict[str, Any]:
    impressions = sum(r["impressions"] for r in rows)
    clicks = sum(r["clicks"] for r in rows)
    ratings = {name: 0 for name in RATINGS}
    for r in rows:
        ratings[r["rating"]] += 1
    return {
        "rows": len(rows),
        "elements": len({r["element"] for r in rows}),
        "impressions": impressions,
        "clicks": clicks,
        "ratings": ratings,
    }


def period_json(period: Period) -> dict[str, Any]:
    return {
        "from": period.start.isoformat(),
        "to": period.end.isoformat(),
        "timezone": period.tz,
        "hour_from": period.hour_from,
        "hour_to": period.hour_to,
    }
