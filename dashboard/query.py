"""A dashboard URL's parameters as typed values: the site, the period, filters, choices.

Each page reads its request through these once; a bad value is a readable 400
(docs/design.md §6 "Input bounds"), an unknown site or element a 404.
"""

from __future__ import annotations

from starlette.requests import Request

from ctrlens.collector.errors import InvalidRequest, NotFound
from ctrlens.collector.events import KINDS, MAX_NAME
from ctrlens.collector.storage import Site
from ctrlens.dashboard.experiments import NO_VARIANT
from ctrlens.dashboard.filters import Filters
from ctrlens.dashboard.periods import Period, parse_period
from ctrlens.dashboard.reports import SORTS, default_direction
from ctrlens.dashboard.site_settings import site_timezone


async def load_site(request: Request) -> Site:
    site: Site | None = await request.app.state.storage.get_site(request.path_params["site"])
    if site is None:
        raise NotFound(f"unknown site {request.path_params['site']!r}")
    return site


def element_name(request: Request) -> str:
    """The element of `/elements/{element:path}`; ids may hold "/"."""
    element: str = request.path_params["element"]
    if not element:
        raise NotFound("element missing from the path")
    return element


def choice(request: Request, name: str, choices: tuple[str, ...], default: str | None) -> str | None:
    value = request.query_params.get(name) or default
    if value is not None and value not in choices:
        raise InvalidRequest(f"{name} must be one of {', '.join(choices)}")
    return value


def required_choice(request: Request, name: str, choices: tuple[str, ...], default: str) -> str:
    value = choice(request, name, choices, default)
    assert value is not None  # the default is one of the choices
    return value


def site_period(request: Request, site: Site) -> Period:
    return parse_period(dict(request.query_params), site_timezone(site))


def variant_filter(value: str | None) -> str | None:
    """Empty means every variant; `(none)` picks the events sent without a variant."""
    if not value:
        return None
    return "" if value == NO_VARIANT else value


#: Device classes the collector records (collector/privacy.py `device_class`).
DEVICES = ("desktop", "mobile", "tablet")
#: Rows per overview page, and the most one page may ask for (docs/design.md §4).
PAGE_ROWS = 50
MAX_PAGE_ROWS = 500


def free_text(request: Request, name: str) -> str | None:
    """A free-text parameter (a source, a campaign, a search): at most MAX_NAME printable
    characters; empty means absent."""
    value = request.query_params.get(name) or None
    if value is not None and (len(value) > MAX_NAME or not value.isprintable()):
        raise InvalidRequest(f"{name} must be at most {MAX_NAME} printable characters")
    return value


def filters(request: Request) -> Filters:
    q = request.query_params
    search = free_text(request, "q")
    return Filters(
        kind=choice(request, "kind", KINDS, None),
        variant=variant_filter(q.get("variant")),
        page=q.get("page") or None,
        source=free_text(request, "source"),
        # `(none)` picks the page views whose URL had no utm_campaign, as for variants.
        campaign=variant_filter(free_text(request, "campaign")),
        device=choice(request, "device", DEVICES, None),
        search=search.casefold() if search else None,
    )


def paging(request: Request, default: int = PAGE_ROWS) -> tuple[int, int]:
    """`limit` (1 to MAX_PAGE_ROWS, default `default`) and `offset` (from 0) of a table's rows."""
    limit = _count(request, "limit", default)
    offset = _count(request, "offset", 0)
    if not 1 <= limit <= MAX_PAGE_ROWS:
        raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE_ROWS}")
    return limit, offset


def _count(request: Request, name: str, default: int) -> int:
    value = request.query_params.get(name) or ""
    if not value:
        return default
    if not value.isascii() or not value.isdigit() or len(value) > 9:
        raise InvalidRequest(f"{name} must be a whole number below 1,000,000,000")
    return int(value)


def sort(request: Request, default: str) -> tuple[str, str]:
    """The sort column and direction; without `dir`, text columns go A to Z, numbers largest first."""
    column = required_choice(request, "sort", SORTS, default)
    direction = choice(request, "dir", ("asc", "desc"), None) or default_direction(column)
    return column, direction
