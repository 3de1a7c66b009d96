"""One element in depth: its three CTRs, breakdowns and CTR over time
(`/sites/{site}/elements/{element}`, `/api/sites/{site}/elements/{element}`), and the two tables
the page links to as CSV, its series and one breakdown."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any
from urllib.parse import quote

from starlette.requests import Request

from ctrlens.collector.errors import InvalidRequest
from ctrlens.collector.events import DEFAULT_KIND
from ctrlens.collector.storage import Site, Storage
from ctrlens.collector.storage.reads import group_cells
from ctrlens.collector.storage.segments import SEGMENT_FILTERS
from ctrlens.dashboard import query
from ctrlens.dashboard.annotations import annotation_json, annotations_in, chart_notes, legend
from ctrlens.dashboard.breakdowns import (
    BREAKDOWN_COLUMNS,
    DIMENSION_LABELS,
    DIMENSIONS,
    FILTER_DIMENSIONS,
    breakdown,
    element_detail,
)
from ctrlens.dashboard.charts import Note, TimeChart, ctr_chart
from ctrlens.dashboard.comparison import COMPARE_LABELS, element_before, element_comparison, parse_comparison
from ctrlens.dashboard.export import download_name
from ctrlens.dashboard.filters import NOT_AVAILABLE, Filters, breakdown_links
from ctrlens.dashboard.funnel import choose_goal, element_funnel
from ctrlens.dashboard.negotiation import Rendering
from ctrlens.dashboard.pages import Answer, Table, page, site_chrome
from ctrlens.dashboard.periods import Period
from ctrlens.dashboard.ratings import parse_thresholds
from ctrlens.dashboard.reports import element_row, period_json, rated
from ctrlens.dashboard.series import (
    INTERVALS,
    MAX_HOURLY_DAYS,
    SERIES_COLUMNS,
    default_interval,
    element_series,
    label,
)
from ctrlens.dashboard.site_settings import rating_settings
from ctrlens.dashboard.statistics import wilson_interval
from ctrlens.dashboard.views.overview import goal_param


@page("element.html", table=True)
async def element(request: Request, rendering: Rendering) -> Answer:
    site = await query.load_site(request)
    period = query.site_period(request, site)
    name = query.element_name(request)
    filters = query.filters(request)
    interval = query.required_choice(request, "interval", INTERVALS, default_interval(period))
    if interval == "hour" and period.days > MAX_HOURLY_DAYS:
        # The page's period chips keep the interval: a longer period shows days, not an error.
        interval = "day"
    storage = request.app.state.storage
    goal = choose_goal(goal_param(request), await storage.goals(site.key))
    comparison = parse_comparison(request.query_params, period)
    segmented = filters.segment.active
    if segmented:
        # `segments` keeps UTC days only: no hourly chart under a source, campaign or device filter.
        interval = "day"
        detail, points, before, notes = await asyncio.gather(
            _segment_detail(storage, site, period, name, filters),
            _segment_series(storage, site.key, name, period, filters),
            _segment_before(storage, site.key, comparison.period, name, filters),
            annotations_in(storage, site, period),
        )
        funnel: list[dict[str, Any]] = []  # presence and conversions are not kept per segment
    else:
        detail, points, funnel, notes, before = await asyncio.gather(
            element_detail(storage, site, period, name, filters.variant, filters.page),
            element_series(storage, site.key, name, period, interval, filters.variant, filters.page),
            element_funnel(
                storage, site, name, goal, period.hour_from, period.hour_to, filters.variant, filters.page
            ),
            annotations_in(storage, site, period),
            element_before(storage, site.key, comparison.period, name, filters.variant, filters.page),
        )
    data = {
        "site": site.key,
        **period_json(period),
        "element": name,
        "compare": element_comparison(
            comparison, detail["summary"] if detail else None, before, rating_settings(site)[1]
        ),
        "found": detail is not None,
        **(detail or {"summary": None, "breakdowns": {}}),
        "interval": interval,
        "series": points,
        # present -> seen -> clicked -> converted, per variant, for `goal` (docs/design.md §4).
        "goal": goal,
        "funnel": funnel,
        # the site's annotations in the period, numbered in this order on the chart
        "annotations": [annotation_json(n) for n in notes],
    }
    table = Table(points, SERIES_COLUMNS, download_name(site.key, f"{interval}-series", period))
    answer = Answer(data, table)
    if rendering == "html":
        chrome = site_chrome(request, site, period, "overview")
        path = f"/elements/{quote(name, safe='')}"
        placed = chart_notes(notes, period, interval)
        answer.context = {
            **chrome,
            "name": name,
            "detail": detail,
            "chart": _chart(site, detail, points, interval, placed) if detail else None,
            "annotation_rows": legend(notes, period.tz),
            "step": interval,
            "intervals": INTERVALS,
            "filters": filters,
            "variant_param": request.query_params.get("variant") or "",
            "labels": DIMENSION_LABELS,
            # The source, campaign and device filters on: the numbers come from `segments`.
            "segment_filters": [(n, chrome["params"][n]) for n in SEGMENT_FILTERS if chrome["params"].get(n)],
            "segmented": segmented,
            # A breakdown row links to the overview filtered by its value.
            "filter_links": breakdown_links(
                chrome["site_url"], chrome["params"], period.query(), FILTER_DIMENSIONS
            ),
            "element_url": chrome["site_url"] + path,
            "element_api": chrome["api_url"] + path,
            "comparison": comparison,
            "compares": COMPARE_LABELS,
            "min_impressions": rating_settings(site)[1],
        }
    return answer


EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
#: What the element page cannot show under a segment filter: `segments` keeps no visitors,
#: accounts or funnel (docs/design.md §4 "Around the numbers").
SEGMENT_NOT_AVAILABLE = (*NOT_AVAILABLE, "accounts_viewed", "accounts_clicked", "account_ctr")


def _kept(cells: list[dict[str, Any]], filters: Filters) -> list[dict[str, Any]]:
    return [c for c in cells if filters.variant in (None, c["variant"]) and filters.page in (None, c["page"])]


async def _segment_detail(
    storage: Storage, site: Site, period: Period, name: str, filters: Filters
) -> dict[str, Any] | None:
    """`element_detail` under a source, campaign or device filter: the element's counts within
    the segment over the UTC days the period overlaps, from `segments`; what it does not keep is
    None ("–" on the page), and the account breakdown is left empty."""
    thresholds, min_impressions = rating_settings(site)
    days = (period.day_from, period.day_to)
    all_cells = await storage.segment_cells(site.key, *days, filters.segment, element=name)
    cells = _kept(all_cells, filters)
    if not cells:
        return None
    summary = element_row(group_cells(cells)[0], thresholds, min_impressions)
    summary.update(dict.fromkeys(SEGMENT_NOT_AVAILABLE))
    kind = summary["kind"]
    values = await asyncio.gather(
        *(
            storage.segment_values(
                site.key, name, by, *days, filters.segment, variant=filters.variant, page=filters.page
            )
            for by in SEGMENT_FILTERS
        )
    )

    def rows(counts: list[dict[str, Any]]) -> list[dict[str, Any]]:
        made = [
            {
                "value": c["value"], "impressions": c["impressions"], "clicks": c["clicks"],
                "total_clicks": c["total_clicks"], **rated(c, kind, thresholds, min_impressions),
            }
            for c in counts
            if c["impressions"] > 0
        ]
        return sorted(made, key=lambda r: (-r["impressions"], r["value"]))

    breakdowns = {
        by: rows([{"value": g[by], **g} for g in group_cells(cells, by)]) for by in ("variant", "page")
    }
    breakdowns.update({by: rows(counts) for by, counts in zip(SEGMENT_FILTERS, values, strict=True)})
    breakdowns["account"] = []
    return {
        "element": name,
        "kind": kind,
        "variants": sorted({c["variant"] for c in all_cells}),
        "pages": sorted({c["page"] for c in all_cells}),
        "summary": summary,
        "breakdowns": breakdowns,
    }


async def _segment_series(
    storage: Storage, site: str, name: str, period: Period, filters: Filters
) -> list[dict[str, Any]]:
    """The daily series under a segment filter: each local date of the period counts the UTC
    day of the same date (exact for a UTC site), empty days included."""
    first = period.start.toordinal() - EPOCH_ORDINAL
    counts = {
        day: rest
        for day, *rest in await storage.segment_element_days(
            site, name, first, first + period.days - 1, filters.segment, filters.variant, filters.page
        )
    }
    points = []
    for day in period.dates():
        impressions, clicks, total = counts.get(day.toordinal() - EPOCH_ORDINAL, (0, 0, 0))
        low, high = wilson_interval(clicks, impressions) if impressions else (None, None)
        points.append({
            "start": day.isoformat(),
            "impressions": impressions,
            "clicks": clicks,
            "total_clicks": total,
            "ctr": min(clicks, impressions) / impressions if impressions else None,
            "ctr_low": low,
            "ctr_high": high,
        })
    return points


async def _segment_before(
    storage: Storage, site: str, period: Period, name: str, filters: Filters
) -> tuple[int, int]:
    """The element's (clicks, impressions) within the segment over the comparison period."""
    cells = _kept(
        await storage.segment_cells(site, period.day_from, period.day_to, filters.segment, element=name),
        filters,
    )
    return sum(c["clicks"] for c in cells), sum(c["impressions"] for c in cells)


def _chart(
    site: Site, detail: dict[str, Any], points: list[dict[str, Any]], interval: str, notes: list[Note]
) -> TimeChart:
    thresholds, _ = rating_settings(site)
    bounds = thresholds or parse_thresholds(None)
    labels = [label(p, interval) for p in points]
    return ctr_chart(points, labels, bounds.get(detail["kind"]), notes=notes)


@page(table=True)
async def series(request: Request, rendering: Rendering) -> Answer:
    site = await query.load_site(request)
    period = query.site_period(request, site)
    name = query.element_name(request)
    filters = query.filters(request)
    interval = query.required_choice(request, "interval", INTERVALS, default_interval(period))
    storage = request.app.state.storage
    points, notes = await asyncio.gather(
        element_series(storage, site.key, name, period, interval, filters.variant, filters.page),
        annotations_in(storage, site, period),
    )
    data = {
        "site": site.key, **period_json(period), "element": name, "interval": interval, "series": points,
        "annotations": [annotation_json(n) for n in notes],
    }
    return Answer(data, Table(points, SERIES_COLUMNS, download_name(site.key, f"{interval}-series", period)))


@page(table=True)
async def element_breakdown(request: Request, rendering: Rendering) -> Answer:
    site = await query.load_site(request)
    period = query.site_period(request, site)
    name = query.element_name(request)
    by = query.choice(request, "by", DIMENSIONS, None)
    if by is None:
        raise InvalidRequest(f"by is required: one of {', '.join(DIMENSIONS)}")
    filters = query.filters(request)
    storage = request.app.state.storage
    detail = await element_detail(storage, site, period, name, filters.variant, filters.page)
    kind = detail["kind"] if detail else DEFAULT_KIND
    rows = await breakdown(storage, site, period, name, by, kind, filters.variant, filters.page)
    data = {"site": site.key, **period_json(period), "element": name, "by": by, "rows": rows}
    return Answer(data, Table(rows, BREAKDOWN_COLUMNS, download_name(site.key, f"by-{by}", period)))
