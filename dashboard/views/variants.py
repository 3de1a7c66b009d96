"""Variant comparisons: every element seen in two or more variants (`/sites/{site}/variants`,
`/api/sites/{site}/variants`), and one comparison in full (`/api/sites/{site}/compare`)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from ctrlens.collector.errors import InvalidRequest
from ctrlens.dashboard import query
from ctrlens.dashboard.charts import IntervalPlot, interval_plot
from ctrlens.dashboard.experiments import COMPARISON_COLUMNS, comparison, variant_label, variant_report
from ctrlens.dashboard.negotiation import Rendering
from ctrlens.dashboard.pages import Answer, Table, page, site_chrome
from ctrlens.dashboard.reports import period_json


@page("variants.html", table=True)
async def variants(request: Request, rendering: Rendering) -> Answer:
    site = await query.load_site(request)
    period = query.site_period(request, site)
    control = query.variant_filter(request.query_params.get("control"))
    rows = await variant_report(request.app.state.storage, site, period, control)
    data = {"site": site.key, **period_json(period), "comparisons": rows}
    answer = Answer(data, Table(rows, COMPARISON_COLUMNS, f"{site.key}-variants"))
    if rendering == "html":
        answer.context = {
            **site_chrome(request, site, period, "variants"),
            "rows": [{**row, "plot": _plot(row)} for row in rows],
            "control": control,
            "names": sorted({r["control"] for r in rows} | {r["treatment"] for r in rows}),
        }
    return answer


def _plot(row: dict[str, Any]) -> IntervalPlot:
    return interval_plot(
        [
            (variant_label(row[role]), row[f"{role}_ctr"], row[f"{role}_low"], row[f"{role}_high"])
            for role in ("control", "treatment")
        ]
    )


@page(table=True)
async def compare(request: Request, rendering: Rendering) -> Answer:
    site = await query.load_site(request)
    period = query.site_period(request, site)
    q = request.query_params
    element = q.get("element")
    if not element:
        raise InvalidRequest("element is required")
    result, row = await comparison(
        request.app.state.storage,
        site,
        period,
        element,
        query.variant_filter(q.get("control")),
        query.variant_filter(q.get("treatment")),
    )
    data = {"site": site.key, **period_json(period), **result}
    return Answer(data, Table([row], COMPARISON_COLUMNS, f"{site.key}-compare"))
