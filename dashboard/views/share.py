"""Share links: made, listed and revoked by admins (`/api/sites/{site}/share-links`, and the
forms of the settings page), and the shared pages themselves (`/share/{token}/...`).

A shared page is the dashboard's own page function (overview, element, variants) run for the
link's site, with a chrome whose every link stays inside the share (pages.site_chrome). It
answers GET only, as HTML or the CSV its export link asks for: no JSON, no writes.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ctrlens.collector.errors import CtrlensError, InvalidRequest, NotFound
from ctrlens.collector.storage import Storage
from ctrlens.dashboard import query
from ctrlens.dashboard.auth import Auth, check_csrf
from ctrlens.dashboard.negotiation import Rendering, negotiate
from ctrlens.dashboard.pages import SHARE_SCOPE, Answer, Page, page, site_chrome
from ctrlens.dashboard.share import (
    COOKIE,
    COOKIE_SECONDS,
    MAX_DAYS,
    MIN_DAYS,
    MIN_PASSWORD,
    create_link,
    link_json,
    open_link,
    parse_link,
    share_path,
    unlock_value,
    unlocked,
)
from ctrlens.dashboard.templating import render
from ctrlens.dashboard.users import MAX_PASSWORD, password_matches


def _link_url(request: Request, token: str) -> str:
    """public_url when set (docs/design.md §6); else the address the admin's own browser used,
    which is shown to that admin only, once."""
    base = request.app.state.config.public_url or f"{request.url.scheme}://{request.url.netloc}"
    return f"{base}{share_path(token)}"


@page("share_created.html")
async def share_links(request: Request, rendering: Rendering) -> Answer:
    """GET lists the site's links; POST makes one (JSON body, or the settings page's form) and
    answers with its URL, shown this once. Admins only (routes.py)."""
    site = await query.load_site(request)
    storage: Storage = request.app.state.storage
    now = time.time()
    if request.method == "POST":
        if rendering == "html":
            form = await check_csrf(request)
            if form.get("revoke"):
                await storage.revoke_share_link(site.key, form["revoke"])
                answer = Answer({"revoked": form["revoke"]})
                answer.redirect = f"/sites/{quote(site.key, safe='')}/settings#share"
                return answer
            fields: dict[str, object] = dict(form)
        else:
            fields = await _json_object(request)
        link, token = await create_link(storage, site.key, *parse_link(fields))
        answer = Answer({**link_json(link, now), "url": _link_url(request, token)}, status=201)
        answer.context = site_chrome(request, site, query.site_period(request, site), "settings")
        return answer
    links = [link_json(link, now) for link in await storage.share_links(site.key)]
    return Answer({"site": site.key, "share_links": links})


async def share_context(storage: Storage, site: str) -> dict[str, object]:
    """What the settings page's share-links section needs (share_links_section.html)."""
    now = time.time()
    links = [link_json(link, now) for link in await storage.share_links(site)]
    return {"share_links": links, "share_days": (MIN_DAYS, MAX_DAYS), "share_min_password": MIN_PASSWORD}


@page()
async def share_link(request: Request, rendering: Rendering) -> Answer:
    """DELETE revokes a link: it answers 404 from then on."""
    site = await query.load_site(request)
    link_id = request.path_params["id"]
    if not await request.app.state.storage.revoke_share_link(site.key, link_id):
        raise NotFound(f"no share link {link_id!r} for site {site.key!r}")
    return Answer({"site": site.key, "revoked": link_id})


async def _json_object(request: Request) -> dict[str, object]:
    try:
        body = await request.json()
    except ValueError:
        raise InvalidRequest("body must be JSON") from None
    if not isinstance(body, dict):
        raise InvalidRequest("body must be a JSON object")
    return body


# -- the shared pages ------------------------------------------------------------------------


def _closed(request: Request, exc: CtrlensError) -> Response:
    return render(
        request,
        "share_closed.html",
        {"message": exc.message, "signed_in": False, "shared": True},
        status_code=exc.status,
    )


Endpoint = Callable[[Request], Awaitable[Response]]


def shared(page_type: Page) -> Endpoint:
    """The endpoint serving `page_type` under a share link, for the link's site only."""
    offered = tuple(r for r in page_type.renderings if r != "json")

    async def endpoint(request: Request) -> Response:
        storage: Storage = request.app.state.storage
        token = request.path_params["token"]
        try:
            link = await open_link(storage, token)
        except CtrlensError as exc:
            return _closed(request, exc)
        if not unlocked(request.app.state.session_secret, link, request.cookies.get(COOKIE)):
            return _password_form(request, token, None, 401)
        # The page functions read the site from the path: here it is the link's, never the URL's.
        request.scope["path_params"] = {**request.path_params, "site": link.site}
        request.scope[SHARE_SCOPE] = share_path(quote(token, safe=""))
        rendering = negotiate(request, offered, "html")
        answer = await page_type.load(request, rendering)
        answer.redirect = None
        response = await page_type.respond(request, answer, rendering)
        response.headers["X-Robots-Tag"] = "noindex"
        return response

    return endpoint


def _password_form(request: Request, token: str, error: str | None, status: int) -> Response:
    context = {"token": token, "error": error, "signed_in": False, "shared": True}
    return render(request, "share_password.html", context, status_code=status)


async def unlock(request: Request) -> Response:
    """The password form of a protected link: a right password sets the link's own cookie."""
    auth: Auth = request.app.state.auth
    storage: Storage = request.app.state.storage
    token = request.path_params["token"]
    try:
        link = await open_link(storage, token)
    except CtrlensError as exc:
        return _closed(request, exc)
    form = await check_csrf(request)
    client = auth.client(request)
    if auth.throttle.blocked(client):
        return _password_form(request, token, "Too many failed attempts. Wait a minute and try again.", 429)
    password = form.get("password", "")[:MAX_PASSWORD]
    if not link.password or not await password_matches(link.password, password):
        auth.throttle.failed(client)
        return _password_form(request, token, "That password is not right.", 401)
    base = share_path(quote(token, safe=""))
    response = RedirectResponse(base, status_code=303)
    response.set_cookie(
        COOKIE,
        unlock_value(request.app.state.session_secret, link),
        max_age=max(1, min(COOKIE_SECONDS, link.expires_at - int(time.time()))),
        path=base,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https" or request.app.state.config.secure_cookies,
    )
    return response


def share_routes(overview: Page, element: Page, variants: Page) -> list[Route]:
    """The shared pages: the overview (also at `/elements`, where its CSV link points), an
    element's page and the variants, each GET only."""
    return [
        Route("/share/{token}", shared(overview)),
        Route("/share/{token}/elements", shared(overview)),
        Route("/share/{token}/elements/{element:path}", shared(element)),
        Route("/share/{token}/variants", shared(variants)),
        Route("/share/{token}/unlock", unlock, methods=["POST"]),
    ]
