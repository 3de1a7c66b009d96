"""Server-rendered dashboard pages. Each view: load site → report rows → template."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from collector.errors import InvalidRequest
from collector.events import KINDS
from dashboard.api import load_site, query_choice
from dashboard.auth import Auth, check_csrf, login_required, safe_next
from dashboard.periods import PRESETS, parse_period
from dashboard.reports import GROUPS, element_report
from dashboard.templating import render


async def login(request: Request) -> Response:
    auth: Auth = request.app.state.auth
    next_url = safe_next(request.query_params.get("next"))
    error = None
    status = 200
    if request.method == "POST":
        form = await check_csrf(request)
        client = request.client.host if request.client else ""
        if auth.attempts.take(client):
            error, status = "Too many attempts. Wait a minute and try again.", 429
        elif await auth.check(form.get("token", "")):
            request.session.clear()
            request.session["user"] = "admin"
            return RedirectResponse(safe_next(form.get("next")), status_code=303)
        else:
            error, status = "That token is not right.", 401
    return render(request, "login.html", {"next": next_url, "error": error}, status_code=status)


async def logout(request: Request) -> Response:
    await check_csrf(request)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@login_required
async def home(request: Request) -> Response:
    sites = await request.app.state.storage.list_sites()
    if len(sites) == 1:
        return RedirectResponse(f"/sites/{sites[0].key}", status_code=303)
    return render(request, "sites.html", {"sites": sites})


@login_required
async def overview(request: Request) -> Response:
    site = await load_site(request)
    params = dict(request.query_params)
    try:
        period = parse_period(params, site.settings.get("timezone", "UTC"))
        group = query_choice(request, "group", GROUPS, "none") or "none"
        kind = query_choice(request, "kind", KINDS, None)
    except InvalidRequest as exc:
        return render(request, "error.html", {"message": exc.message}, status_code=400)
    variant = params.get("variant") or None
    rows = await element_report(request.app.state.storage, site, period, group, kind=kind, variant=variant)
    csv_query = urlencode({**params, "format": "csv"})
    return render(
        request,
        "overview.html",
        {
            "site": site,
            "rows": rows,
            "period": period,
            "presets": list(PRESETS),
            "group": group,
            "kind": kind,
            "kinds": KINDS,
            "variant": variant,
            "params": params,
            "csv_url": f"/api/sites/{site.key}/elements?{csv_query}",
        },
    )


routes = [
    Route("/login", login, methods=["GET", "POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/", home),
    Route("/sites/{site}", overview),
]
