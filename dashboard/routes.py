"""Every dashboard URL. A page type is served under its `/sites/...` URL (HTML by default) and
its `/api/...` twin (JSON by default) by the same page function, so they cannot drift apart."""

from __future__ import annotations

from starlette.routing import Route

from ctrlens.dashboard.openapi import openapi
from ctrlens.dashboard.views import (
    accounts,
    element,
    goals,
    overlay,
    overview,
    settings,
    signin,
    sites,
    variants,
)

# Element ids may hold "/", so they are `path` parameters; the longer routes come first.
api_routes: list[Route] = [
    openapi.route("/api/openapi.json"),
    sites.sites.route("/api/sites", methods=("GET", "POST")),
    overview.elements.route("/api/sites/{site}/elements"),
    element.series.route("/api/sites/{site}/elements/{element:path}/series"),
    element.element_breakdown.route("/api/sites/{site}/elements/{element:path}/breakdown"),
    element.element.route("/api/sites/{site}/elements/{element:path}"),
    variants.variants.route("/api/sites/{site}/variants"),
    variants.compare.route("/api/sites/{site}/compare"),
    accounts.accounts.route("/api/sites/{site}/accounts"),
    settings.settings.route("/api/sites/{site}/settings", methods=("GET", "PUT")),
    goals.goals.route("/api/sites/{site}/goals", methods=("GET", "POST")),
    goals.goal.route("/api/sites/{site}/goals/{goal:path}", methods=("DELETE",)),
    settings.live.route("/api/sites/{site}/live"),
    settings.rejections.route("/api/sites/{site}/rejections"),
]

page_routes: list[Route] = [
    Route("/login", signin.login, methods=["GET", "POST"]),
    Route("/logout", signin.logout, methods=["POST"]),
    sites.sites.route("/"),
    overview.elements.route("/sites/{site}"),
    element.element.route("/sites/{site}/elements/{element:path}"),
    variants.variants.route("/sites/{site}/variants"),
    accounts.accounts.route("/sites/{site}/accounts"),
    settings.settings.route("/sites/{site}/settings", methods=("GET", "POST")),
    goals.goals.route("/sites/{site}/goals", methods=("GET", "POST")),
    # "Open on page": a redirect for people, `{"url": ...}` for `?format=json` (docs/design.md §4).
    Route("/sites/{site}/overlay", overlay.open_on_page),
]

# The live overlay's numbers: read by a site's own pages with an overlay token, never a session.
overlay_routes: list[Route] = [Route("/overlay/{site}", overlay.numbers, methods=["GET", "OPTIONS"])]

routes: list[Route] = [*api_routes, *page_routes, *overlay_routes]
