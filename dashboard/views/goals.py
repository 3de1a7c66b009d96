"""A site's goals (`/sites/{site}/goals` with its forms, `GET/POST /api/sites/{site}/goals`,
`DELETE /api/sites/{site}/goals/{goal}`): docs/design.md §3 "Goals".

A goal needs no definition to be counted; defining one adds a page-path pattern (the server
matches it against reported page views) and a default value.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import quote

from starlette.requests import Request

from ctrlens.collector.errors import InvalidRequest, NotFound
from ctrlens.collector.events import MAX_NAME, MAX_VALUE
from ctrlens.collector.storage.goals import Goal
from ctrlens.dashboard import query
from ctrlens.dashboard.auth import check_csrf
from ctrlens.dashboard.negotiation import Rendering
from ctrlens.dashboard.pages import Answer, Table, page, site_chrome

GOAL_COLUMNS = ("name", "path", "value", "defined")
MAX_PATH = 512


def goal_json(goal: Goal) -> dict[str, Any]:
    return {"name": goal.name, "path": goal.path or None, "value": goal.value, "defined": goal.defined}


def parse_goal(body: Any) -> tuple[str, str, float | None]:
    """(name, path pattern, default value) from a JSON body or a form; a readable 400 otherwise."""
    if not isinstance(body, dict):
        raise InvalidRequest("body must be a JSON object with name, and optionally path and value")
    name = str(body.get("name") or "").strip()
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise InvalidRequest(f"name must be 1 to {MAX_NAME} printable characters")
    path = str(body.get("path") or "").strip()
    if path and (not path.startswith("/") or len(path) > MAX_PATH or not path.isprintable() or " " in path):
        raise InvalidRequest(
            f"path must be a page path starting with '/' ('*' for any characters), at most {MAX_PATH} long"
        )
    value = body.get("value")
    if value in (None, ""):
        return name, path, None
    try:
        amount = float(value)
    except (TypeError, ValueError):
        raise InvalidRequest("value must be a number") from None
    if isinstance(value, bool) or not math.isfinite(amount) or not 0 <= amount <= MAX_VALUE:
        raise InvalidRequest(f"value must be a number from 0 to {MAX_VALUE:,.0f}")
    return name, path, amount


@page("goals.html", table=True)
async def goals(request: Request, rendering: Rendering) -> Answer:
    site = await query.load_site(request)
    storage = request.app.state.storage
    error, status = None, 200
    if request.method == "POST" and rendering == "html":
        form = await check_csrf(request)
        try:
            if form.get("delete"):
                await storage.delete_goal(site.key, form["delete"])
            else:
                await storage.define_goal(site.key, *parse_goal(form))
        except InvalidRequest as exc:
            error, status = exc.message, 400
    elif request.method == "POST":
        try:
            body = await request.json()
        except ValueError:
            raise InvalidRequest("body must be JSON") from None
        defined = await storage.define_goal(site.key, *parse_goal(body))
        return Answer(goal_json(defined), status=201)
    listed = [goal_json(g) for g in await storage.goals(site.key)]
    answer = Answer({"site": site.key, "goals": listed}, Table(listed, GOAL_COLUMNS, f"{site.key}-goals"))
    answer.status = status
    if rendering == "html":
        if request.method == "POST" and error is None:
            answer.redirect = f"/sites/{quote(site.key, safe='')}/goals"
            return answer
        answer.context = {
            **site_chrome(request, site, query.site_period(request, site), "settings"),
            "error": error,
        }
    return answer


@page()
async def goal(request: Request, rendering: Rendering) -> Answer:
    """DELETE forgets a goal's definition; its conversions stay counted."""
    site = await query.load_site(request)
    name = request.path_params["goal"]
    if not await request.app.state.storage.delete_goal(site.key, name):
        raise NotFound(f"no goal {name!r} for site {site.key!r}")
    return Answer({"site": site.key, "deleted": name})
