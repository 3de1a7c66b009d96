"""The element page applies the overview's source, campaign and device filters to its own numbers
(docs/design.md §4 "Around the numbers"): totals, CTR, rating, the daily chart and the breakdowns
come from `segments`; what `segments` does not keep is null in JSON and "–" on the page. Every
count is what was sent through POST /e, on both backends."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from harness import BROWSER_UA, Server

ORIGIN = "https://shop.example"
PHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
SPRING = "?utm_source=news&utm_campaign=spring"


def view(server: Server, site: str, query: str, clicked: bool, variant: str, phone: bool = False) -> None:
    pageview = uuid.uuid4().hex
    events: list[dict[str, Any]] = [
        {"id": f"{pageview}-i", "type": "impression", "element": "hero", "kind": "cta"}
    ]
    if clicked:
        events.append({"id": f"{pageview}-c", "type": "click", "element": "hero", "kind": "cta"})
    body = {"site": site, "pageview": pageview, "url": f"{ORIGIN}/pricing{query}", "variant": variant,
            "events": events}
    r = server.post(body, ORIGIN, user_agent=PHONE_UA if phone else BROWSER_UA)
    assert r.status_code == 202 and r.json()["accepted"] == len(events), r.text


@pytest.fixture(scope="module")
def site(server: Server) -> str:
    """The hero in 12 page views: 5 from news/"spring" on a desktop (variant A, 3 clicked),
    3 from news/"spring" on a phone (variant B, 1 clicked), 4 direct on a desktop (variant A, none)."""
    key = server.new_site([ORIGIN])
    for i in range(5):
        view(server, key, SPRING, i < 3, "A")
    for i in range(3):
        view(server, key, SPRING, i < 1, "B", phone=True)
    for _ in range(4):
        view(server, key, "", False, "A")
    return key


def element(server: Server, site: str, **params: str) -> Any:
    r = server.client.get(f"/api/sites/{site}/elements/hero", params=params, headers=server.auth)
    assert r.status_code == 200, r.text
    return r.json()


def test_unfiltered_the_page_counts_all_traffic(server: Server, site: str) -> None:
    data = element(server, site)
    s = data["summary"]
    assert (s["impressions"], s["clicks"]) == (12, 4)
    assert s["viewers"] is not None and data["funnel"]


@pytest.mark.parametrize(
    ("params", "counts", "variants"),
    [
        ({"source": "news"}, (8, 4), {"A": (5, 3), "B": (3, 1)}),
        ({"campaign": "spring", "device": "mobile"}, (3, 1), {"B": (3, 1)}),
        ({"device": "desktop"}, (9, 3), {"A": (9, 3)}),
        ({"device": "desktop", "variant": "A", "source": "news"}, (5, 3), {"A": (5, 3)}),
    ],
)
def test_segment_filters_narrow_totals_ctr_chart_and_breakdowns(
    server: Server, site: str, params: dict[str, str], counts: tuple[int, int], variants: dict[str, Any]
) -> None:
    data = element(server, site, **params)
    s = data["summary"]
    impressions, clicks = counts
    assert (s["impressions"], s["clicks"]) == counts
    assert s["ctr"] == pytest.approx(clicks / impressions)
    assert s["ctr_low"] < s["ctr"] < s["ctr_high"]
    assert s["rating"] in ("good", "average", "poor", "insufficient")
    # The daily chart sums to the same counts.
    assert data["interval"] == "day"
    assert sum(p["impressions"] for p in data["series"]) == impressions
    assert sum(p["clicks"] for p in data["series"]) == clicks
    by_variant = {r["value"]: (r["impressions"], r["clicks"]) for r in data["breakdowns"]["variant"]}
    assert by_variant == variants
    assert sum(r["impressions"] for r in data["breakdowns"]["device"]) == impressions
    # What segments do not keep is not available, rather than a number for all traffic.
    assert s["viewers"] is None and s["visitor_ctr"] is None and s["account_ctr"] is None
    assert data["funnel"] == []
    assert data["compare"]["impressions"] == 0


def test_a_segment_without_the_element_is_the_empty_state(server: Server, site: str) -> None:
    data = element(server, site, campaign="fall")
    assert data["found"] is False and data["summary"] is None


def test_the_page_shows_the_filtered_numbers_and_dashes(server: Server, site: str) -> None:
    r = server.client.get(
        f"/sites/{site}/elements/hero", params={"device": "mobile"}, headers=server.auth
    )
    assert r.status_code == 200
    html = r.text
    assert "applies to the overview" not in html
    assert re.search(r"1 clicks / 3 impressions", html), "the mobile counts are shown"
    note = re.search(r'<p class="[^"]*segment-note">(.*?)</p>', html, re.S)
    assert note and "device" in note.group(1) and "mobile" in note.group(1)
    visitor = re.search(r"Visitor CTR</span>\s*<span class=\"stat-value\">(.*?)</span>", html)
    assert visitor and visitor.group(1) == "–"
    # The filter stays on the page's own links (interval, period) and the hourly chart is off.
    assert 'title="a source, campaign or device filter counts whole days">by hour' in html
    assert 'name="device" value="mobile"' in html
