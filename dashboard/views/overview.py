"""The overview: every element with its CTR, interval, rating and change (`/sites/{site}`,
`/api/sites/{site}/elements`)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request

from ctrlens.collector.errors import InvalidRequest
from ctrlens.collector.events import KINDS, MAX_NAME
from ctrlens.dashboard import query
from ctrlens.dashboard.annotations import annotations_in, legend, sparkline_marks
from ctrlens.dashboard.charts import sparkline
from ctrlens.dashboard.comparison import COMPARE_LABELS, parse_comparison
from ctrlens.dashboard.diagnosis import DIAGNOSIS_LABELS
from ctrlens.dashboard.experiments import NO_VARIANT
from ctrlens.dashboard.export import download_name
from ctrlens.dashboard.filters import filter_chips
from ctrlens.dashboard.headline import headline
from ctrlens.dashboard.negotiation import Rendering
from ctrlens.dashboard.pages import Answer, Table, page, site_chrome
from ctrlens.dashboard.paging import Paging
from ctrlens.dashboard.reports import (
    GROUPS,
    Overview,
    element_columns,
    fill_sparklines,
    overview,
    period_json,
)
from ctrlens.dashboard.site_settings import rating_settings


@page("overview.html", table=True)
async def elements(request: Request, rendering: Rendering) -> Answer:
    site = await query.load_site(request)
    period = query.site_period(request, site)
    comparison = parse_comparison(request.query_params, period)
    group = query.required_choice(request, "group", GROUPS, "none")
    filters = query.filters(request)
    limit, offset = query.paging(request)
    # People read first what is most worth fixing; scripts get a stable A-to-Z order.
    sort = query.sort(request, "problem" if rendering == "html" else "element")
    with_sparklines = request.query_params.get("include") == "sparkline"
    goal = goal_param(request)
    storage = request.app.state.storage
    report = overview(storage, site, period, group, filters, sort, goal, comparison.period)
    notes: list[Any] = []
    dropped: dict[str, int] = {}
    if rendering == "html":
        # The page's own reads go side by side with the report's.
        result, notes, dropped = await asyncio.gather(
            report, annotations_in(storage, site, period),
            storage.rejection_counts(site.key, period.day_from, period.day_to),
        )
    else:
        result = await report
    min_impressions = rating_settings(site)[1]
    paging = Paging(limit, offset, len(result.rows))
    shown = result.rows[offset : offset + limit]
    if with_sparklines or rendering == "html":
        await fill_sparklines(storage, site, period, filters, shown)
    data: dict[str, Any] = {
        "site": site.key,
        **period_json(period),
        "compare": comparison.json(),
        **(
            {
                "sparkline_interval": result.sparkline_interval,
                "sparkline_starts": [d.isoformat() for d in result.sparkline_starts],
            }
            if with_sparklines
            else {}
        ),
        "group": group,
        "goal": result.goal,
        "goals": result.goals,
        "variants": result.variants,
        "pages": result.pages,
        "totals": result.totals,
        "headline": headline(result.current, result.before, min_impressions),
        # One page of rows (docs/design.md §4); the CSV export below has them all.
        "elements": shown,
        **paging.json(),
    }
    table = Table(result.rows, element_columns(group), download_name(site.key, "elements", period))
    answer = Answer(data, table)
    if rendering == "html":
        chrome = site_chrome(request, site, period, "overview")
        marks = sparkline_marks(notes, result.sparkline_interval, result.sparkline_starts)
        answer.context = {
            **chrome,
            "rows": _rows(
                request, replace(result, rows=shown), group, chrome["site_url"],
                {**period.query(), **comparison.query()}, marks,
            ),
            "sparkline_interval": result.sparkline_interval,
            "annotation_rows": legend(notes, period.tz),
            "groups": GROUPS,
            "filters": filters,
            "filter_chips": filter_chips(chrome["params"], chrome["site_url"]),
            "segmented": filters.segment.active,
            "paging": paging,
            "paging_links": paging.links(chrome["site_url"], chrome["params"]),
            "variant_param": request.query_params.get("variant") or "",
            "kinds": KINDS,
            "goal": result.goal,
            "goals": result.goals,
            "diagnosis_names": DIAGNOSIS_LABELS,
            "sort": sort[0],
            "dir": sort[1],
            "dropped": dropped,
            "previous": comparison.period,
            "comparison": comparison,
            "compares": COMPARE_LABELS,
            "min_impressions": min_impressions,
        }
    return answer


def goal_param(request: Request) -> str | None:
    """`goal=`: a goal name (docs/design.md §3 limits); absent means the site's first goal."""
    goal = request.query_params.get("goal") or None
    if goal is not None and (len(goal) > MAX_NAME or not goal.isprintable()):
        raise InvalidRequest(f"goal must be a goal name of at most {MAX_NAME} printable characters")
    return goal


def _rows(
    request: Request,
    result: Overview,
    group: str,
    site_url: str,
    period_params: dict[str, str],
    marks: Sequence[int] = (),
) -> list[dict[str, Any]]:
    """The rows with their sparkline drawn (a tick at each annotated point, `marks`) and a link
    to their element page, which keeps the period and, where they apply, the filters."""
    link = dict(period_params)
    if request.query_params.get("variant"):
        link["variant"] = request.query_params["variant"]
    if request.query_params.get("page"):
        link["page"] = request.query_params["page"]
    for name in ("source", "campaign", "device"):
        if request.query_params.get(name):
            link[name] = request.query_params[name]
    rows = []
    for row in result.rows:
        params = dict(link)
        if group == "variant":
            params["variant"] = row["variant"] or NO_VARIANT
        elif group == "page":
            params["page"] = row["page"]
        url = f"{site_url}/elements/{quote(row['element'], safe='')}?{urlencode(params)}"
        rows.append({**row, "spark": sparkline(row.get("sparkline", []), marks=marks), "detail_url": url})
    return rows
