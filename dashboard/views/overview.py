"""The overview: every element with its CTR, interval, rating and change (`/sites/{site}`,
`/api/sites/{site}/elements`)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request

from ctrlens.collector.events import KINDS
from ctrlens.dashboard import query
from ctrlens.dashboard.charts import sparkline
from ctrlens.dashboard.experiments import NO_VARIANT
from ctrlens.dashboard.negotiation import Rendering
from ctrlens.dashboard.pages import Answer, Table, page, site_chrome
from ctrlens.dashboard.reports import DEFAULT_SORT, GROUPS, Overview, element_columns, overview, period_json


@page("overview.html", table=True)
async def elements(request: Request, rendering: Rendering) -> Answer:
    site = await query.load_site(request)
    period = query.site_period(request, site)
    group = query.required_choice(request, "group", GROUPS, "none")
    filters = query.filters(request)
    # People read the busiest elements first; scripts get a stable A-to-Z order.
    sort = query.sort(request, DEFAULT_SORT[0] if rendering == "html" else "element")
    with_sparklines = request.query_params.get("include") == "sparkline"
    storage = request.app.state.storage
    result = await overview(
        storage, site, period, group, filters, sort, with_sparklines or rendering == "html"
    )
    data: dict[str, Any] = {
        "site": site.key,
        **period_json(period),
        **(
            {
                "sparkline_interval": result.sparkline_interval,
                "sparkline_starts": [d.isoformat() for d in result.sparkline_starts],
            }
            if with_sparklines
            else {}
        ),
        "group": group,
        "variants": result.variants,
        "pages": result.pages,
        "totals": result.totals,
        "elements": result.rows,
    }
    answer = Answer(data, Table(result.rows, element_columns(group), f"{site.key}-elements"))
    if rendering == "html":
        chrome = site_chrome(request, site, period, "overview")
        answer.context = {
            **chrome,
            "rows": _rows(request, result, group, chrome["site_url"], period.query()),
            "sparkline_interval": result.sparkline_interval,
            "groups": GROUPS,
            "filters": filters,
            "variant_param": request.query_params.get("variant") or "",
            "kinds": KINDS,
            "sort": sort[0],
            "dir": sort[1],
            "dropped": await storage.rejection_counts(site.key, period.day_from, period.day_to),
            "previous": period.previous(),
        }
    return answer


def _rows(
    request: Request, result: Overview, group: str, site_url: str, period_params: dict[str, str]
) -> list[dict[str, Any]]:
    """The rows with their sparkline drawn and a link to their element page, which keeps the
    period and, where they apply, the filters."""
    link = dict(period_params)
    if request.query_params.get("variant"):
        link["variant"] = request.query_params["variant"]
    if request.query_params.get("page"):
        link["page"] = request.query_params["page"]
    rows = []
    for row in result.rows:
        params = dict(link)
        if group == "variant":
            params["variant"] = row["variant"] or NO_VARIANT
        elif group == "page":
            params["page"] = row["page"]
        url = f"{site_url}/elements/{quote(row['element'], safe='')}?{urlencode(params)}"
        rows.append({**row, "spark": sparkline(row.get("sparkline", [])), "detail_url": url})
    return rows
