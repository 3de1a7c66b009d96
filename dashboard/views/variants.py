"""Variant comparisons: every element seen in two or more variants (`/sites/{site}/variants`,
`/api/sites/{site}/variants`), and one comparison in full (`/api/sites/{site}/compare`).

Both judge the site's experiment (experiment_settings.py); `?inference=always_valid|fixed` and
`?correction=bh|holm|none` override its settings for one request. Without a period in the URL
they read since the experiment's start (or the first event)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from ctrlens.collector.errors import InvalidRequest
from ctrlens.dashboard import query
from ctrlens.dashboard.charts import IntervalPlot, interval_plot
from ctrlens.dashboard.experiment_settings import Experiment, experiment_of, with_choices
from ctrlens.dashboard.experiments import (
    COMPARISON_COLUMNS,
    CORRECTION_NAMES,
    DECISION_LABELS,
    INFERENCE_NAMES,
    comparison,
    experiment_period,
    judged_report,
    method_json,
    variant_label,
)
from ctrlens.dashboard.export import download_name
from ctrlens.dashboard.inference import CORRECTIONS
from ctrlens.dashboard.negotiation import Rendering
from ctrlens.dashboard.pages import Answer, Table, page, site_chrome
from ctrlens.dashboard.paging import Paging
from ctrlens.dashboard.reports import period_json

#: Comparisons per page (`limit` overrides it): each is a card with its plot.
PAGE_CARDS = 25
#: `?inference=`: the JSON's names, and `fixed` for short.
_INFERENCE_PARAMS = {
    "always_valid": "always_valid", "fixed_horizon": "fixed_horizon", "fixed": "fixed_horizon"
}


def _experiment(request: Request, settings: dict[str, Any]) -> Experiment:
    inference = query.choice(request, "inference", tuple(_INFERENCE_PARAMS), None)
    correction = query.choice(request, "correction", CORRECTIONS, None)
    return with_choices(experiment_of(settings), _INFERENCE_PARAMS.get(inference or ""), correction)


@page("variants.html", table=True)
async def variants(request: Request, rendering: Rendering) -> Answer:
    site = await query.load_site(request)
    storage = request.app.state.storage
    experiment = _experiment(request, site.settings)
    period = await experiment_period(storage, site, experiment, dict(request.query_params))
    control = query.variant_filter(request.query_params.get("control"))
    limit, offset = query.paging(request, PAGE_CARDS)
    judged = await judged_report(storage, site, period, experiment, control)
    # One page of comparisons, made in full; the CSV has them all. Every p-value is adjusted
    # across all of them, whatever the page shows.
    rows = await (judged.rows() if rendering == "csv" else judged.rows(offset, limit))
    paging = Paging(limit, offset, len(judged))
    data = {
        "site": site.key,
        **period_json(period),
        **method_json(experiment, period),
        "comparisons": rows,
        **paging.json(),
    }
    answer = Answer(data, Table(rows, COMPARISON_COLUMNS, download_name(site.key, "variants", period)))
    if rendering == "html":
        chrome = site_chrome(request, site, period, "variants")
        answer.context = {
            **chrome,
            "rows": [
                {**row, "plot": _plot(row), "secondary_rate_shown": row["control_secondary_rate"] is not None}
                for row in rows
            ],
            "paging": paging,
            "paging_links": paging.links(chrome["site_url"] + "/variants", chrome["params"]),
            "control": control,
            "names": judged.arm_names(),
            "secondary_name": _rate_name(judged.arms.secondary_metric, judged.arms.secondary_goal),
            # The table's narrow column: "CTR", or "signup / impr.".
            "secondary_short": (
                "CTR" if judged.arms.secondary_metric == "ctr" else f"{judged.arms.secondary_goal} / impr."
            ),
            "experiment": experiment,
            "inference_name": INFERENCE_NAMES[experiment.inference],
            "correction_name": CORRECTION_NAMES[experiment.correction],
            "utc_days": period.tz != "UTC",
            "decisions": DECISION_LABELS,
            "outcome_name": "Conversions" if experiment.goal else "Clicks",
            "rate_name": _rate_name(experiment.metric, experiment.goal),
        }
    return answer


def _rate_name(metric: str | None, goal: str | None) -> str | None:
    if metric == "conversions_per_impression":
        return f"{goal} conversions per impression"
    return "CTR" if metric == "ctr" else None


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
    storage = request.app.state.storage
    experiment = _experiment(request, site.settings)
    period = await experiment_period(storage, site, experiment, dict(request.query_params))
    q = request.query_params
    element = q.get("element")
    if not element:
        raise InvalidRequest("element is required")
    result, row = await comparison(
        storage,
        site,
        period,
        experiment,
        element,
        query.variant_filter(q.get("control")),
        query.variant_filter(q.get("treatment")),
    )
    data = {"site": site.key, **period_json(period), **method_json(experiment, period), **result}
    return Answer(data, Table([row], COMPARISON_COLUMNS, download_name(site.key, "compare", period)))
