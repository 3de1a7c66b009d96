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

from starlette.concurrency import run_in_threadpool

from ctrlens.collector.events import DEFAULT_KIND
from ctrlens.collector.storage import Site, Storage
from ctrlens.collector.storage.counts import GROUP_KEYS
from ctrlens.collector.storage.reads import group_cells, week_of
from ctrlens.dashboard.comparison import CHANGE_COLUMNS, ctr_change
from ctrlens.dashboard.filters import (
    NO_FILTERS,
    Filters,
    mark_not_available,
    period_cells,
    segment_sparkline_counts,
)
from ctrlens.dashboard.funnel import (
    FUNNEL_COLUMNS,
    FunnelCounts,
    choose_goal,
    funnel_fields,
    site_post_click_rate,
    viewability_threshold,
)
from ctrlens.dashboard.headline import PROBLEM_COLUMNS, Totals, good_ctr, problem_rank, problem_size
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
    "problem",
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
    *CHANGE_COLUMNS,
    *FUNNEL_COLUMNS,
    *PROBLEM_COLUMNS,
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
    # The rows' sums in the period and in the one compared with (the headline).
    current: Totals = Totals(0, 0, None)
    before: Totals = Totals(0, 0, None)


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
    filters: Filters = NO_FILTERS,
    sort: tuple[str, str] = DEFAULT_SORT,
    goal: str | None = None,
    compare: Period | None = None,
) -> Overview:
    """The site overview: one row per element (or element and variant / page), with the
    change against `compare` (by default the previous period of the same length) and the funnel
    for `goal` (by default the site's first goal: `funnel.choose_goal`). Sparklines are drawn
    for the rows shown only: `fill_sparklines`.

    Every read comes first, side by side; the statistics over the rows then run in a worker
    thread, so that a site with tens of thousands of elements never holds `POST /e` on the
    event loop (docs/design.md §4)."""
    goals = await storage.goals(site.key)
    goal = choose_goal(goal, goals)
    previous = compare or period.previous()
    # Independent reads, run side by side (SQLite has several reader connections).
    # Per element only (the default view), both periods come from the per-element tables, and
    # the cells (element, variant, page) are read without their counts, for the rows' pages and
    # the site's variants and pages (storage/reads.py `cell_keys`).
    # Under a source, campaign or device filter the cells come from `segments` (filters.py).
    segmented = filters.segment.active
    per_element = group == "none" and filters.variant is None and filters.page is None and not segmented
    keys = ("element", *GROUP_KEYS[group])
    reads: list[Awaitable[Any]] = [
        storage.element_totals(site.key, period.hour_from, period.hour_to, kind=filters.kind)
        if per_element
        else period_cells(storage, site.key, period, filters),
        storage.cell_keys(site.key, period.hour_from, period.hour_to, kind=filters.kind)
        if per_element
        else _nothing(),
        storage.element_totals(site.key, previous.hour_from, previous.hour_to, filters.kind, _COMPARED)
        if per_element
        else period_cells(storage, site.key, previous, filters),
        FunnelCounts.read(
            storage, site.key, goal, period.hour_from, period.hour_to, keys,
            variant=filters.variant, page=filters.page,
        ),
        # The comparison period's funnel only gives the headline its conversions: no presence.
        storage.goal_counts(
            site.key, goal, previous.hour_from, previous.hour_to, ("element",),
            variant=filters.variant, page=filters.page,
        )
        if goal
        else _nothing(),
        # Per element unless the rows are per variant: the database sums the variants.
        storage.variant_moments(
            site.key, period.day_from, period.day_to, by_variant=_per_variant(group, filters)
        ),
        # The site's post-click rate counts every element's clicks, whatever the kind filter.
        _nothing()
        if filters.kind is None
        else storage.element_totals(site.key, period.hour_from, period.hour_to, counts=("clicks",))
        if per_element
        else storage.element_cells(site.key, period.hour_from, period.hour_to),
    ]
    cells, cell_keys, before, funnel, before_conversions, moments, all_cells = await asyncio.gather(*reads)
    rows = await run_in_threadpool(_OverviewRows, site, period, cells, group, filters, cell_keys)
    kinds: dict[str, str] = {}
    missing = [] if segmented else rows.missing(funnel)
    if missing:
        kinds = await storage.element_kinds(site.key, sorted({key[0] for key in missing}))
    return await run_in_threadpool(
        rows.finish, funnel, before_conversions, missing, kinds, before, per_element, moments, all_cells,
        sort, goal, [g.name for g in goals],
    )


#: The comparison period's counts per element: the change of CTR and the headline's.
_COMPARED = ("impressions", "clicks")


async def _nothing() -> None:
    return None


class _OverviewRows:
    """The overview's pure part, in two steps either side of the one read that depends on the
    rows (the kinds of elements present but never seen). Runs in a worker thread."""

    def __init__(
        self,
        site: Site,
        period: Period,
        cells: list[dict[str, Any]],
        group: str,
        filters: Filters,
        cell_keys: list[tuple[str, str, str]] | None = None,
    ) -> None:
        """`cells` are (element, variant, page) cells with their counts; or, with `cell_keys`
        (the per-element view), each element's counts summed, and the cells without counts."""
        self.site, self.period, self.group, self.filters = site, period, group, filters
        self.thresholds, self.min_impressions = rating_settings(site)
        self.kept = [c for c in cells if filters.keep(c)]
        self.pages_of: dict[tuple[str, ...], set[str]] = defaultdict(set)
        if cell_keys is None:
            self.variants = sorted({c["variant"] for c in cells})
            self.pages = sorted({c["page"] for c in cells})
            for cell in self.kept:
                self.pages_of[_key(cell, group)].add(cell["page"])
            sums = group_cells(self.kept, group)
        else:
            self.variants = sorted({variant for _, variant, _ in cell_keys})
            self.pages = sorted({page for _, _, page in cell_keys})
            for element, _, page in cell_keys:
                self.pages_of[(element,)].add(page)
            sums = sorted(self.kept, key=lambda c: c["element"])
        self.rows = [element_row(counts, self.thresholds, self.min_impressions) for counts in sums]

    def missing(self, funnel: FunnelCounts) -> list[tuple[str, ...]]:
        """Keys of elements present in the period but never seen (`_present_only`)."""
        shown = {_key(row, self.group) for row in self.rows}
        return sorted(key for key in funnel.present if key not in shown and key[0])

    def finish(
        self,
        funnel: FunnelCounts,
        before_conversions: dict[tuple[str, ...], tuple[int, int, float]] | None,
        missing: list[tuple[str, ...]],
        kinds: dict[str, str],
        before: list[dict[str, Any]],
        per_element: bool,
        moments: list[Any],
        all_cells: list[dict[str, Any]] | None,
        sort: tuple[str, str],
        goal: str | None,
        goal_names: list[str],
    ) -> Overview:
        site, group, filters = self.site, self.group, self.filters
        thresholds, min_impressions = self.thresholds, self.min_impressions
        rows = self.rows
        rows += _present_only(missing, kinds, group, filters, thresholds, min_impressions)
        clicks = sum(c["clicks"] for c in (self.kept if all_cells is None else all_cells) if filters.keep(c))
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
            row.update(problem_size(row, good_ctr(row["kind"], thresholds), threshold, site_rate))

        earlier: dict[tuple[str, ...], dict[str, Any]]
        if per_element:
            earlier = {(r["element"],): r for r in before}
        else:
            earlier = {_key(r, group): r for r in group_cells([c for c in before if filters.keep(c)], group)}

        for row in rows:
            key = _key(row, group)
            row["pages"] = sorted(self.pages_of[key])
            old = earlier.get(key)
            row.update(
                ctr_change(
                    row["ctr"], row["impressions"], (old["clicks"], old["impressions"]) if old else None,
                    min_impressions,
                )
            )

        interval, starts, _, _ = sparkline_axis(self.period)
        _clustered_intervals(moments, rows, group, filters, thresholds, min_impressions)
        sort_rows(rows, *sort, site_rate=site_rate)
        totals = _totals(rows, group)
        totals.update(
            goal=goal,
            conversions=funnel.attributed() + funnel.unattributed() if goal else None,
            unattributed=funnel.unattributed() if goal else None,
            site_post_click_rate=site_rate,
        )
        if filters.segment.active:
            mark_not_available(rows, totals)
        current = Totals(totals["impressions"], totals["clicks"], totals["conversions"])
        compared = Totals(
            sum(r["impressions"] for r in earlier.values()),
            sum(r["clicks"] for r in earlier.values()),
            sum(c[0] for c in before_conversions.values()) if before_conversions is not None else None,
        )
        return Overview(
            rows, self.variants, self.pages, totals, interval, starts, goal, goal_names, current, compared
        )


def _present_only(
    missing: list[tuple[str, ...]],
    kinds: dict[str, str],
    group: str,
    filters: Filters,
    thresholds: Any,
    min_impressions: int,
) -> list[dict[str, Any]]:
    """Rows for elements present in the period but never seen: the `not_seen` ones the
    impression rollups cannot show. Their kind is the one they were last seen with."""
    added = []
    for key in missing:
        kind = kinds.get(key[0], DEFAULT_KIND)
        if (filters.kind is not None and kind != filters.kind) or not filters.matches(key[0]):
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


def _per_variant(group: str, filters: Filters) -> bool:
    """Whether the rows' design effects are per element and variant, not per element."""
    return group == "variant" or filters.variant is not None


def _clustered_intervals(
    variant_moments: list[Any],
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
    per_variant = _per_variant(group, filters)
    for m in variant_moments:
        sums = Moments(m.clusters, m.impressions, m.clicks, m.impressions_sq, m.clicks_sq, m.cross_products)
        cell = (m.element, m.variant) if per_variant else (m.element,)
        moments[cell] = moments[cell] + sums if cell in moments else sums
    for row in rows:
        key: tuple[str, ...] = (row["element"],)
        if per_variant:
            key = (row["element"], str(row.get("variant", filters.variant)))
        deff = design_effect(moments[key]) if key in moments else 1.0
        if deff > 1.0:
            row.update(rated(row, row["kind"], thresholds, min_impressions, deff))


def sparkline_axis(period: Period) -> tuple[str, list[date], int, int]:
    """The sparklines' points: (interval, each point's first day, first bucket, buckets). One
    point per UTC day, or per week (Monday to Sunday, counted whole) beyond a month."""
    first = period.start.toordinal() - EPOCH_ORDINAL
    last = first + period.days - 1
    if period.days <= MAX_DAILY_SPARKLINE:
        days = [date.fromordinal(EPOCH_ORDINAL + d) for d in range(first, last + 1)]
        return "day", days, first, period.days
    start, count = week_of(first), week_of(last) - week_of(first) + 1
    mondays = [date.fromordinal(EPOCH_ORDINAL + 7 * w - 3) for w in range(start, start + count)]
    return "week", mondays, start, count


async def fill_sparklines(
    storage: Storage, site: Site, period: Period, filters: Filters, rows: Sequence[dict[str, Any]]
) -> None:
    """Set `sparkline` on each of `rows`: its element's CTR per point of `sparkline_axis`, `None`
    where there were no impressions. Read for these rows' elements only (the page shown, not the
    thousands behind it), from the per-UTC-day (per-week) rollups: exact for a UTC site; for a
    site in another zone each point is the UTC day of the same date, the one that overlaps the
    local day most."""
    elements = sorted({row["element"] for row in rows})
    if not elements:
        return
    interval, _, start, count = sparkline_axis(period)
    end = start + count - 1
    args = (filters.kind, filters.variant, filters.page)
    if filters.segment.active:
        counts = await segment_sparkline_counts(
            storage, site.key, start, end, filters, weekly=interval == "week", elements=elements
        )
    elif interval == "day":
        counts = await storage.element_days(site.key, start, end, *args, elements=elements)
    else:
        counts = await storage.element_weeks(site.key, start, end, *args, elements=elements)
    by_element = _sparkline_values(start, count, counts)
    empty = [None] * count
    for row in rows:
        row["sparkline"] = by_element.get(row["element"], empty)


def _sparkline_values(
    start: int, count: int, counts: list[tuple[str, int, int, int]]
) -> dict[str, list[float | None]]:
    """Each element's CTR per bucket, `None` where there were no impressions."""
    by_element: dict[str, list[float | None]] = {}
    for element, bucket, impressions, clicks in counts:
        values = by_element.get(element)
        if values is None:
            values = by_element[element] = [None] * count
        if impressions:
            values[bucket - start] = min(clicks, impressions) / impressions
    return by_element


#: Rating ranks per sort direction: "desc" puts the best first, "asc" the worst; elements
#: without enough data go last either way.
_RATING_RANK = {
    "desc": {"good": 0, "average": 1, "poor": 2, "insufficient": 3},
    "asc": {"poor": 0, "average": 1, "good": 2, "insufficient": 3},
}


def sort_rows(
    rows: list[dict[str, Any]], sort: str, direction: str = "desc", site_rate: float | None = None
) -> None:
    """Sort in place; missing values (no previous period) always go last. `problem` puts the
    largest problems first (headline.problem_rank; `asc`: the smallest problems first)."""
    reverse = direction == "desc"
    if sort == "problem":
        def by_problem(r: dict[str, Any]) -> tuple[int, float, int, str]:
            band, size = problem_rank(r, site_rate)
            return band, -size if reverse else size, -r["impressions"], r["element"]

        rows.sort(key=by_problem)
        return
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
