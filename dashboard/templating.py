"""The Jinja2 environment: autoescaping on for every template, CSRF token and helpers in context."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse

from ctrlens.dashboard.auth import csrf_token
from ctrlens.dashboard.experiments import NO_VARIANT
from ctrlens.dashboard.ratings import RATING_LABELS
from ctrlens.dashboard.reports import TEXT_SORTS
from ctrlens.dashboard.series import MAX_HOURLY_DAYS
from ctrlens.dashboard.users import Identity

TEMPLATES = Path(__file__).parent / "templates"

env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
    # Templates change with a release, not while it runs: no stat of each template on every
    # page (about 1 ms a page here, docs/performance.md).
    auto_reload=False,
)


def percent(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "–"
    return f"{value * 100:.{digits}f}%"


def ctr(value: float | None) -> str:
    """CTRs below 10% get two decimals (1.53%), larger ones one (23.4%)."""
    if value is None:
        return "–"
    return percent(value, 2 if abs(value) < 0.1 else 1)


def signed_percent(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "–"
    text = f"{abs(value) * 100:.{digits}f}%"
    if text in ("0%", "0.0%"):
        return "±0%"
    return ("+" if value > 0 else "−") + text


def points(value: float | None) -> str:
    """A difference of two rates in percentage points."""
    if value is None:
        return "–"
    return f"{'+' if value > 0 else '−' if value < 0 else '±'}{abs(value) * 100:.2f} pp"


def chance(value: float | None) -> str:
    """A probability that never reads as certainty: "> 99.9%", "< 0.1%"."""
    if value is None:
        return "–"
    if value > 0.999:
        return "> 99.9%"
    if value < 0.001:
        return "< 0.1%"
    return f"{value * 100:.1f}%"


def number(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,}"


def pvalue(value: float | None) -> str:
    if value is None:
        return "–"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def path_part(value: str) -> str:
    """A value as one URL path segment: '/' and '?' encoded, so element ids round-trip."""
    return quote(value, safe="")


def qs(params: Mapping[str, Any], **changes: Any) -> str:
    """`?a=1&b=2` from the current query with some keys changed; None or "" drops a key."""
    merged = {k: v for k, v in params.items()}
    for key, value in changes.items():
        merged[key.rstrip("_")] = value
    kept = {k: v for k, v in merged.items() if v not in (None, "")}
    return "?" + urlencode(kept) if kept else "?"


env.filters.update(
    percent=percent, ctr=ctr, signed_percent=signed_percent, points=points, number=number,
    pvalue=pvalue, path_part=path_part, chance=chance,
)
env.globals.update(
    qs=qs,
    no_variant=NO_VARIANT,
    text_sorts=TEXT_SORTS,
    max_hourly_days=MAX_HOURLY_DAYS,
    rating_names=RATING_LABELS,
    rating_titles={
        "insufficient": "Below the minimum impressions for a rating",
        "firm": "Settled: the whole 95% interval is in this band",
        "tentative": "Tentative: the 95% interval reaches into another band",
    },
)


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    html = env.get_template(name).render(_full_context(request, context))
    return HTMLResponse(html, status_code=status_code, headers=headers)


async def render_off_loop(
    request: Request,
    name: str,
    context: dict[str, Any],
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """`render` in a worker thread, for pages that may be large: the event loop (and with it
    POST /e) keeps running while the template renders. The session is read here, on the loop."""
    template = env.get_template(name)
    html = await run_in_threadpool(template.render, _full_context(request, context))
    return HTMLResponse(html, status_code=status_code, headers=headers)


def can_edit(request: Request, shared: bool) -> bool:
    """Whether a page may offer what only an admin can do (settings, goals, annotations, alerts,
    users): never under a share link, and only to an admin (auth.authorize, docs/design.md §4
    "Access"). The templates ask this one question instead of testing roles themselves, so a
    viewer or a share link's reader meets no link or form that would answer 403."""
    if shared:
        return False
    identity = getattr(request.state, "identity", None)
    return isinstance(identity, Identity) and identity.admin


def _full_context(request: Request, context: dict[str, Any]) -> dict[str, Any]:
    shared = bool(context.get("shared"))
    return {
        "request": request,
        "csrf": csrf_token(request),
        # Anyone with a session (the admin token or a named user, auth.Auth.sign_in).
        "signed_in": bool(request.session.get("user")),
        "can_edit": can_edit(request, shared),
        **context,
    }
