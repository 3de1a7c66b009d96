"""The overview: every element with its CTR, interval, rating and change (`/sites/{site}`,
`/api/sites/{site}/elements`)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request

from ctrlens.collector.errors import InvalidRequest
from ctrlens.collector.events import KINDS, MAX_NAME
from ctrlens.dashboard import query
from ctrlens.dashboard.charts import sparkline
from ctrlens.dashboard.diagnosis import DIAGNOSIS_LABELS
from ctrlens.dashboard.experiments import NO_VARIANT
from ctrlens.dashboard.export import download_name
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
    goal = goal_param(request)
    storage = request.app.state.storage
    result = await overview(
        storage, site, period, group, filters, sort, with_sparklines or rendering == "html", goal
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
        "goal": result.goal,
        "goals": result.goals,
        "variants": result.variants,
        "pages": result.pages,
        "totals": result.totals,
        "elements": result.rows,
    }
    table = Table(result.rows, element_columns(group), download_name(site.key, "elements", period))
    answer = Answer(data, table)
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
            "goal": result.goal,
            "goals": result.goals,
            "diagnosis_names": DIAGNOSIS_LABELS,
            "sort": sort[0],
            "dir": sort[1],
            "dropped": await storage.rejection_counts(site.key, period.day_from, period.day_to),
            "previous": period.previous(),
        }
    return answer


def goal_param(request: Request) -> str | None:
    """`goal=`: a goal name (docs/design.md §3 limits); absent means the site's first goal."""
    goal = request.query_params.get("goal") or None
    if goal is not None and (len(goal) > MAX_NAME or not goal.isprintable()):
        raise InvalidRequest(f"goal must be a goal name of at most {MAX_NAME} printable characters")
    return goal


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
