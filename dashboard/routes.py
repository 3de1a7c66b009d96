"""Every dashboard URL. A page type is served under its `/sites/...` URL (HTML by default) and
its `/api/...` twin (JSON by default) by the same page function, so they cannot drift apart."""

from __future__ import annotations

from starlette.routing import Route

from ctrlens.dashboard.openapi import openapi
from ctrlens.dashboard.views import (
    accounts,
    alerts,
    element,
    goals,
    overlay,
    overview,
    settings,
    share,
    signin,
    sites,
    users,
    variants,
)
from ctrlens.dashboard.views import (
    annotations as annotation_views,  # `annotations` is the __future__ feature here
)

# Element ids may hold "/", so they are `path` parameters; the longer routes come first.
api_routes: list[Route] = [
    openapi.route("/api/openapi.json"),
    sites.sites.route("/api/sites", methods=("GET", "POST")),
    sites.site.route("/api/sites/{site}", methods=("DELETE",)),
    overview.elements.route("/api/sites/{site}/elements"),
    element.series.route("/api/sites/{site}/elements/{element:path}/series"),
    element.element_breakdown.route("/api/sites/{site}/elements/{element:path}/breakdown"),
    element.element.route("/api/sites/{site}/elements/{element:path}"),
    variants.variants.route("/api/sites/{site}/variants"),
    variants.compare.route("/api/sites/{site}/compare"),
    accounts.accounts.route("/api/sites/{site}/accounts"),
    settings.settings.route("/api/sites/{site}/settings", methods=("GET", "PUT")),
    # Alert settings hold webhook URLs (secrets, for Slack): admins only, reading too.
    alerts.alerts.route("/api/sites/{site}/alerts", methods=("GET", "PUT"), access="admin"),
    alerts.test_alert.route("/api/sites/{site}/alerts/test", methods=("POST",), access="admin"),
    goals.goals.route("/api/sites/{site}/goals", methods=("GET", "POST")),
    goals.goal.route("/api/sites/{site}/goals/{goal:path}", methods=("DELETE",)),
    annotation_views.site_annotations.route("/api/sites/{site}/annotations", methods=("GET", "POST")),
    annotation_views.annotation.route("/api/sites/{site}/annotations/{id}", methods=("DELETE",)),
    # Share links: admins only, listing too (docs/design.md §4 "Access").
    share.share_links.route("/api/sites/{site}/share-links", methods=("GET", "POST"), access="admin"),
    share.share_link.route("/api/sites/{site}/share-links/{id}", methods=("DELETE",), access="admin"),
    settings.live.route("/api/sites/{site}/live"),
    settings.rejections.route("/api/sites/{site}/rejections"),
]

page_routes: list[Route] = [
    Route("/login", signin.login, methods=["GET", "POST"]),
    Route("/logout", signin.logout, methods=["POST"]),
    sites.sites.route("/", methods=("GET", "POST")),
    users.users.route("/users", methods=("GET", "POST"), access="admin"),
    users.account.route("/account", methods=("GET", "POST"), access="own"),
    overview.elements.route("/sites/{site}"),
    element.element.route("/sites/{site}/elements/{element:path}"),
    variants.variants.route("/sites/{site}/variants"),
    accounts.accounts.route("/sites/{site}/accounts"),
    # The settings pages (settings, goals) are for admins; viewers read the JSON of settings.
    settings.settings.route("/sites/{site}/settings", methods=("GET", "POST"), access="admin"),
    sites.remove.route("/sites/{site}/remove", methods=("POST",)),
    share.share_links.route("/sites/{site}/share-links", methods=("POST",), access="admin"),
    alerts.alerts.route("/sites/{site}/alerts", methods=("GET", "POST"), access="admin"),
    alerts.test_alert.route("/sites/{site}/alerts/test", methods=("POST",), access="admin"),
    goals.goals.route("/sites/{site}/goals", methods=("GET", "POST"), access="admin"),
    annotation_views.site_annotations.route(
        "/sites/{site}/annotations", methods=("GET", "POST"), access="admin"
    ),
    # "Open on page": a redirect for people, `{"url": ...}` for `?format=json` (docs/design.md §4).
    Route("/sites/{site}/overlay", overlay.open_on_page),
]

# The live overlay's numbers: read by a site's own pages with an overlay token, never a session.
overlay_routes: list[Route] = [Route("/overlay/{site}", overlay.numbers, methods=["GET", "OPTIONS"])]

# Share links: a site's overview, element pages and variants, read-only, without sign-in.
share_routes: list[Route] = share.share_routes(overview.elements, element.element, variants.variants)

routes: list[Route] = [*api_routes, *page_routes, *overlay_routes, *share_routes]
