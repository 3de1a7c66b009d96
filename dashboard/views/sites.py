"""Every site (`/`, `/api/sites`), adding one (`POST /api/sites`, or the form on `/`), and
removing one with all its data (`DELETE /api/sites/{site}`, or the settings page's form with
the site key typed as confirmation)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request

from ctrlens.collector.errors import InvalidRequest, NotFound
from ctrlens.collector.sites import validate_origins, validate_site_key
from ctrlens.collector.storage import Site
from ctrlens.dashboard import query
from ctrlens.dashboard.auth import check_csrf
from ctrlens.dashboard.negotiation import Rendering
from ctrlens.dashboard.pages import Answer, page

MAX_NAME = 128
MAX_ORIGINS = 50


def site_json(site: Site) -> dict[str, Any]:
    return {"key": site.key, "name": site.name, "origins": list(site.origins), "settings": site.settings}


@page("sites.html")
async def sites(request: Request, rendering: Rendering) -> Answer:
    storage = request.app.state.storage
    error: str | None = None
    form: dict[str, str] | None = None
    if request.method == "POST" and rendering == "html":
        form = await check_csrf(request)
        fields = {"key": form.get("key", ""), "name": form.get("name", ""),
                  "origins": form.get("origins", "").split()}
        try:
            site = await _add(request, fields)
        except InvalidRequest as exc:
            error = exc.message  # the form comes back with what was typed and what is wrong
        else:
            answer = Answer(site_json(site), status=201)
            answer.redirect = f"/sites/{quote(site.key, safe='')}/settings#install"
            return answer
    elif request.method == "POST":
        return Answer(site_json(await _add(request, await _json_object(request))), status=201)
    every = await storage.list_sites()
    answer = Answer({"sites": [site_json(s) for s in every]}, status=400 if error else 200)
    answer.context = {"error": error, "form": form}
    listing = "all" in request.query_params or request.method != "GET"
    if rendering == "html" and len(every) == 1 and not listing:
        # One site: its dashboard is the home page (`/?all` lists it, with the form to add another).
        answer.redirect = f"/sites/{quote(every[0].key, safe='')}"
    return answer


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise InvalidRequest("body must be JSON") from None
    if not isinstance(body, dict):
        raise InvalidRequest("body must be a JSON object")
    return body


async def _add(request: Request, body: dict[str, Any]) -> Site:
    storage = request.app.state.storage
    key = validate_site_key(str(body.get("key", "")))
    if await storage.get_site(key):
        raise InvalidRequest(f"site {key!r} exists already")
    listed = body.get("origins") or []
    if not isinstance(listed, list) or len(listed) > MAX_ORIGINS:
        raise InvalidRequest(f"origins must be a list of at most {MAX_ORIGINS} origins")
    origins = validate_origins([str(o) for o in listed])
    settings = body.get("settings") or {}
    if not isinstance(settings, dict):
        raise InvalidRequest("settings must be an object")
    site: Site = await storage.add_site(key, str(body.get("name") or key)[:MAX_NAME], origins, settings)
    return site


@page()
async def site(request: Request, rendering: Rendering) -> Answer:
    """DELETE removes the site and all its data, in one transaction."""
    found = await query.load_site(request)
    return Answer(await _remove(request, found.key))


@page("sites.html")
async def remove(request: Request, rendering: Rendering) -> Answer:
    """The settings page's form: the site key typed again confirms (nothing is kept)."""
    found = await query.load_site(request)
    form = await check_csrf(request)
    if form.get("confirm", "").strip() != found.key:
        raise InvalidRequest(f"type the site key {found.key!r} to confirm; nothing was removed")
    answer = Answer(await _remove(request, found.key))
    answer.redirect = "/"
    return answer


async def _remove(request: Request, key: str) -> dict[str, Any]:
    rows = await request.app.state.storage.remove_site(key)
    if rows is None:
        raise NotFound(f"unknown site {key!r}")
    # This process's cache of the site goes too: its events are refused from now on.
    request.app.state.collector.forget_site(key)
    return {"removed": key, "rows": {table: n for table, n in rows.items() if n}}
