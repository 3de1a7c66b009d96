"""A site's alert settings (`/sites/{site}/alerts` with its form, `GET/PUT /api/sites/{site}/alerts`)
and the test alert (`POST /sites/{site}/alerts/test`, `POST /api/sites/{site}/alerts/test`):
docs/design.md §4 "Around the numbers". The settings page shows the same form in its Alerts section.
Admins only, reading included (routes.py): a webhook URL is a secret.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request

from ctrlens.collector.errors import CtrlensError, InvalidRequest
from ctrlens.collector.storage import Site
from ctrlens.dashboard import auth, query
from ctrlens.dashboard.alert_channels import channels_json, form_body, parse_channels
from ctrlens.dashboard.alerts import send_test
from ctrlens.dashboard.negotiation import Rendering
from ctrlens.dashboard.pages import Answer, page, site_chrome


class ChannelsFailed(CtrlensError):
    """The test alert did not reach every channel."""

    status = 502


async def alerts_context(request: Request, site: Site) -> dict[str, Any]:
    """The Alerts section's data, for this page and the settings page."""
    channels = await request.app.state.storage.alert_channels(site.key)
    return channels_json(site.key, channels, request.app.state.config)


async def _json_body(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        raise InvalidRequest("body must be JSON") from None


def _settings_url(site: Site, note: str) -> str:
    return f"/sites/{quote(site.key, safe='')}/settings?alerts={note}#alerts"


@page("alerts.html")
async def alerts(request: Request, rendering: Rendering) -> Answer:
    site = await query.load_site(request)
    storage = request.app.state.storage
    error: str | None = None
    form: dict[str, str] | None = None
    if request.method in ("PUT", "POST"):
        body: Any
        if request.method == "POST":
            form = await auth.check_csrf(request)
            body = form_body(form)
        else:
            body = await _json_body(request)
        try:
            channels = parse_channels(body, await storage.alert_channels(site.key))
        except InvalidRequest as exc:
            if rendering != "html":
                raise
            error = exc.message  # the form comes back with what was typed and what is wrong
        else:
            await storage.save_alert_channels(site.key, channels)
            form = None
    data = await alerts_context(request, site)
    answer = Answer(data, status=400 if error else 200)
    if rendering == "html":
        if request.method == "POST" and error is None:
            answer.redirect = _settings_url(site, "saved")
            return answer
        answer.context = {
            **site_chrome(request, site, query.site_period(request, site), "settings"),
            "alerts": data,
            "alerts_form": form,
            "alerts_error": error,
        }
    return answer


@page("alerts.html")
async def test_alert(request: Request, rendering: Rendering) -> Answer:
    """Send a test message to each of the site's channels now, and say what happened."""
    site = await query.load_site(request)
    if rendering == "html":
        await auth.check_csrf(request)
    results = await send_test(request.app.state.storage, site, request.app.state.config)
    if not results:
        raise InvalidRequest(
            "no alert channel to test: set a webhook, or e-mail recipients with the server's SMTP "
            "settings (CTRLENS_SMTP_HOST)"
        )
    failed = {channel: why for channel, why in results.items() if why != "sent"}
    if failed and rendering != "html":
        raise ChannelsFailed("the test alert was not sent: " + "; ".join(failed.values()))
    data = {"site": site.key, "results": results}
    answer = Answer(data, status=502 if failed else 200)
    if rendering == "html":
        if not failed:
            answer.redirect = _settings_url(site, "test-sent")
            return answer
        answer.context = {
            **site_chrome(request, site, query.site_period(request, site), "settings"),
            "alerts": await alerts_context(request, site),
            "alerts_form": None,
            "alerts_error": "The test alert was not sent: " + "; ".join(failed.values()),
        }
    return answer
