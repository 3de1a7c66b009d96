"""Signing in (a user's name and password, or the admin token alone) and out again: forms, not
pages with data."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ctrlens.dashboard.auth import Auth, check_csrf, safe_next
from ctrlens.dashboard.templating import render
from ctrlens.dashboard.users import MAX_NAME, MAX_PASSWORD, sign_in_user


async def login(request: Request) -> Response:
    auth: Auth = request.app.state.auth
    next_url = safe_next(request.query_params.get("next"))
    error = None
    status = 200
    name = ""
    if request.method == "POST":
        form = await check_csrf(request)
        client = auth.client(request)
        name = form.get("name", "").strip()[:MAX_NAME]
        # The admin token alone (no name) keeps working: the first sign-in, and automation.
        secret = form.get("token", "")[:MAX_PASSWORD]
        if auth.throttle.blocked(client):
            error, status = "Too many failed attempts. Wait a minute and try again.", 429
        elif not name and await auth.check(secret):
            await auth.sign_in(request)
            return RedirectResponse(safe_next(form.get("next")), status_code=303)
        elif name and (user := await sign_in_user(request.app.state.storage, name, secret)):
            await auth.sign_in(request, user)
            return RedirectResponse(safe_next(form.get("next")), status_code=303)
        else:
            auth.throttle.failed(client)
            error = "That name and password do not match." if name else "That token is not right."
            status = 401
    return render(request, "login.html", {"next": next_url, "error": error, "name": name}, status_code=status)


async def logout(request: Request) -> Response:
    await check_csrf(request)
    auth: Auth = request.app.state.auth
    await auth.sign_out(request)
    return RedirectResponse("/login", status_code=303)
