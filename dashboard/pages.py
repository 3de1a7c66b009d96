"""One handler per page type, answering HTML, JSON and CSV (docs/design.md §4 "Pages and API").

A page is one function: it parses its request once and returns an `Answer`, the data (the JSON
document) and which list of it is the CSV table. HTML renders the page's template from the same
data plus presentation extras. A page is served under two URLs, `/sites/...` (HTML by default)
and `/api/...` (JSON by default); `?format=` or `Accept` picks any rendering on either
(negotiation.py). Errors raised anywhere are answered by `error_answer`, the one place that turns
them into HTML or JSON.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from ctrlens.collector.errors import CtrlensError, error_response
from ctrlens.collector.storage import Site
from ctrlens.dashboard.auth import Access, login_required
from ctrlens.dashboard.export import csv_text
from ctrlens.dashboard.negotiation import RENDERINGS, Rendering, default_rendering, negotiate, wants_html
from ctrlens.dashboard.periods import PRESET_LABELS, Period
from ctrlens.dashboard.templating import render, render_off_loop

# Rows per chunk of a streamed CSV answer: small enough that a table of 100,000 elements never
# sits in memory as one string, large enough that the chunks cost little.
CSV_CHUNK_ROWS = 1_000


@dataclass(frozen=True)
class Table:
    """The list a CSV answer writes, its columns in order, and the download's name (no `.csv`)."""

    rows: Sequence[dict[str, Any]]
    columns: Sequence[str]
    filename: str


@dataclass
class Answer:
    data: dict[str, Any]
    table: Table | None = None
    # Only for HTML: what the template needs beyond the data (charts, links, form state).
    context: dict[str, Any] = field(default_factory=dict)
    status: int = 200
    # Only for HTML: a page that answers a browser by sending it elsewhere.
    redirect: str | None = None


Loader = Callable[[Request, Rendering], Awaitable[Answer]]


@dataclass(frozen=True)
class Page:
    """A page type: its function, its template (None: no HTML) and whether it has a CSV table."""

    load: Loader
    template: str | None = None
    table: bool = False

    @property
    def renderings(self) -> tuple[Rendering, ...]:
        available = {"html": self.template is not None, "json": True, "csv": self.table}
        return tuple(r for r in RENDERINGS if available[r])

    def route(self, path: str, methods: Sequence[str] = ("GET",), access: Access = "read") -> Route:
        """The page at `path`, rendered by default as that URL family's rendering; `access`
        says who may use it (auth.authorize: by default viewers read, admins also write)."""
        offered = self.renderings
        default = default_rendering(path)
        if default not in offered:
            default = "json"

        async def endpoint(request: Request) -> Response:
            rendering = negotiate(request, offered, default)
            response = await self.respond(request, await self.load(request, rendering), rendering)
            response.headers.add_vary_header("Accept")
            return response

        guarded = login_required(endpoint, access)
        return Route(path, guarded, methods=list(methods), name=f"{self.load.__name__}:{path}")

    async def respond(self, request: Request, answer: Answer, rendering: Rendering) -> Response:
        if rendering == "html" and self.template is not None:
            if answer.redirect is not None:
                return RedirectResponse(answer.redirect, status_code=303)
            # Off the event loop: a page of many thousand rows takes seconds to render, and
            # POST /e must keep answering meanwhile (docs/design.md §3).
            return await render_off_loop(
                request, self.template, {**answer.data, **answer.context}, status_code=answer.status
            )
        if rendering == "csv" and answer.table is not None:
            table = answer.table
            # Streamed in chunks; a synchronous iterator, so Starlette writes each chunk in a
            # worker thread and the event loop is never held by a large table.
            return StreamingResponse(
                _csv_chunks(table),
                status_code=answer.status,
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="{table.filename}.csv"'},
            )
        # Encoded in a worker thread too: the JSON of a large table is megabytes.
        return await run_in_threadpool(JSONResponse, answer.data, status_code=answer.status)


def _csv_chunks(table: Table) -> Iterator[bytes]:
    """The bytes of `csv_text(table.rows, table.columns)`, CSV_CHUNK_ROWS rows at a time."""
    header = csv_text([], table.columns)
    yield header.encode()
    rows = table.rows
    for start in range(0, len(rows), CSV_CHUNK_ROWS):
        # Each chunk is written with its own header line, dropped here: one CSV writer for all.
        yield csv_text(rows[start : start + CSV_CHUNK_ROWS], table.columns)[len(header) :].encode()


def page(template: str | None = None, table: bool = False) -> Callable[[Loader], Page]:
    """Make a page type of a function `(request, rendering) -> Answer`."""

    def make(load: Loader) -> Page:
        return Page(load, template, table)

    return make


#: The request scope's key holding a share link's base path (`/share/{token}`) on a shared page.
SHARE_SCOPE = "ctrlens.share"


def site_chrome(request: Request, site: Site, period: Period, tab: str) -> dict[str, Any]:
    """What base.html and the period bar need on every page of one site (HTML only). Under a
    share link (SHARE_SCOPE, set by views/share.py) every link of the chrome stays in the share."""
    key = quote(site.key, safe="")
    shared: str | None = request.scope.get(SHARE_SCOPE)
    return {
        "site": site,
        "period": period,
        "tab": tab,
        "params": dict(request.query_params),
        "period_params": period.query(),
        "presets": PRESET_LABELS,
        "site_url": shared or f"/sites/{key}",
        "api_url": shared or f"/api/sites/{key}",
        # A shared page shows no sign-out, settings, other sites, overlay or API (views/share.py).
        "shared": shared is not None,
        **({"signed_in": False} if shared is not None else {}),
    }


async def error_answer(request: Request, exc: Exception) -> Response:
    """Every error raised by a route, as an answer: the error page for a browser on a dashboard
    page, `{"error": "..."}` with its status (and Retry-After) for everything else."""
    headers: dict[str, str] | None = None
    if isinstance(exc, CtrlensError):
        error = exc
    elif isinstance(exc, HTTPException):
        error = CtrlensError(str(exc.detail), status=exc.status_code)
        headers = dict(exc.headers or {})
    else:
        raise exc
    if wants_html(request):
        response: Response = render(
            request,
            "error.html",
            {"message": error.message},
            status_code=error.status,
            headers=error.headers(headers),
        )
    else:
        response = error_response(error, headers)
    response.headers.add_vary_header("Accept")
    return response
