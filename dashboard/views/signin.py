"""Signing in with the admin token and out again: forms, not pages with data."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ctrlens.dashboard.auth import Auth, check_csrf, safe_next
from ctrlens.dashboard.templating import render


async def login(request: Request) -> Response:
    auth: Auth = request.app.state.auth
    next_url = safe_next(request.query_params.get("next"))
    error = None
    status = 200
    if request.method == "POST":
        form = await check_csrf(request)
        client = auth.client(request)
        if auth.throttle.blocked(client):
            error, status = "Too many failed attempts. Wait a minute and try again.", 429
        elif await auth.check(form.get("token", "")):
            await auth.sign_in(request)
            return RedirectResponse(safe_next(form.get("next")), status_code=303)
        else:
            auth.throttle.failed(client)
            error, status = "That token is not right.", 401
    return render(request, "login.html", {"next": next_url, "error": error}, status_code=status)


async def logout(request: Request) -> Response:
    await check_csrf(request)
    auth: Auth = request.app.state.auth
    await auth.sign_out(request)
    return RedirectResponse("/login", status_code=303)
