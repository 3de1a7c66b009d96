"""The OpenAPI 3.1 document of the dashboard's JSON API, served at `/api/openapi.json`.

Hand-written (the pages are plain functions, nothing to generate it from), and kept honest by
tests/test_api.py, which checks that every `/api/` route and method is described.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from ctrlens.collector.events import KINDS
from ctrlens.collector.storage.names import CAP_SETTINGS, DEFAULT_CAPS, MAX_CAP
from ctrlens.dashboard.accounts import ACCOUNT_COLUMNS, ELEMENT_ACCOUNT_COLUMNS
from ctrlens.dashboard.breakdowns import BREAKDOWN_COLUMNS, DIMENSIONS
from ctrlens.dashboard.comparison import COMPARES
from ctrlens.dashboard.diagnosis import DIAGNOSES
from ctrlens.dashboard.experiment_settings import METRICS
from ctrlens.dashboard.experiments import COMPARISON_COLUMNS, SECONDARY_COLUMNS
from ctrlens.dashboard.inference import CORRECTIONS
from ctrlens.dashboard.negotiation import RENDERINGS, Rendering
from ctrlens.dashboard.pages import Answer, page
from ctrlens.dashboard.periods import PRESETS
from ctrlens.dashboard.query import DEVICES, MAX_PAGE_ROWS, PAGE_ROWS
from ctrlens.dashboard.ratings import RATINGS
from ctrlens.dashboard.reports import ELEMENT_COLUMNS, GROUPS, MAX_DAILY_SPARKLINE, SORTS
from ctrlens.dashboard.series import INTERVALS, MAX_HOURLY_DAYS, SERIES_COLUMNS
from ctrlens.dashboard.statistics import DECISIONS, INFERENCES, VERDICTS

_NUMBER = {"type": "number"}
_NULLABLE_NUMBER = {"type": ["number", "null"]}
_INTEGER = {"type": "integer"}
_STRING = {"type": "string"}
_BOOLEAN = {"type": "boolean"}

_FIELD_TYPES: dict[str, Any] = {
    "element": _STRING,
    "kind": {"type": "string", "enum": list(KINDS)},
    "variant": _STRING,
    "page": _STRING,
    "pages": {"type": "array", "items": _STRING},
    "rating": {"type": "string", "enum": list(RATINGS)},
    "rating_firm": _BOOLEAN,
    "value": _STRING,
    "account": _STRING,
    "clicked": _BOOLEAN,
    "start": _STRING,
    "previous_ctr": _NULLABLE_NUMBER,
    "change_abs": _NULLABLE_NUMBER,
    "change_rel": _NULLABLE_NUMBER,
    "change_reliable": {
        "type": "boolean",
        "description": "both periods have min_impressions; otherwise change_abs and change_rel are null",
    },
    "missed_clicks": {
        "type": ["number", "null"],
        "description": "clicks the problem costs at the element's traffic (0 when working, "
        "null with too little data or for clicked_not_converting)",
    },
    "missed_conversions": {
        "type": ["number", "null"],
        "description": "clicked_not_converting: conversions missing against the site's post-click rate",
    },
    "ctr": _NUMBER,
    "ctr_low": _NUMBER,
    "ctr_high": _NUMBER,
    "visitor_ctr": _NUMBER,
    "lift_rel": _NULLABLE_NUMBER,
    "control": _STRING,
    "treatment": _STRING,
    "verdict": {"type": "string", "enum": list(VERDICTS)},
    "decision": {"type": "string", "enum": list(DECISIONS)},
    "days_to_decision": {
        "type": ["number", "null"],
        "description": "with keep_running: days to a decision at the current traffic if the difference "
        "holds; null when over a year or unknown",
    },
    "inference": {"type": "string", "enum": list(INFERENCES)},
    "correction": {"type": "string", "enum": list(CORRECTIONS)},
    "metric": {
        "type": "string", "enum": list(METRICS),
        "description": "what the arms are compared on; with conversions_per_impression, an arm's clicks "
        "and ctr are the goal's conversions (credited to the element by last click) and their rate per "
        "impression",
    },
    "goal": {"type": ["string", "null"], "description": "the goal of conversions_per_impression"},
    "p_value": {"type": "number", "description": "unadjusted; always valid unless fixed_horizon"},
    "p_adjusted": {"type": "number", "description": "adjusted across every comparison of the report, on "
                   "every page of it"},
    # The other metric beside the experiment's (docs/design.md §4): for context, never the verdict.
    "secondary_metric": {
        "type": ["string", "null"], "enum": ["ctr", "conversions_per_impression", None],
        "description": "CTR under conversions_per_impression; a goal's conversions per impression under ctr "
        "when the site has a goal; null otherwise (then every secondary_* field is null)",
    },
    "secondary_goal": {"type": ["string", "null"], "description": "the goal of the secondary metric"},
    **{
        name: {"type": ["integer", "null"], "description": "the secondary metric's successes"}
        for name in ("control_secondary_count", "treatment_secondary_count")
    },
    **{
        name: {"type": ["number", "null"]}
        for name in ("control_secondary_rate", "treatment_secondary_rate", "secondary_lift_rel")
    },
    **{
        name: {"type": ["number", "null"], "description": "95% interval of the secondary difference, "
               "always valid unless fixed_horizon; not corrected for many comparisons"}
        for name in ("secondary_diff_low", "secondary_diff_high")
    },
    "secondary_p_value": {"type": ["number", "null"], "description": "unadjusted"},
    "metrics_disagree": {
        "type": ["boolean", "null"],
        "description": "the secondary interval lies wholly on the other side of zero from the primary lift",
    },
    "secondary_sentence": {"type": ["string", "null"]},
    "smallest_effect": {"type": "number", "description": "relative lift worth detecting (0.1 is 10%)"},
    "srm_warning": _BOOLEAN,
    "sentence": _STRING,
    "reason": _STRING,
    # The funnel (docs/design.md §4): the conversion fields are null when the site has no goal.
    "viewability_rate": {"type": "number", "description": "impressions / present"},
    "diagnosis": {"type": "string", "enum": list(DIAGNOSES)},
    "diagnosis_text": {"type": "string", "description": "the diagnosis as a sentence to act on"},
    **{
        name: {"type": ["number", "null"], "description": description}
        for name, description in (
            ("conversions", "conversions of the goal credited to the element (last click)"),
            ("assisted", "conversions the element assisted: clicked in the window, not last"),
            ("post_click_rate", "conversions / clicks"),
            ("post_click_low", "95% Wilson interval of post_click_rate"),
            ("post_click_high", "95% Wilson interval of post_click_rate"),
            ("conversions_per_1000", "conversions per 1,000 impressions"),
            ("conversion_value", "value of the credited conversions"),
            ("value_per_1000", "value per 1,000 impressions"),
        )
    },
}


def _row(columns: tuple[str, ...] | list[str], nullable: tuple[str, ...] = ()) -> dict[str, Any]:
    props = {}
    for c in columns:
        if c in _FIELD_TYPES:
            schema = dict(_FIELD_TYPES[c])
        elif any(word in c for word in ("ctr", "lift", "diff", "p_value", "chance", "low", "high")):
            schema = dict(_NUMBER)
        else:
            schema = dict(_INTEGER)
        if c in nullable and schema.get("type") in ("number", "string", "integer"):
            schema["type"] = [schema["type"], "null"]
        props[c] = schema
    return {"type": "object", "properties": props}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _param(name: str, where: str = "query", **schema: Any) -> dict[str, Any]:
    description = schema.pop("description", None)
    required = schema.pop("required", where == "path")
    result: dict[str, Any] = {"name": name, "in": where, "required": required, "schema": schema or _STRING}
    if description:
        result["description"] = description
    return result


SITE = _param("site", "path", type="string", description="the site key")
ELEMENT = _param(
    "element", "path", type="string", description="the element id (URL-encoded; may contain '/')"
)
PERIOD = [
    _param(
        "period",
        type="string",
        enum=list(PRESETS),
        description="a preset range ending today (default 30d); ignored when from/to are given",
    ),
    _param(
        "from", type="string", format="date", description="first day, YYYY-MM-DD, in the site's time zone"
    ),
    _param("to", type="string", format="date", description="last day, inclusive, YYYY-MM-DD"),
]
COMPARE = [
    _param(
        "compare",
        type="string",
        enum=list(COMPARES),
        description="the period every change is against: previous (default, same length just before), "
        "year (same dates a year before) or custom (compare_from/compare_to; dates alone imply it)",
    ),
    _param("compare_from", type="string", format="date", description="with compare=custom: first day"),
    _param("compare_to", type="string", format="date", description="with compare=custom: last day"),
]
_COMPARED = {
    "type": "object",
    "description": "the period compared with",
    "properties": {
        "mode": {"type": "string", "enum": list(COMPARES)},
        "from": {"type": "string", "format": "date"},
        "to": {"type": "string", "format": "date"},
        "days": _INTEGER,
        "hour_from": _INTEGER,
        "hour_to": _INTEGER,
    },
}
FILTERS = [
    _param("kind", type="string", enum=list(KINDS)),
    _param("variant", type="string", description="only this variant; '(none)' for events sent without one"),
    _param("page", type="string", description="only this page path"),
]
#: The overview's filters answered by the `segments` rollup, per UTC day (docs/design.md §4); with
#: any of them, viewers, visitor_ctr and the funnel fields are null. Then its search and pages.
SEGMENT_FILTERS = [
    _param("source", type="string", description="only this traffic source: utm_source, referring host, "
           "(direct) or (internal)"),
    _param("campaign", type="string", description="only this utm_campaign (lower-cased); '(none)' for "
           "page views without one"),
    _param("device", type="string", enum=list(DEVICES)),
]
PAGING = [
    _param("q", type="string", description="only elements whose name contains this, ignoring case"),
    _param("limit", type="integer", minimum=1, maximum=MAX_PAGE_ROWS,
           description=f"rows per page (default {PAGE_ROWS}); the answer's total_rows counts them all, "
           "and CSV has every row"),
    _param("offset", type="integer", minimum=0, description="rows skipped (default 0)"),
]
FORMAT = _param("format", type="string", enum=["json", "csv"], description="csv, or send Accept: text/csv")
GOAL = _param(
    "goal", type="string", description="the goal of the conversion fields; default: the first defined goal"
)
#: For the routes that are also a dashboard page: `html` (or Accept: text/html) gives the page.
PAGE_FORMAT = _param(
    "format",
    type="string",
    enum=list(RENDERINGS),
    description="csv or html, or send Accept: text/csv or text/html (the dashboard page)",
)
JSON_OR_HTML = _param(
    "format",
    type="string",
    enum=["json", "html"],
    description="html, or send Accept: text/html (the dashboard page)",
)


_TEXT = {"schema": {"type": "string"}}


def _table(name: str, description: str, page: bool = False) -> dict[str, Any]:
    """JSON and CSV; `page`: the dashboard page as HTML too."""
    content = {
        "application/json": {"schema": _ref(name)},
        "text/csv": _TEXT,
        **({"text/html": _TEXT} if page else {}),
    }
    return {"200": {"description": description, "content": content}, **_ERRORS}


def _json(name: str, description: str, page: bool = False) -> dict[str, Any]:
    content = {"application/json": {"schema": _ref(name)}, **({"text/html": _TEXT} if page else {})}
    return {"200": {"description": description, "content": content}, **_ERRORS}


_ERRORS = {
    "400": {"description": "invalid parameter", "content": {"application/json": {"schema": _ref("Error")}}},
    "401": {"description": "not signed in", "content": {"application/json": {"schema": _ref("Error")}}},
    "404": {
        "description": "unknown site or element",
        "content": {"application/json": {"schema": _ref("Error")}},
    },
}

# Writes, and the admin-only reads, refuse viewers (docs/design.md §4 "Access").
_ADMIN = {"403": {"description": "not an admin", "content": {"application/json": {"schema": _ref("Error")}}}}

_PERIOD_FIELDS = {
    "site": _STRING,
    "from": {"type": "string", "format": "date"},
    "to": {"type": "string", "format": "date"},
    "timezone": _STRING,
    "hour_from": _INTEGER,
    "hour_to": _INTEGER,
}


def _envelope(**fields: Any) -> dict[str, Any]:
    return {"type": "object", "properties": {**_PERIOD_FIELDS, **fields}}


def _experiment_schema() -> dict[str, Any]:
    return {
        "type": ["object", "null"],
        "description": "the site's experiment (docs/design.md §4); every field optional; null removes it",
        "additionalProperties": False,
        "properties": {
            "variants": {
                "type": "array",
                "description": "control first; shares are relative (50/50 = 0.5/0.5); empty: an equal split "
                "of every variant seen",
                "items": {"type": "object", "properties": {"name": _STRING, "share": _NUMBER}},
            },
            "start": {"type": ["string", "null"], "format": "date", "description": "null: the first event"},
            "metric": {"type": "string", "enum": list(METRICS)},
            "goal": {"type": ["string", "null"], "description": "required with conversions_per_impression"},
            "smallest_effect": {"type": "number", "description": "relative lift, default 0.1 (10%)"},
            "inference": _FIELD_TYPES["inference"],
            "correction": _FIELD_TYPES["correction"],
        },
    }


_INFERENCE_PARAMS = [
    _param(
        "inference",
        type="string",
        enum=["always_valid", "fixed_horizon", "fixed"],
        description="default: the experiment setting (always_valid)",
    ),
    _param(
        "correction",
        type="string",
        enum=list(CORRECTIONS),
        description="for the comparisons shown together; default: the experiment setting (bh)",
    ),
]
_EXPERIMENT_PERIOD = "without a period: since the experiment's start (or the first event)"


def _settings_schema() -> dict[str, Any]:
    bounds = {"type": "object", "properties": {"good": _NUMBER, "poor": _NUMBER, "custom": _BOOLEAN}}
    return {
        "type": "object",
        "properties": {
            "site": _STRING,
            "name": _STRING,
            "origins": {"type": "array", "items": _STRING},
            "timezone": _STRING,
            "min_impressions": _INTEGER,
            "thresholds": {"type": "object", "properties": {k: bounds for k in KINDS}},
            "allow_bots": _BOOLEAN,
            "experiment": _experiment_schema(),
            "attribution_window_hours": _INTEGER,
            "viewability_threshold": _NUMBER,
            **{setting: _INTEGER for setting in CAP_SETTINGS.values()},
            "retention_days": _INTEGER,
            "install_tag": _STRING,
        },
    }


def _settings_update() -> dict[str, Any]:
    bounds = {
        "type": "object",
        "properties": {"good": _NUMBER, "poor": _NUMBER},
        "description": "fractions: 4% is 0.04; good must be greater than poor",
    }
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "name": _STRING,
            "origins": {"type": "array", "items": _STRING},
            "timezone": {"type": "string", "description": "IANA name, e.g. Europe/Berlin"},
            "min_impressions": {"type": "integer", "minimum": 1},
            "thresholds": {"type": "object", "properties": {k: bounds for k in KINDS}},
            "allow_bots": _BOOLEAN,
            "experiment": _experiment_schema(),
            "attribution_window_hours": {
                "type": "integer", "minimum": 1, "maximum": 48,
                "description": "a conversion is credited to the last element clicked within it (default 24)",
            },
            "viewability_threshold": {
                "type": "number", "description": "not_seen below this share of the page views (default 0.3)"
            },
            **{
                setting: {
                    "type": "integer", "minimum": 1, "maximum": MAX_CAP,
                    "description": f"new {dimension} names admitted per UTC day; events bringing more are "
                    f"rejected as `cardinality` (default {DEFAULT_CAPS[dimension]})",
                }
                for dimension, setting in CAP_SETTINGS.items()
            },
        },
    }


_METHOD_FIELDS = (
    "decision", "days_to_decision", "p_value", "p_adjusted", "inference", "correction", "smallest_effect"
)


def _method_envelope(**fields: Any) -> dict[str, Any]:
    """The variants and compare answers: the method they used, then their own fields."""
    return _envelope(
        experiment=_experiment_schema(),
        day_from_utc={"type": "integer", "description": "first UTC epoch day read (visitor-days are UTC)"},
        day_to_utc=_INTEGER,
        metric=_FIELD_TYPES["metric"],
        goal=_FIELD_TYPES["goal"],
        **fields,
    )


def _comparison() -> dict[str, Any]:
    arm = {
        "type": "object",
        "properties": {k: _INTEGER for k in ("clicks", "impressions", "pageviews", "visitors")}
        | {"ctr": _NUMBER, "ctr_low": _NUMBER, "ctr_high": _NUMBER},
    }
    numbers = (
        "control_ctr",
        "treatment_ctr",
        "control_low",
        "control_high",
        "treatment_low",
        "treatment_high",
        "lift_abs",
        "diff_low",
        "diff_high",
        "chance_to_beat",
        "srm_p_value",
        "alpha",
    )
    return _method_envelope(
        element=_STRING,
        kind=_STRING,
        control_variant=_STRING,
        treatment_variant=_STRING,
        variants={"type": "array", "items": _STRING},
        control=arm,
        treatment=arm,
        lift_rel=_NULLABLE_NUMBER,
        srm_warning=_BOOLEAN,
        verdict=_FIELD_TYPES["verdict"],
        comparisons={"type": "integer", "description": "comparisons adjusted together"},
        **{k: _FIELD_TYPES[k] for k in _METHOD_FIELDS},
        min_impressions=_INTEGER,
        sentence=_STRING,
        secondary={
            "type": "object",
            "description": "the other metric beside the experiment's, for context: the secondary_* fields "
            "of ComparisonRow",
            "properties": {k: _FIELD_TYPES[k] for k in SECONDARY_COLUMNS},
        },
        **{n: _NUMBER for n in numbers},
    )


def document() -> dict[str, Any]:
    element_row = _row(ELEMENT_COLUMNS, nullable=("previous_ctr",))
    element_row["properties"]["sparkline"] = {
        "type": "array",
        "description": f"with include=sparkline: CTR per day (per week beyond {MAX_DAILY_SPARKLINE} days), "
        "one value per entry of `sparkline_starts` (null: no impressions)",
        "items": _NULLABLE_NUMBER,
    }
    breakdown_row = _row(BREAKDOWN_COLUMNS)
    series_row = _row(SERIES_COLUMNS, nullable=("ctr", "ctr_low", "ctr_high"))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ctrlens dashboard API",
            "version": "1",
            "description": "Element-level click-through rates, ratings, variant comparisons and account CTR. "
            "Every route needs a session cookie or `Authorization: Bearer TOKEN`. "
            "Tables answer CSV with `?format=csv` or `Accept: text/csv`; a route that is also a "
            "dashboard page answers that page with `?format=html` or `Accept: text/html`. "
            "Errors are always JSON. Dates are days "
            "in the site's time zone; CTRs are fractions (0.04 is 4%).",
        },
        "security": [{"bearer": []}, {"session": []}],
        "paths": {
            "/api/openapi.json": {
                "get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1"}}}
            },
            "/api/sites": {
                "get": {
                    "summary": "List sites (the home page)",
                    "parameters": [JSON_OR_HTML],
                    "responses": _json("Sites", "every site", page=True),
                },
                "post": {
                    "summary": "Add a site",
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("NewSite")}},
                    },
                    "responses": {
                        "201": {
                            "description": "created",
                            "content": {"application/json": {"schema": _ref("Site")}},
                        },
                        **_ERRORS,
                    },
                },
            },
            "/api/sites/{site}/elements": {
                "get": {
                    "summary": "Elements with CTR, interval, rating and change against the previous period "
                    "(the overview)",
                    "parameters": [
                        SITE,
                        *PERIOD,
                        *COMPARE,
                        *FILTERS,
                        *SEGMENT_FILTERS,
                        *PAGING,
                        _param("group", type="string", enum=list(GROUPS)),
                        _param(
                            "sort",
                            type="string",
                            enum=list(SORTS),
                            description="default: element (the HTML page: problem, the biggest "
                            "missed_clicks first, then working rows, then insufficient ones)",
                        ),
                        _param("dir", type="string", enum=["asc", "desc"]),
                        _param("include", type="string", enum=["sparkline"]),
                        GOAL,
                        PAGE_FORMAT,
                    ],
                    "responses": _table(
                        "Elements",
                        "one row per element (and variant or page with group), with its funnel for the goal",
                        page=True,
                    ),
                }
            },
            "/api/sites/{site}/elements/{element}": {
                "get": {
                    "summary": "One element: totals (impression, visitor and account CTR), breakdowns "
                    "and series (the element page)",
                    "parameters": [
                        SITE,
                        ELEMENT,
                        *PERIOD,
                        *COMPARE,
                        *FILTERS[1:],
                        _param(
                            "interval",
                            type="string",
                            enum=list(INTERVALS),
                            description=f"as for the series; hour beyond {MAX_HOURLY_DAYS} days gives day",
                        ),
                        GOAL,
                        PAGE_FORMAT,
                    ],
                    "responses": _table(
                        "ElementDetail",
                        "the element; found is false when it has no impressions "
                        "in the range (CSV: the series)",
                        page=True,
                    ),
                }
            },
            "/api/sites/{site}/elements/{element}/series": {
                "get": {
                    "summary": "CTR over time in local hours or days, with the 95% interval; "
                    "empty buckets have ctr null",
                    "parameters": [
                        SITE,
                        ELEMENT,
                        *PERIOD,
                        *FILTERS[1:],
                        _param(
                            "interval",
                            type="string",
                            enum=list(INTERVALS),
                            description="default: hour up to 2 days, else day; "
                            f"hour covers at most {MAX_HOURLY_DAYS} days",
                        ),
                        FORMAT,
                    ],
                    "responses": _table("Series", "one point per bucket"),
                }
            },
            "/api/sites/{site}/elements/{element}/breakdown": {
                "get": {
                    "summary": "One element's counts by variant, page, traffic source, utm_campaign, "
                    "device class or account",
                    "parameters": [
                        SITE,
                        ELEMENT,
                        *PERIOD,
                        *FILTERS[1:],
                        _param("by", type="string", enum=list(DIMENSIONS), required=True),
                        FORMAT,
                    ],
                    "responses": _table("Breakdown", "one row per value"),
                }
            },
            "/api/sites/{site}/variants": {
                "get": {
                    "summary": "Every element seen in two or more variants: control against each treatment. "
                    + _EXPERIMENT_PERIOD,
                    "parameters": [
                        SITE,
                        *PERIOD,
                        _param(
                            "control",
                            type="string",
                            description="default: the experiment's first variant, else the first A to Z",
                        ),
                        *_INFERENCE_PARAMS,
                        _param("limit", type="integer", minimum=1, maximum=MAX_PAGE_ROWS,
                               description="comparisons per page (default 25), busiest first; every "
                               "p-value is adjusted across all of them, and CSV has every row"),
                        _param("offset", type="integer", minimum=0, description="comparisons skipped"),
                        PAGE_FORMAT,
                    ],
                    "responses": _table("Variants", "one comparison per element and treatment", page=True),
                }
            },
            "/api/sites/{site}/compare": {
                "get": {
                    "summary": "Compare two variants of one element: lift, interval of the difference, "
                    "p-value (always valid by default) and adjusted p-value, chance to beat, SRM, verdict, "
                    "decision. " + _EXPERIMENT_PERIOD,
                    "parameters": [
                        SITE,
                        _param("element", type="string", required=True),
                        _param("control", type="string"),
                        _param("treatment", type="string"),
                        *PERIOD,
                        *_INFERENCE_PARAMS,
                        FORMAT,
                    ],
                    "responses": _table("Comparison", "the comparison (CSV: one flat row)"),
                }
            },
            "/api/sites/{site}/accounts": {
                "get": {
                    "summary": "Account CTR (accounts clicked / accounts viewed) and per-account counts",
                    "parameters": [
                        SITE,
                        _param("element", type="string"),
                        _param("variant", type="string"),
                        *PERIOD,
                        GOAL,
                        PAGE_FORMAT,
                    ],
                    "responses": _table(
                        "Accounts", "accounts and per-element account CTR (CSV: the accounts)", page=True
                    ),
                }
            },
            "/api/sites/{site}/settings": {
                "get": {
                    "summary": "The site's settings and install tag",
                    "parameters": [SITE, JSON_OR_HTML],
                    "responses": _json("Settings", "settings", page=True),
                },
                "put": {
                    "summary": "Change settings (any subset of the fields)",
                    "parameters": [SITE],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("SettingsUpdate")}},
                    },
                    "responses": _json("Settings", "the settings after the change"),
                },
            },
            "/api/sites/{site}/alerts": {
                "get": {
                    "summary": "Where the site's alerts go (admins only: a webhook URL is a secret)",
                    "parameters": [SITE, JSON_OR_HTML],
                    "responses": _json("AlertSettings", "the alert settings", page=True),
                },
                "put": {
                    "summary": "Change the alert settings (any subset of the fields)",
                    "parameters": [SITE],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("AlertSettingsUpdate")}},
                    },
                    "responses": _json("AlertSettings", "the alert settings after the change"),
                },
            },
            "/api/sites/{site}/alerts/test": {
                "post": {
                    "summary": "Send a test alert to each of the site's channels now",
                    "parameters": [SITE],
                    "responses": {
                        **_json("AlertTest", "sent on every channel"),
                        "502": {
                            "description": "a channel did not take it (the error says which and why)",
                            "content": {"application/json": {"schema": _ref("Error")}},
                        },
                    },
                }
            },
            "/api/sites/{site}/goals": {
                "get": {
                    "summary": "The site's goals: defined ones and those only seen in conversions",
                    "parameters": [SITE, PAGE_FORMAT],
                    "responses": _table("Goals", "every goal, by name", page=True),
                },
                "post": {
                    "summary": "Define (or redefine) a goal: a page-path pattern and a default value",
                    "parameters": [SITE],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("NewGoal")}},
                    },
                    "responses": {
                        "201": {
                            "description": "defined",
                            "content": {"application/json": {"schema": _ref("Goal")}},
                        },
                        **_ERRORS,
                    },
                },
            },
            "/api/sites/{site}": {
                "delete": {
                    "summary": "Remove a site and all its data, in one transaction (admins only)",
                    "parameters": [SITE],
                    "responses": {**_json("RemovedSite", "removed: the rows deleted per table"), **_ADMIN},
                }
            },
            "/api/sites/{site}/share-links": {
                "get": {
                    "summary": "The site's share links (admins only; their tokens are never shown again)",
                    "parameters": [SITE],
                    "responses": {**_json("ShareLinks", "every share link of the site"), **_ADMIN},
                },
                "post": {
                    "summary": "Create a read-only share link of the site's dashboard (admins only)",
                    "parameters": [SITE],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("NewShareLink")}},
                    },
                    "responses": {
                        "201": {
                            "description": "created; `url` is shown this once",
                            "content": {"application/json": {"schema": _ref("ShareLink")}},
                        },
                        **_ERRORS,
                        **_ADMIN,
                    },
                },
            },
            "/api/sites/{site}/share-links/{id}": {
                "delete": {
                    "summary": "Revoke a share link: it answers 404 from then on (admins only)",
                    "parameters": [SITE, _param("id", "path", type="string")],
                    "responses": {**_json("RevokedShareLink", "revoked"), **_ADMIN},
                }
            },
            "/api/sites/{site}/goals/{goal}": {
                "delete": {
                    "summary": "Forget a goal's definition (its conversions stay counted)",
                    "parameters": [SITE, _param("goal", "path", type="string")],
                    "responses": _json("DeletedGoal", "deleted"),
                }
            },
            "/api/sites/{site}/annotations": {
                "get": {
                    "summary": "The site's annotations, newest first (every chart of the site marks them)",
                    "parameters": [SITE, PAGE_FORMAT],
                    "responses": _table("Annotations", "the newest 1,000 annotations", page=True),
                },
                "post": {
                    "summary": "Add an annotation (a deploy hook: one request with a bearer token)",
                    "parameters": [SITE],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("NewAnnotation")}},
                    },
                    "responses": {
                        "201": {
                            "description": "added",
                            "content": {"application/json": {"schema": _ref("Annotation")}},
                        },
                        **_ERRORS,
                    },
                },
            },
            "/api/sites/{site}/annotations/{id}": {
                "delete": {
                    "summary": "Delete an annotation",
                    "parameters": [SITE, _param("id", "path", type="integer")],
                    "responses": _json("DeletedAnnotation", "deleted"),
                }
            },
            "/api/sites/{site}/live": {
                "get": {
                    "summary": "Events received in the last minutes: is the tag installed?",
                    "parameters": [SITE],
                    "responses": _json("Live", "recent events"),
                }
            },
            "/api/sites/{site}/rejections": {
                "get": {
                    "summary": "Rejected and dropped events counted by reason, and recent samples",
                    "parameters": [SITE, FORMAT],
                    "responses": _table("Rejections", "counts by reason (CSV: reason, count)"),
                }
            },
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "the admin token"},
                "session": {"type": "apiKey", "in": "cookie", "name": "ctrlens_session"},
            },
            "schemas": {
                "Error": {"type": "object", "properties": {"error": _STRING}, "required": ["error"]},
                "Site": {
                    "type": "object",
                    "properties": {
                        "key": _STRING,
                        "name": _STRING,
                        "origins": {"type": "array", "items": _STRING},
                        "settings": {"type": "object"},
                    },
                },
                "NewSite": {
                    "type": "object",
                    "required": ["key", "origins"],
                    "properties": {
                        "key": _STRING,
                        "name": _STRING,
                        "origins": {"type": "array", "items": _STRING},
                        "settings": {"type": "object"},
                    },
                },
                "Sites": {
                    "type": "object",
                    "properties": {"sites": {"type": "array", "items": _ref("Site")}},
                },
                "ElementRow": element_row,
                "Elements": _envelope(
                    sparkline_interval={
                        "type": "string",
                        "enum": ["day", "week"],
                        "description": "with include=sparkline",
                    },
                    sparkline_starts={
                        "type": "array",
                        "items": {"type": "string", "format": "date"},
                        "description": "with include=sparkline: first day of each point",
                    },
                    group=_STRING,
                    goal={"type": ["string", "null"], "description": "the goal of the conversion fields"},
                    goals={"type": "array", "items": _STRING},
                    variants={"type": "array", "items": _STRING},
                    pages={"type": "array", "items": _STRING},
                    totals={"type": "object"},
                    compare=_COMPARED,
                    headline={
                        "type": "object",
                        "description": "impressions, clicks, ctr (with low/high) and conversions (null "
                        "without a goal), each {value, previous, change_rel}; ctr adds change_abs and "
                        "change_reliable (its change is null unless both periods have min_impressions)",
                    },
                    elements={"type": "array", "items": _ref("ElementRow"), "description": "one page"},
                    total_rows={"type": "integer", "description": "rows on every page, after filters and q"},
                    limit={"type": "integer"},
                    offset={"type": "integer"},
                ),
                "BreakdownRow": breakdown_row,
                "Breakdown": _envelope(
                    element=_STRING, by=_STRING, rows={"type": "array", "items": _ref("BreakdownRow")}
                ),
                "SeriesPoint": series_row,
                "Series": _envelope(
                    element=_STRING,
                    interval=_STRING,
                    series={"type": "array", "items": _ref("SeriesPoint")},
                    annotations={"type": "array", "items": _ref("Annotation"), "description": "in range"},
                ),
                "ElementDetail": _envelope(
                    element=_STRING,
                    compare={
                        **_COMPARED,
                        "description": "the period compared with, the element's impressions and clicks "
                        "then, previous_ctr, change_abs, change_rel and change_reliable",
                    },
                    found=_BOOLEAN,
                    kind=_STRING,
                    variants={"type": "array", "items": _STRING},
                    pages={"type": "array", "items": _STRING},
                    summary={"type": ["object", "null"]},
                    breakdowns={
                        "type": "object",
                        "additionalProperties": {"type": "array", "items": _ref("BreakdownRow")},
                    },
                    interval=_STRING,
                    series={"type": "array", "items": _ref("SeriesPoint")},
                    goal={"type": ["string", "null"]},
                    funnel={
                        "type": "array",
                        "description": "present -> seen -> clicked -> converted per variant, for the goal",
                        "items": {
                            "type": "object",
                            "properties": {
                                "variant": _STRING,
                                "present": _INTEGER,
                                "impressions": _INTEGER,
                                "clicks": _INTEGER,
                                "conversions": {"type": ["integer", "null"]},
                                "steps": {"type": "array", "items": {"type": "object"}},
                            },
                        },
                    },
                    annotations={
                        "type": "array",
                        "items": _ref("Annotation"),
                        "description": "the site's annotations in the period, oldest first (their numbers)",
                    },
                ),
                "ComparisonRow": _row(COMPARISON_COLUMNS),
                "Variants": _method_envelope(
                    inference=_FIELD_TYPES["inference"],
                    correction=_FIELD_TYPES["correction"],
                    smallest_effect=_FIELD_TYPES["smallest_effect"],
                    comparisons={"type": "array", "items": _ref("ComparisonRow"), "description": "one page"},
                    total_rows={"type": "integer", "description": "comparisons on every page"},
                    limit={"type": "integer"},
                    offset={"type": "integer"},
                ),
                "Comparison": _comparison(),
                "AccountRow": _row((*ACCOUNT_COLUMNS, "conversions", "conversion_value")),
                "ElementAccounts": _row(ELEMENT_ACCOUNT_COLUMNS),
                "Accounts": _envelope(
                    element={"type": ["string", "null"]},
                    goal={"type": ["string", "null"], "description": "the goal of the conversion fields"},
                    accounts_viewed=_INTEGER,
                    accounts_clicked=_INTEGER,
                    accounts_converted={
                        "type": ["integer", "null"],
                        "description": "accounts that saw an element and converted (credited to element)",
                    },
                    account_ctr=_NUMBER,
                    account_ctr_low=_NUMBER,
                    account_ctr_high=_NUMBER,
                    accounts={"type": "array", "items": _ref("AccountRow")},
                    elements={"type": "array", "items": _ref("ElementAccounts")},
                ),
                "AlertSettings": {
                    "type": "object",
                    "properties": {
                        "site": _STRING,
                        "webhook": {"type": ["string", "null"], "description": "Slack-compatible JSON POST"},
                        "emails": {"type": "array", "items": _STRING},
                        "silence_hours": _INTEGER,
                        "smtp_configured": {"type": "boolean", "description": "false: no e-mail is sent"},
                    },
                },
                "AlertSettingsUpdate": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "webhook": {"type": ["string", "null"], "maxLength": 2048,
                                    "description": "an http(s) URL; empty or null for none"},
                        "emails": {"type": "array", "maxItems": 10, "items": _STRING},
                        "silence_hours": {"type": "integer", "minimum": 1, "maximum": 168},
                    },
                },
                "AlertTest": {
                    "type": "object",
                    "properties": {
                        "site": _STRING,
                        "results": {"type": "object", "additionalProperties": _STRING,
                                    "description": "per channel (webhook, email): sent"},
                    },
                },
                "Goal": {
                    "type": "object",
                    "properties": {
                        "name": _STRING,
                        "path": {"type": ["string", "null"], "description": "page-path pattern, '*' for any"},
                        "value": _NULLABLE_NUMBER,
                        "defined": {"type": "boolean", "description": "false: only seen in conversions"},
                    },
                },
                "NewGoal": {
                    "type": "object",
                    "required": ["name"],
                    "additionalProperties": False,
                    "properties": {
                        "name": _STRING,
                        "path": {"type": "string", "description": "e.g. /thank-you* ('*': any characters)"},
                        "value": {"type": "number", "minimum": 0, "description": "default conversion value"},
                    },
                },
                "Goals": {
                    "type": "object",
                    "properties": {"site": _STRING, "goals": {"type": "array", "items": _ref("Goal")}},
                },
                "DeletedGoal": {"type": "object", "properties": {"site": _STRING, "deleted": _STRING}},
                "RemovedSite": {
                    "type": "object",
                    "properties": {
                        "removed": _STRING,
                        "rows": {"type": "object", "additionalProperties": _INTEGER},
                    },
                },
                "NewShareLink": {
                    "type": "object",
                    "required": ["days"],
                    "properties": {
                        "days": {"type": "integer", "minimum": 1, "maximum": 365},
                        "label": {"type": "string", "maxLength": 64},
                        "password": {"type": "string", "minLength": 8},
                    },
                },
                "ShareLink": {
                    "type": "object",
                    "properties": {
                        "id": _STRING,
                        "label": _STRING,
                        "password": {"type": "boolean"},
                        "expires": {"type": "string", "format": "date-time"},
                        "expired": {"type": "boolean"},
                        "created": {"type": "string", "format": "date-time"},
                        "url": {"type": "string", "description": "only in the answer to POST"},
                    },
                },
                "ShareLinks": {
                    "type": "object",
                    "properties": {
                        "site": _STRING,
                        "share_links": {"type": "array", "items": _ref("ShareLink")},
                    },
                },
                "RevokedShareLink": {"type": "object", "properties": {"site": _STRING, "revoked": _STRING}},
                "Annotation": {
                    "type": "object",
                    "properties": {
                        "id": _INTEGER,
                        "at": {"type": "string", "description": "UTC timestamp, or a date for a whole day"},
                        "all_day": {"type": "boolean"},
                        "text": _STRING,
                        "url": {"type": ["string", "null"]},
                        "created": {"type": "string", "format": "date-time"},
                    },
                },
                "NewAnnotation": {
                    "type": "object",
                    "required": ["text"],
                    "properties": {
                        "text": {"type": "string", "minLength": 1, "maxLength": 200},
                        "at": {
                            "type": "string",
                            "description": "2026-11-29T14:00:00Z (any UTC offset) or 2026-11-29 "
                            "(a whole day in the site's time zone); default: now",
                        },
                        "url": {"type": "string", "format": "uri", "maxLength": 2048},
                    },
                },
                "Annotations": {
                    "type": "object",
                    "properties": {
                        "site": _STRING,
                        "annotations": {"type": "array", "items": _ref("Annotation")},
                    },
                },
                "DeletedAnnotation": {"type": "object", "properties": {"site": _STRING, "deleted": _INTEGER}},
                "Settings": _settings_schema(),
                "SettingsUpdate": _settings_update(),
                "Live": {
                    "type": "object",
                    "properties": {
                        "site": _STRING,
                        "minutes": _INTEGER,
                        "events": _INTEGER,
                        "last_active_hour": {"type": ["string", "null"]},
                    },
                },
                "Rejections": {
                    "type": "object",
                    "properties": {
                        "site": _STRING,
                        "rejections": {"type": "object", "additionalProperties": _INTEGER},
                        "reasons": {
                            "type": "array",
                            "items": {"type": "object", "properties": {"reason": _STRING, "count": _INTEGER}},
                        },
                        "samples": {"type": "array", "items": {"type": "object"}},
                    },
                },
            },
        },
    }


@page()
async def openapi(request: Request, rendering: Rendering) -> Answer:
    return Answer(document())
