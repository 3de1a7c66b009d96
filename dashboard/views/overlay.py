"""The live overlay's two doors (docs/design.md §4 "Live overlay"): "Open on page", which a
signed-in user follows from the dashboard (`/sites/{site}/overlay`; `?format=json` gives the link
as JSON), and the read-only numbers a site page fetches with the token it was
handed (`GET /overlay/{site}`, CORS for the site's allowed origins only, no cookie)."""

from __future__ import annotations

import time

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from ctrlens.collector.errors import CtrlensError, NotFound, OriginNotAllowed, Unauthorized, error_response
from ctrlens.dashboard import query
from ctrlens.dashboard.auth import GENERATION_KEY, login_required
from ctrlens.dashboard.negotiation import default_rendering, negotiate
from ctrlens.dashboard.overlay import (
    TOKEN_SECONDS,
    OverlayTokens,
    busiest_page,
    overlay_link,
    overlay_numbers,
    page_url,
)
from ctrlens.dashboard.views.overview import goal_param

#: Private answers: never kept by a cache, never passed on as a Referer.
PRIVATE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


@login_required
async def open_on_page(request: Request) -> Response:
    """A page of the site with a fresh token in its fragment: the element's busiest page in the
    period (`element=`), else the origin's `/`. `origin=` picks another of the site's origins."""
    site = await query.load_site(request)
    period = query.site_period(request, site)
    element = request.query_params.get("element") or None
    storage = request.app.state.storage
    busiest = await busiest_page(storage, site, period, element)
    page = page_url(site, busiest, request.query_params.get("origin"))
    expires_at = int(time.time()) + TOKEN_SECONDS
    generation = await storage.get_meta(GENERATION_KEY) or ""
    token = OverlayTokens(request.app.state.session_secret).mint(site.key, generation, expires_at)
    choices = {k: request.query_params.get(k, "") for k in ("period", "from", "to", "variant", "goal")}
    url = overlay_link(page, token, {**choices, "element": element or ""})
    if negotiate(request, ("html", "json"), default_rendering(request.url.path)) == "json":
        link = {"site": site.key, "page": page, "url": url, "expires_at": expires_at}
        return JSONResponse(link, headers=PRIVATE)
    return RedirectResponse(url, status_code=303, headers=PRIVATE)


async def numbers(request: Request) -> Response:
    """The overlay's numbers for the token's one site. Only a page on one of the site's allowed
    origins may read the answer (CORS); the token rides in Authorization, so no cookie is needed
    and none is read."""
    storage = request.app.state.storage
    site = await storage.get_site(request.path_params["site"])
    origin = request.headers.get("origin")
    allowed = site is not None and origin is not None and site.allows_origin(origin)
    headers = {**PRIVATE, "Vary": "Origin"}
    if allowed:
        assert origin is not None  # narrowed by `allowed`
        headers["Access-Control-Allow-Origin"] = origin
    if request.method == "OPTIONS":
        if not allowed:
            return Response(status_code=403, headers=headers)
        preflight = {
            "Access-Control-Allow-Methods": "GET",
            "Access-Control-Allow-Headers": "Authorization",
            "Access-Control-Max-Age": "600",
        }
        return Response(status_code=204, headers={**headers, **preflight})
    try:
        if site is None:
            raise NotFound(f"unknown site {request.path_params['site']!r}")
        if origin is not None and not allowed:
            raise OriginNotAllowed(f"origin {origin!r} is not one of the site's allowed origins")
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            raise Unauthorized("no overlay token: open the overlay from the dashboard")
        generation = await storage.get_meta(GENERATION_KEY) or ""
        OverlayTokens(request.app.state.session_secret).verify(header[7:].strip(), site.key, generation)
        period = query.site_period(request, site)
        variant = query.variant_filter(request.query_params.get("variant"))
        data = await overlay_numbers(storage, site, period, variant, goal_param(request))
    except CtrlensError as error:
        if isinstance(error, Unauthorized):
            headers["WWW-Authenticate"] = 'Bearer realm="ctrlens overlay"'
        return error_response(error, headers)
    return JSONResponse(data, headers=headers)
