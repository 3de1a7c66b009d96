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
    variant_label,
    variant_report,
)
from ctrlens.dashboard.export import download_name
from ctrlens.dashboard.inference import CORRECTIONS
from ctrlens.dashboard.negotiation import Rendering
from ctrlens.dashboard.pages import Answer, Table, page, site_chrome
from ctrlens.dashboard.periods import Period
from ctrlens.dashboard.reports import period_json

#: `?inference=`: the JSON's names, and `fixed` for short.
_INFERENCE_PARAMS = {
    "always_valid": "always_valid", "fixed_horizon": "fixed_horizon", "fixed": "fixed_horizon"
}


def _experiment(request: Request, settings: dict[str, Any]) -> Experiment:
    inference = query.choice(request, "inference", tuple(_INFERENCE_PARAMS), None)
    correction = query.choice(request, "correction", CORRECTIONS, None)
    return with_choices(experiment_of(settings), _INFERENCE_PARAMS.get(inference or ""), correction)


def _method_json(experiment: Experiment, period: Period) -> dict[str, Any]:
    return {
        "inference": experiment.inference,
        "correction": experiment.correction,
        "smallest_effect": experiment.smallest_effect,
        # Which rate the arms are compared on: `*_clicks`/`*_ctr` hold the goal's conversions and
        # their rate per impression under conversions_per_impression (experiments.py).
        "metric": experiment.metric,
        "goal": experiment.goal,
        "experiment": experiment.to_json(),
        # Visitor-days are UTC days: a site in another zone is read over the UTC days its period overlaps.
        "day_from_utc": period.day_from,
        "day_to_utc": period.day_to,
    }


@page("variants.html", table=True)
async def variants(request: Request, rendering: Rendering) -> Answer:
    site = await query.load_site(request)
    storage = request.app.state.storage
    experiment = _experiment(request, site.settings)
    period = await experiment_period(storage, site, experiment, dict(request.query_params))
    control = query.variant_filter(request.query_params.get("control"))
    rows = await variant_report(storage, site, period, experiment, control)
    data = {"site": site.key, **period_json(period), **_method_json(experiment, period), "comparisons": rows}
    answer = Answer(data, Table(rows, COMPARISON_COLUMNS, download_name(site.key, "variants", period)))
    if rendering == "html":
        answer.context = {
            **site_chrome(request, site, period, "variants"),
            "rows": [{**row, "plot": _plot(row)} for row in rows],
            "control": control,
            "names": sorted({r["control"] for r in rows} | {r["treatment"] for r in rows}),
            "experiment": experiment,
            "inference_name": INFERENCE_NAMES[experiment.inference],
            "correction_name": CORRECTION_NAMES[experiment.correction],
            "utc_days": period.tz != "UTC",
            "decisions": DECISION_LABELS,
            "outcome_name": "Conversions" if experiment.goal else "Clicks",
            "rate_name": "Conversions per impression" if experiment.goal else "CTR",
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
    data = {"site": site.key, **period_json(period), **_method_json(experiment, period), **result}
    return Answer(data, Table([row], COMPARISON_COLUMNS, download_name(site.key, "compare", period)))
