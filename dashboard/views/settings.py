"""A site's settings (`/sites/{site}/settings` with its form, `/api/sites/{site}/settings` with
PUT), and the two things the settings page shows beside them: whether events arrive
(`/api/sites/{site}/live`) and what was turned away (`/api/sites/{site}/rejections`)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from starlette.requests import Request

from ctrlens.collector.errors import CtrlensError, InvalidRequest
from ctrlens.collector.events import KINDS
from ctrlens.collector.storage import Site, Storage
from ctrlens.dashboard import query
from ctrlens.dashboard.auth import check_csrf
from ctrlens.dashboard.experiment_settings import check_goal, experiment_of
from ctrlens.dashboard.negotiation import Rendering
from ctrlens.dashboard.pages import Answer, Table, page, site_chrome
from ctrlens.dashboard.site_settings import (
    apply_changes,
    form_changes,
    settings_json,
    site_timezone,
    timezones,
)
from ctrlens.dashboard.views.alerts import alerts_context
from ctrlens.dashboard.views.share import share_context

LIVE_MINUTES = 5
SAMPLES_SHOWN = 5
#: The install tag's address when neither public_url nor a local request tells the real one.
PLACEHOLDER_URL = "https://YOUR-CTRLENS-HOST"
PLACEHOLDER_HINT = (
    "Set public_url (CTRLENS_PUBLIC_URL) to the address browsers reach ctrlens at, "
    "e.g. https://stats.shop.example, and this tag shows it."
)
# Host headers believed without public_url: a browser on this machine (`ctrlens demo`, a trial).
_LOCAL_HOST = re.compile(r"(localhost|127\.0\.0\.1|\[::1\])(:[0-9]{1,5})?")


@page("settings.html")
async def settings(request: Request, rendering: Rendering) -> Answer:
    site = await query.load_site(request)
    storage = request.app.state.storage
    error: str | None = None
    form: dict[str, str] | None = None
    if request.method == "PUT":
        site = await _save(request, site, await _json_body(request))
    elif request.method == "POST":
        form = await check_csrf(request)
        try:
            changes = form_changes(form)
            experiment = changes.get("experiment")
            if isinstance(experiment, dict) and experiment.get("metric") == "conversions_per_impression":
                experiment["goal"] = form.get("experiment_goal", "").strip() or None
            site = await _save(request, site, changes)
        except CtrlensError as exc:
            if rendering != "html":
                raise
            # The form comes back with what was typed and what is wrong with it.
            error = exc.message
        else:
            form = None
    url = collector_url(request)
    data = settings_json(site, request.app.state.config.retention_days, url)
    answer = Answer(data, status=400 if error else 200)
    if rendering == "html":
        if request.method == "POST" and error is None:
            answer.redirect = f"/sites/{quote(site.key, safe='')}/settings?saved=1"
            return answer
        answer.context = {
            **site_chrome(request, site, query.site_period(request, site), "settings"),
            "settings": data,
            "install_hint": PLACEHOLDER_HINT if url == PLACEHOLDER_URL else None,
            "timezones": timezones(),
            "error": error,
            "form": form,
            "saved": request.query_params.get("saved") == "1" and error is None,
            "dropped": await storage.rejection_counts(site.key),
            "samples": await storage.rejected_samples(site.key, limit=SAMPLES_SHOWN),
            "kinds": KINDS,
            "goals": [goal.name for goal in await storage.goals(site.key)],
            "live": await live_status(storage, site),
            **await share_context(storage, site.key),
            # The Alerts section (views/alerts.py has its form and API).
            "alerts": await alerts_context(request, site),
            "alerts_note": request.query_params.get("alerts"),
        }
    return answer


async def _json_body(request: Request) -> Any:
    try:
        return await request.json()
    except ValueError:
        raise InvalidRequest("body must be JSON") from None


async def _save(request: Request, site: Site, changes: Any) -> Site:
    name, origins, changed = apply_changes(site, changes)
    if isinstance(changes, dict) and changes.get("experiment"):
        # An experiment's goal must exist (experiment_settings.py): that takes the site's goals.
        goals = [goal.name for goal in await request.app.state.storage.goals(site.key)]
        try:
            check_goal(experiment_of(changed), goals)
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from None
    site = await request.app.state.storage.update_site(site.key, name=name, origins=origins, settings=changed)
    request.app.state.collector.forget_site(site.key)
    return site


def collector_url(request: Request) -> str:
    """Where pages load ctr.js from: public_url, else this request's own address if it is a local
    one, else a placeholder. Never any other Host header: a client writes what it likes there, and
    a copied tag would send a site's visitors to that host (docs/design.md §6)."""
    public_url: str | None = request.app.state.config.public_url
    if public_url:
        return public_url
    host = request.headers.get("host", "")
    if _LOCAL_HOST.fullmatch(host):
        # https when a trusted proxy says so (DashboardMiddleware).
        return f"{request.url.scheme}://{host}"
    return PLACEHOLDER_URL


async def live_status(storage: Storage, site: Site) -> dict[str, Any]:
    since = int((time.time() - LIVE_MINUTES * 60) * 1000)
    hour = await storage.last_active_hour(site.key)
    tz = site_timezone(site)
    return {
        "site": site.key,
        "minutes": LIVE_MINUTES,
        "events": await storage.recent_event_count(site.key, since),
        "last_active_hour": datetime.fromtimestamp(hour, UTC).isoformat() if hour is not None else None,
        "last_active_local": (
            datetime.fromtimestamp(hour, ZoneInfo(tz)).strftime(f"%-d %b %Y %H:%M {tz}")
            if hour is not None
            else None
        ),
    }


@page()
async def live(request: Request, rendering: Rendering) -> Answer:
    site = await query.load_site(request)
    return Answer(await live_status(request.app.state.storage, site))


@page(table=True)
async def rejections(request: Request, rendering: Rendering) -> Answer:
    site = await query.load_site(request)
    storage = request.app.state.storage
    counts = await storage.rejection_counts(site.key)
    reasons = [{"reason": reason, "count": n} for reason, n in counts.items()]
    data = {
        "site": site.key,
        "rejections": counts,
        "reasons": reasons,
        "samples": await storage.rejected_samples(site.key),
    }
    return Answer(data, Table(reasons, ("reason", "count"), f"{site.key}-rejections"))
