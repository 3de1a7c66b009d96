"""One element in depth: its three CTRs, breakdowns and CTR over time
(`/sites/{site}/elements/{element}`, `/api/sites/{site}/elements/{element}`), and the two tables
the page links to as CSV, its series and one breakdown."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from starlette.requests import Request

from ctrlens.collector.errors import InvalidRequest
from ctrlens.collector.events import DEFAULT_KIND
from ctrlens.collector.storage import Site
from ctrlens.dashboard import query
from ctrlens.dashboard.breakdowns import (
    BREAKDOWN_COLUMNS,
    DIMENSION_LABELS,
    DIMENSIONS,
    breakdown,
    element_detail,
)
from ctrlens.dashboard.charts import TimeChart, ctr_chart
from ctrlens.dashboard.export import download_name
from ctrlens.dashboard.funnel import choose_goal, element_funnel
from ctrlens.dashboard.negotiation import Rendering
from ctrlens.dashboard.pages import Answer, Table, page, site_chrome
from ctrlens.dashboard.ratings import parse_thresholds
from ctrlens.dashboard.reports import period_json
from ctrlens.dashboard.series import (
    INTERVALS,
    MAX_HOURLY_DAYS,
    SERIES_COLUMNS,
    default_interval,
    element_series,
    label,
)
from ctrlens.dashboard.site_settings import rating_settings
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
    detail, points, funnel = await asyncio.gather(
        element_detail(storage, site, period, name, filters.variant, filters.page),
        element_series(storage, site.key, name, period, interval, filters.variant, filters.page),
        element_funnel(
            storage, site, name, goal, period.hour_from, period.hour_to, filters.variant, filters.page
        ),
    )
    data = {
        "site": site.key,
        **period_json(period),
        "element": name,
        "found": detail is not None,
        **(detail or {"summary": None, "breakdowns": {}}),
        "interval": interval,
        "series": points,
        # present -> seen -> clicked -> converted, per variant, for `goal` (docs/design.md §4).
        "goal": goal,
        "funnel": funnel,
    }
    table = Table(points, SERIES_COLUMNS, download_name(site.key, f"{interval}-series", period))
    answer = Answer(data, table)
    if rendering == "html":
        chrome = site_chrome(request, site, period, "overview")
        path = f"/elements/{quote(name, safe='')}"
        answer.context = {
            **chrome,
            "name": name,
            "detail": detail,
            "chart": _chart(site, detail, points, interval) if detail else None,
            "step": interval,
            "intervals": INTERVALS,
            "filters": filters,
            "variant_param": request.query_params.get("variant") or "",
            "labels": DIMENSION_LABELS,
            "element_url": chrome["site_url"] + path,
            "element_api": chrome["api_url"] + path,
        }
    return answer


def _chart(site: Site, detail: dict[str, Any], points: list[dict[str, Any]], interval: str) -> TimeChart:
    thresholds, _ = rating_settings(site)
    bounds = thresholds or parse_thresholds(None)
    return ctr_chart(points, [label(p, interval) for p in points], bounds.get(detail["kind"]))


@page(table=True)
async def series(request: Request, rendering: Rendering) -> Answer:
    site = await query.load_site(request)
    period = query.site_period(request, site)
    name = query.element_name(request)
    filters = query.filters(request)
    interval = query.required_choice(request, "interval", INTERVALS, default_interval(period))
    points = await element_series(
        request.app.state.storage, site.key, name, period, interval, filters.variant, filters.page
    )
    data = {"site": site.key, **period_json(period), "element": name, "interval": interval, "series": points}
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
