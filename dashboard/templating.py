"""The Jinja2 environment: autoescaping on for every template, CSRF token and helpers in context."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse

from dashboard.auth import csrf_token

TEMPLATES = Path(__file__).parent / "templates"

env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def percent(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "–"
    return f"{value * 100:.{digits}f}%"


def number(value: int | float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,}"


env.filters["percent"] = percent
env.filters["number"] = number


def render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    context = {
        "request": request,
        "csrf": csrf_token(request),
        "signed_in": request.session.get("user") == "admin",
        **context,
    }
    return HTMLResponse(env.get_template(name).render(context), status_code=status_code)
