"""Which rendering a request wants: HTML, JSON or CSV (docs/design.md §4 "Pages and API").

`?format=html|json|csv` decides; without it the `Accept` header does, by its q-values; where the
header leaves a tie (`*/*`, or no header at all) the URL decides: `/api/...` answers JSON, every
other dashboard URL HTML. So a script and a browser each get what they asked for from either URL.
"""

from __future__ import annotations

from typing import Literal, get_args

from starlette.requests import Request

from ctrlens.collector.errors import InvalidRequest

Rendering = Literal["html", "json", "csv"]
RENDERINGS: tuple[Rendering, ...] = get_args(Rendering)

MEDIA_TYPES: dict[Rendering, str] = {"html": "text/html", "json": "application/json", "csv": "text/csv"}
API_PREFIX = "/api/"


def default_rendering(path: str) -> Rendering:
    return "json" if path.startswith(API_PREFIX) else "html"


def negotiate(
    request: Request, offered: tuple[Rendering, ...], default: Rendering, strict: bool = True
) -> Rendering:
    """The rendering for this request among `offered`; `default` is the URL's own.

    An explicit `?format=` the page cannot answer is a 400 when `strict`, else ignored.
    """
    chosen = request.query_params.get("format")
    if chosen:
        for rendering in offered:
            if rendering == chosen:
                return rendering
        if strict:
            raise InvalidRequest(f"format must be one of {', '.join(offered)}")
    weights = _accepted(request.headers.get("accept", ""))
    if not weights:
        return default
    # Highest q wins; on a tie the URL's own rendering, then the order offered.
    ranked = sorted(
        offered, key=lambda r: (-_quality(weights, MEDIA_TYPES[r]), r != default, offered.index(r))
    )
    best = ranked[0]
    return best if _quality(weights, MEDIA_TYPES[best]) > 0 else default


def _accepted(header: str) -> dict[str, float]:
    """`Accept` as {media range: q}; a malformed q counts as 1."""
    weights: dict[str, float] = {}
    for part in header.split(","):
        media, *parameters = (p.strip() for p in part.split(";"))
        if not media:
            continue
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    quality = 1.0
        weights[media.lower()] = max(quality, weights.get(media.lower(), 0.0))
    return weights


def _quality(weights: dict[str, float], media_type: str) -> float:
    """The q of the most specific range matching `media_type` (RFC 9110 §12.5.1)."""
    for candidate in (media_type, media_type.split("/")[0] + "/*", "*/*"):
        if candidate in weights:
            return weights[candidate]
    return 0.0


def wants_html(request: Request) -> bool:
    """Whether an error or a sign-in prompt is answered as a page rather than JSON.

    Never under `/api/`, whose errors are always JSON, nor where no session exists (the
    collector's own paths): pages need one for their CSRF token.
    """
    if request.url.path.startswith(API_PREFIX) or "session" not in request.scope:
        return False
    return negotiate(request, RENDERINGS, "html", strict=False) == "html"
