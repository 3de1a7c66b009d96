"""A site's annotations (`/sites/{site}/annotations` with its forms, `GET/POST
/api/sites/{site}/annotations`, `DELETE /api/sites/{site}/annotations/{id}`): docs/design.md §4
"Around the numbers". Every chart of the site draws them (annotations.py)."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request

from ctrlens.collector.errors import InvalidRequest, NotFound
from ctrlens.collector.storage import Site, Storage
from ctrlens.dashboard import query
from ctrlens.dashboard.annotations import (
    ANNOTATION_COLUMNS,
    MAX_PER_SITE,
    MAX_TEXT,
    MAX_URL,
    NewAnnotation,
    annotation_json,
    legend,
    parse_annotation,
    parse_id,
)
from ctrlens.dashboard.auth import check_csrf
from ctrlens.dashboard.negotiation import Rendering
from ctrlens.dashboard.pages import Answer, Table, page, site_chrome
from ctrlens.dashboard.site_settings import site_timezone


async def _add(storage: Storage, site: Site, note: NewAnnotation) -> dict[str, object]:
    if await storage.annotation_count(site.key) >= MAX_PER_SITE:
        raise InvalidRequest(f"a site holds at most {MAX_PER_SITE:,} annotations: delete old ones first")
    added = await storage.add_annotation(site.key, note.at, note.day, note.text, note.url)
    return annotation_json(added)


@page("annotations.html", table=True)
async def site_annotations(request: Request, rendering: Rendering) -> Answer:
    site = await query.load_site(request)
    storage: Storage = request.app.state.storage
    zone = site_timezone(site)
    error, status = None, 200
    if request.method == "POST" and rendering == "html":
        form = await check_csrf(request)
        try:
            if form.get("delete"):
                await storage.delete_annotation(site.key, parse_id(form["delete"]))
            else:
                # The form's date and optional time are the site's local time.
                when = form.get("date", "").strip()
                if when and form.get("time", "").strip():
                    when = f"{when}T{form['time'].strip()}"
                await _add(storage, site, parse_annotation({**form, "at": when}, zone))
        except InvalidRequest as exc:
            error, status = exc.message, 400
    elif request.method == "POST":
        try:
            body = await request.json()
        except ValueError:
            raise InvalidRequest("body must be JSON") from None
        return Answer(await _add(storage, site, parse_annotation(body)), status=201)
    notes = await storage.annotations(site.key)
    listed = [annotation_json(n) for n in notes]
    table = Table(listed, ANNOTATION_COLUMNS, f"{site.key}-annotations")
    answer = Answer({"site": site.key, "annotations": listed}, table)
    answer.status = status
    if rendering == "html":
        if request.method == "POST" and error is None:
            answer.redirect = f"/sites/{quote(site.key, safe='')}/annotations"
            return answer
        answer.context = {
            **site_chrome(request, site, query.site_period(request, site), "settings"),
            "rows": legend(notes, zone),
            "error": error,
            "zone": zone,
            "max_text": MAX_TEXT,
            "max_url": MAX_URL,
        }
    return answer


@page()
async def annotation(request: Request, rendering: Rendering) -> Answer:
    site = await query.load_site(request)
    id_ = parse_id(request.path_params["id"])
    if not await request.app.state.storage.delete_annotation(site.key, id_):
        raise NotFound(f"no annotation {id_} for site {site.key!r}")
    return Answer({"site": site.key, "deleted": id_})
