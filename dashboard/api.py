"""The dashboard's JSON API (DESIGN §4): one JSON twin per page, CSV for every table.

Every route requires login. Routes parse the query, call a report function (storage counts +
statistics) and answer with `table_response`, so `?format=csv` or `Accept: text/csv` turns
the route's table into CSV. `/api/openapi.json` describes them all (dashboard/openapi.py).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ctrlens.collector.errors import InvalidRequest, NotFound
from ctrlens.collector.events import KINDS
from ctrlens.collector.sites import validate_origins, validate_site_key
from ctrlens.collector.storage import Site
from ctrlens.dashboard.accounts import ACCOUNT_COLUMNS, account_report
from ctrlens.dashboard.auth import login_required
from ctrlens.dashboard.breakdowns import (
    BREAKDOWN_COLUMNS,
    DIMENSIONS,
    breakdown,
    element_detail,
)
from ctrlens.dashboard.experiments import (
    COMPARISON_COLUMNS,
    NO_VARIANT,
    comparison,
    variant_report,
)
from ctrlens.dashboard.export import table_response, wants_csv
from ctrlens.dashboard.periods import Period, parse_period, zone
from ctrlens.dashboard.reports import (
    DEFAULT_SORT,
    ELEMENT_COLUMNS,
    GROUPS,
    SORTS,
    Filters,
    overview,
    period_json,
)
from ctrlens.dashboard.series import INTERVALS, SERIES_COLUMNS, default_interval, element_series
from ctrlens.dashboard.site_settings import apply_changes, settings_json

LIVE_MINUTES = 5


async def load_site(request: Request) -> Site:
    site = await request.app.state.storage.get_site(request.path_params["site"])
    if site is None:
        raise NotFound(f"unknown site {request.path_params['site']!r}")
    return site


def query_choice(request: Request, name: str, choices: tuple[str, ...], default: str | None) -> str | None:
    value = request.query_params.get(name) or default
    if value is not None and value not in choices:
        raise InvalidRequest(f"{name} must be one of {', '.join(choices)}")
    return value


def site_period(request: Request, site: Site) -> Period:
    return parse_period(dict(request.query_params), site.settings.get("timezone", "UTC"))


def query_filters(request: Request) -> Filters:
    q = request.query_params
    return Filters(
        kind=query_choice(request, "kind", KINDS, None),
        variant=variant_filter(q.get("variant")),
        page=q.get("page") or None,
    )


def variant_filter(value: str | None) -> str | None:
    """Empty means every variant; `(none)` picks the events sent without a variant."""
    if not value:
        return None
    return "" if value == NO_VARIANT else value


def query_sort(request: Request) -> tuple[str, str]:
    sort = query_choice(request, "sort", SORTS, DEFAULT_SORT[0]) or DEFAULT_SORT[0]
    direction = query_choice(request, "dir", ("asc", "desc"), None)
    if direction is None:
        direction = "asc" if sort in ("element", "kind", "variant", "page") else "desc"
    return sort, direction


def iso_hour(hour: int | None) -> str | None:
    return datetime.fromtimestamp(hour, UTC).isoformat() if hour is not None else None


# -- elements (the overview) ------------------------------------------------------------------


@login_required
async def elements(request: Request) -> Response:
    site = await load_site(request)
    period = site_period(request, site)
    group = query_choice(request, "group", GROUPS, "none") or "none"
    filters = query_filters(request)
    sort = query_sort(request) if "sort" in request.query_params else ("element", "asc")
    sparklines = request.query_params.get("include") == "sparkline"
    result = await overview(request.app.state.storage, site, period, group, filters, sort, sparklines)
    payload: dict[str, Any] = {
        "site": site.key,
        **period_json(period),
        **({"sparkline_interval": result.sparkline_interval,
            "sparkline_starts": [d.isoformat() for d in result.sparkline_starts]} if sparklines else {}),
        "group": group,
        "variants": result.variants,
        "pages": result.pages,
        "totals": result.totals,
        "elements": result.rows,
    }
    columns = [c for c in ELEMENT_COLUMNS if c not in ("variant", "page") or c == group]
    return table_response(request, payload, "elements", f"{site.key}-elements", columns)


def _element(request: Request) -> str:
    element = request.path_params["element"]
    if not element:
        raise NotFound("element missing from the path")
    return element


@login_required
async def element(request: Request) -> Response:
    site = await load_site(request)
    period = site_period(request, site)
    name = _element(request)
    filters = query_filters(request)
    storage = request.app.state.storage
    detail = await element_detail(storage, site, period, name, filters.variant, filters.page)
    interval = query_choice(request, "interval", INTERVALS, default_interval(period)) or "day"
    series = await element_series(storage, site.key, name, period, interval, filters.variant, filters.page)
    return JSONResponse({
        "site": site.key,
        **period_json(period),
        "element": name,
        "found": detail is not None,
        **(detail or {"summary": None, "breakdowns": {}}),
        "interval": interval,
        "series": series,
    })


@login_required
async def series(request: Request) -> Response:
    site = await load_site(request)
    period = site_period(request, site)
    name = _element(request)
    filters = query_filters(request)
    interval = query_choice(request, "interval", INTERVALS, default_interval(period)) or "day"
    points = await element_series(
        request.app.state.storage, site.key, name, period, interval, filters.variant, filters.page
    )
    payload = {"site": site.key, **period_json(period), "element": name, "interval": interval, "series": points}
    return table_response(request, payload, "series", f"{site.key}-{interval}-series", SERIES_COLUMNS)


@login_required
async def element_breakdown(request: Request) -> Response:
    site = await load_site(request)
    period = site_period(request, site)
    name = _element(request)
    by = query_choice(request, "by", DIMENSIONS, None)
    if by is None:
        raise InvalidRequest(f"by is required: one of {', '.join(DIMENSIONS)}")
    filters = query_filters(request)
    storage = request.app.state.storage
    detail = await element_detail(storage, site, period, name, filters.variant, filters.page)
    kind = detail["kind"] if detail else "banner"
    rows = await breakdown(storage, site, period, name, by, kind, filters.variant, filters.page)
    payload = {"site": site.key, **period_json(period), "element": name, "by": by, "rows": rows}
    return table_response(request, payload, "rows", f"{site.key}-by-{by}", BREAKDOWN_COLUMNS)


# -- variants ---------------------------------------------------------------------------------


@login_required
async def variants(request: Request) -> Response:
    site = await load_site(request)
    period = site_period(request, site)
    control = variant_filter(request.query_params.get("control"))
    rows = await variant_report(request.app.state.storage, site, period, control)
    payload = {"site": site.key, **period_json(period), "comparisons": rows}
    return table_response(request, payload, "comparisons", f"{site.key}-variants", COMPARISON_COLUMNS)


@login_required
async def compare(request: Request) -> Response:
    site = await load_site(request)
    period = site_period(request, site)
    q = request.query_params
    element_name = q.get("element")
    if not element_name:
        raise InvalidRequest("element is required")
    result, row = await comparison(
        request.app.state.storage, site, period, element_name,
        variant_filter(q.get("control")), variant_filter(q.get("treatment")),
    )
    payload = {"site": site.key, **period_json(period), **result}
    if wants_csv(request):
        payload = {"rows": [row]}
    return table_response(request, payload, "rows", f"{site.key}-compare", COMPARISON_COLUMNS)


# -- accounts ---------------------------------------------------------------------------------


@login_required
async def accounts(request: Request) -> Response:
    site = await load_site(request)
    period = site_period(request, site)
    q = request.query_params
    report = await account_report(
        request.app.state.storage, site, period, q.get("element") or None, variant_filter(q.get("variant"))
    )
    payload = {"site": site.key, **period_json(period), "element": q.get("element") or None, **report}
    return table_response(request, payload, "accounts", f"{site.key}-accounts", ACCOUNT_COLUMNS)


# -- settings, liveness, rejections -------------------------------------------------------------


def collector_url(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


@login_required
async def site_settings(request: Request) -> Response:
    site = await load_site(request)
    storage = request.app.state.storage
    if request.method == "PUT":
        try:
            body = await request.json()
        except ValueError:
            raise InvalidRequest("body must be JSON") from None
        name, origins, settings = apply_changes(site, body)
        site = await storage.update_site(site.key, name=name, origins=origins, settings=settings)
        request.app.state.collector.forget_site(site.key)
    retention = request.app.state.config.retention_days
    return JSONResponse(settings_json(site, retention, collector_url(request)))


async def live_status(storage: Any, site: Site) -> dict[str, Any]:
    since = int((time.time() - LIVE_MINUTES * 60) * 1000)
    hour = await storage.last_active_hour(site.key)
    tz = zone(site.settings.get("timezone"))
    return {
        "site": site.key,
        "minutes": LIVE_MINUTES,
        "events": await storage.recent_event_count(site.key, since),
        "last_active_hour": iso_hour(hour),
        "last_active_local": (
            datetime.fromtimestamp(hour, ZoneInfo(tz)).strftime(f"%-d %b %Y %H:%M {tz}") if hour is not None else None
        ),
    }


@login_required
async def live(request: Request) -> Response:
    site = await load_site(request)
    return JSONResponse(await live_status(request.app.state.storage, site))


@login_required
async def sites(request: Request) -> Response:
    storage = request.app.state.storage
    if request.method == "POST":
        try:
            body = await request.json()
        except ValueError:
            raise InvalidRequest("body must be JSON") from None
        if not isinstance(body, dict):
            raise InvalidRequest("body must be a JSON object")
        key = validate_site_key(str(body.get("key", "")))
        if await storage.get_site(key):
            raise InvalidRequest(f"site {key!r} exists already")
        origins = validate_origins(list(body.get("origins") or []))
        settings = body.get("settings") or {}
        if not isinstance(settings, dict):
            raise InvalidRequest("settings must be an object")
        site = await storage.add_site(key, str(body.get("name") or key)[:128], origins, settings)
        return JSONResponse(site_json(site), status_code=201)
    return JSONResponse({"sites": [site_json(s) for s in await storage.list_sites()]})


@login_required
async def rejections(request: Request) -> Response:
    site = await load_site(request)
    storage = request.app.state.storage
    counts = await storage.rejection_counts(site.key)
    samples = await storage.rejected_samples(site.key)
    payload = {
        "site": site.key,
        "rejections": counts,
        "reasons": [{"reason": reason, "count": n} for reason, n in counts.items()],
        "samples": samples,
    }
    return table_response(request, payload, "reasons", f"{site.key}-rejections", ("reason", "count"))


@login_required
async def openapi(request: Request) -> Response:
    from ctrlens.dashboard.openapi import document

    return JSONResponse(document())


def site_json(site: Site) -> dict[str, Any]:
    return {"key": site.key, "name": site.name, "origins": list(site.origins), "settings": site.settings}


# Element ids may hold "/", so they are `path` parameters; the longer routes come first.
routes = [
    Route("/api/openapi.json", openapi),
    Route("/api/sites", sites, methods=["GET", "POST"]),
    Route("/api/sites/{site}/elements", elements),
    Route("/api/sites/{site}/elements/{element:path}/series", series),
    Route("/api/sites/{site}/elements/{element:path}/breakdown", element_breakdown),
    Route("/api/sites/{site}/elements/{element:path}", element),
    Route("/api/sites/{site}/variants", variants),
    Route("/api/sites/{site}/compare", compare),
    Route("/api/sites/{site}/accounts", accounts),
    Route("/api/sites/{site}/settings", site_settings, methods=["GET", "PUT"]),
    Route("/api/sites/{site}/live", live),
    Route("/api/sites/{site}/rejections", rejections),
]
