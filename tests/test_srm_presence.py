"""The split check counts page views that only report presence (docs/design.md §3 "Presence", §4
"Variant verdicts"): a page view whose tagged elements were never seen still reached its variant,
so it counts once in the page views of that variant and page, whichever of its report and its
impressions comes first. Both backends, through the real server."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from scipy import stats

from harness import Server

ORIGIN = "https://shop.example"


def _pageview(server: Server, site: str, variant: str, events: list[dict[str, Any]], pageview: str = "") -> str:
    pageview = pageview or uuid.uuid4().hex[:20]
    for i, e in enumerate(events):
        e.setdefault("id", f"{pageview}-{e['type']}-{i}")
    body = {"site": site, "pageview": pageview, "url": f"{ORIGIN}/", "variant": variant, "events": events}
    r = server.post(body, ORIGIN)
    assert r.status_code == 202, r.text
    return pageview


def _seen(server: Server, site: str, variant: str, pageview: str = "") -> str:
    return _pageview(server, site, variant, [
        {"type": "pageview", "present": ["hero"]},
        {"type": "impression", "element": "hero", "kind": "cta"},
    ], pageview)


def _present_only(server: Server, site: str, variant: str) -> str:
    return _pageview(server, site, variant, [{"type": "pageview", "present": ["hero"]}])


def _compare(server: Server, site: str) -> dict[str, Any]:
    r = server.client.get(f"/api/sites/{site}/compare", params={"element": "hero"}, headers=server.auth)
    assert r.status_code == 200, r.text
    return r.json()


def test_presence_only_page_views_count_for_the_split_check(server: Server):
    site = server.new_site([ORIGIN])
    for variant in "AB":
        for _ in range(30):
            _seen(server, site, variant)
    c = _compare(server, site)
    assert (c["control"]["pageviews"], c["treatment"]["pageviews"]) == (30, 30)
    assert c["srm_p_value"] == pytest.approx(1.0)

    # B's page views that never brought the element into view: they reached B all the same.
    waiting = [_present_only(server, site, "B") for _ in range(25)]
    for _ in range(5):
        _present_only(server, site, "A")
    c = _compare(server, site)
    assert (c["control"]["pageviews"], c["treatment"]["pageviews"]) == (35, 55)
    assert c["srm_p_value"] == pytest.approx(stats.chisquare([35, 55]).pvalue, abs=1e-9)
    assert (c["control"]["impressions"], c["treatment"]["impressions"]) == (30, 30)

    # Their impressions arriving later, and the reports sent again: no page view counts twice.
    for pageview in waiting[:10]:
        _seen(server, site, "B", pageview)
        _pageview(server, site, "B", [{"type": "pageview", "present": ["hero"]}], pageview)
    c = _compare(server, site)
    assert (c["control"]["pageviews"], c["treatment"]["pageviews"]) == (35, 55)
    assert c["treatment"]["impressions"] == 40
    assert c["srm_p_value"] == pytest.approx(stats.chisquare([35, 55]).pvalue, abs=1e-9)
