"""The dashboard's JSON API (DESIGN §4). Every route requires login."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from collector.errors import InvalidRequest, NotFound
from collector.events import KINDS
from collector.sites import validate_origins, validate_site_key
from collector.storage import Site
from dashboard.auth import login_required
from dashboard.export import table_response
from dashboard.periods import parse_period
from dashboard.reports import GROUPS, element_report



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


@login_required
async def elements(request: Request) -> Response:
    site = await load_site(request)
    period = parse_period(dict(request.query_params), site.settings.get("timezone", "UTC"))
    group = query_choice(request, "group", GROUPS, "none")
    kind = query_choice(request, "kind", KINDS, None)
    rows = await element_report(
        request.app.state.storage, site, period, group or "none", kind=kind,
        variant=request.query_params.get("variant") or None,
        page=request.query_params.get("page") or None,
    )
    payload: dict[str, Any] = {
        "site": site.key,
        "from": period.start.isoformat(),
        "to": period.end.isoformat(),
        "elements": rows,
    }
    return table_response(request, payload, "elements", f"{site.key}-elements")


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
    return JSONResponse({"site": site.key, "rejections": counts, "samples": samples})


def site_json(site: Site) -> dict[str, Any]:
    return {"key": site.key, "name": site.name, "origins": list(site.origins), "settings": site.settings}


routes = [
    Route("/api/sites", sites, methods=["GET", "POST"]),
    Route("/api/sites/{site}/elements", elements),
    Route("/api/sites/{site}/rejections", rejections),
]
