"""Every site (`/`, `/api/sites`), and adding one (`POST /api/sites`)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request

from ctrlens.collector.errors import InvalidRequest
from ctrlens.collector.sites import validate_origins, validate_site_key
from ctrlens.collector.storage import Site
from ctrlens.dashboard.negotiation import Rendering
from ctrlens.dashboard.pages import Answer, page

MAX_NAME = 128


def site_json(site: Site) -> dict[str, Any]:
    return {"key": site.key, "name": site.name, "origins": list(site.origins), "settings": site.settings}


@page("sites.html")
async def sites(request: Request, rendering: Rendering) -> Answer:
    storage = request.app.state.storage
    if request.method == "POST":
        return Answer(site_json(await _add(request)), status=201)
    every = await storage.list_sites()
    answer = Answer({"sites": [site_json(s) for s in every]})
    if rendering == "html" and len(every) == 1:
        # One site: its dashboard is the home page.
        answer.redirect = f"/sites/{quote(every[0].key, safe='')}"
    return answer


async def _add(request: Request) -> Site:
    try:
        body = await request.json()
    except ValueError:
        raise InvalidRequest("body must be JSON") from None
    if not isinstance(body, dict):
        raise InvalidRequest("body must be a JSON object")
    storage = request.app.state.storage
    key = validate_site_key(str(body.get("key", "")))
    if await storage.get_site(key):
        raise InvalidRequest(f"site {key!r} exists already")
    origins = validate_origins(list(body.get("origins") or []))
    settings = body.get("settings") or {}
    if not isinstance(settings, dict):
        raise InvalidRequest("settings must be an object")
    site: Site = await storage.add_site(key, str(body.get("name") or key)[:MAX_NAME], origins, settings)
    return site
