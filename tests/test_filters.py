"""Filters that narrow the whole overview (docs/design.md §4 "Around the numbers"): source,
utm_campaign, device and variant, alone and combined, in the URL, on both backends; every count
is what was sent through POST /e."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import pytest
from test_migrations import DAY, TS_2, _make_version_1
from test_storage import event

from ctrlens.collector.storage import Storage, WriteBatch, open_storage
from ctrlens.collector.storage.segments import Segment
from harness import BROWSER_UA, Server, private_loop

ORIGIN = "https://shop.example"
PHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)


def view(
    server: Server,
    site: str,
    query: str,
    seen: list[str],
    clicked: list[str] | None = None,
    variant: str | None = None,
    phone: bool = False,
    referrer: str | None = None,
) -> str:
    """One page view of /pricing with `query`, its impressions and clicks in one batch."""
    pageview = uuid.uuid4().hex
    events: list[dict[str, Any]] = [
        {"id": f"{pageview}-i-{e}", "type": "impression", "element": e, "kind": "cta"} for e in seen
    ]
    events += [{"id": f"{pageview}-c-{e}", "type": "click", "element": e, "kind": "cta"} for e in clicked or []]
    body: dict[str, Any] = {"site": site, "pageview": pageview, "url": f"{ORIGIN}/pricing{query}", "events": events}
    if variant:
        body["variant"] = variant
    if referrer:
        body["referrer"] = referrer
    r = server.post(body, ORIGIN, user_agent=PHONE_UA if phone else BROWSER_UA)
    assert r.status_code == 202, r.text
    assert r.json()["accepted"] == len(events)
    return pageview


def late_click(server: Server, site: str, pageview: str, query: str, element: str) -> None:
    """A click that arrives in a later batch than its impression (the cell is read back)."""
    body = {
        "site": site, "pageview": pageview, "url": f"{ORIGIN}/pricing{query}",
        "events": [{"id": f"{pageview}-late-{element}", "type": "click", "element": element, "kind": "cta"}],
    }
    assert server.post(body, ORIGIN).status_code == 202


SPRING = "?utm_source=news&utm_campaign=Spring+Sale"
FALL = "?utm_source=news&utm_campaign=fall"


@pytest.fixture(scope="module")
def site(server: Server) -> str:
    """15 page views of /pricing, each with the hero:
    - 6 from news / "Spring Sale" on a desktop, variant A: 3 clicked the hero, one of them in a
      later batch;
    - 4 from news / "fall" on a phone, variant A, with the nav too: 1 clicked the hero, 2 the nav;
    - 5 direct (no campaign) on a desktop, variant B, with the nav: none clicked the hero, 1 the nav.
    """
    key = server.new_site([ORIGIN])
    for i in range(6):
        pv = view(server, key, SPRING, ["hero"], ["hero"] if i < 2 else [], variant="A")
        if i == 2:
            late_click(server, key, pv, SPRING, "hero")
    for i in range(4):
        view(server, key, FALL, ["hero", "nav"], (["hero"] if i == 0 else []) + (["nav"] if i < 2 else []),
             variant="A", phone=True)
    for i in range(5):
        view(server, key, "", ["hero", "nav"], ["nav"] if i == 0 else [], variant="B")
    return key


def counts(server: Server, site: str, **params: str) -> dict[str, tuple[int, int]]:
    rows = server.elements(site, **params)
    return {name: (row["impressions"], row["clicks"]) for name, row in rows.items()}


def overview(server: Server, site: str, **params: str) -> dict[str, Any]:
    r = server.client.get(f"/api/sites/{site}/elements", params=params, headers=server.auth)
    assert r.status_code == 200, r.text
    return r.json()


def test_without_filters_every_page_view_counts(server: Server, site: str) -> None:
    assert counts(server, site) == {"hero": (15, 4), "nav": (9, 3)}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"source": "news"}, {"hero": (10, 4), "nav": (4, 2)}),
        ({"source": "(direct)"}, {"hero": (5, 0), "nav": (5, 1)}),
        # utm_campaign is lower-cased and trimmed like utm_source.
        ({"campaign": "spring sale"}, {"hero": (6, 3)}),
        ({"campaign": "fall"}, {"hero": (4, 1), "nav": (4, 2)}),
        ({"campaign": "(none)"}, {"hero": (5, 0), "nav": (5, 1)}),
        ({"device": "mobile"}, {"hero": (4, 1), "nav": (4, 2)}),
        ({"device": "desktop"}, {"hero": (11, 3), "nav": (5, 1)}),
        ({"device": "tablet"}, {}),
        ({"variant": "B"}, {"hero": (5, 0), "nav": (5, 1)}),
        # Combined: every filter narrows the same rows.
        ({"source": "news", "device": "desktop"}, {"hero": (6, 3)}),
        ({"source": "news", "variant": "A", "device": "mobile"}, {"hero": (4, 1), "nav": (4, 2)}),
        ({"source": "news", "variant": "B"}, {}),
        ({"campaign": "(none)", "variant": "B", "device": "desktop"}, {"hero": (5, 0), "nav": (5, 1)}),
        ({"source": "news", "campaign": "fall", "kind": "cta"}, {"hero": (4, 1), "nav": (4, 2)}),
        ({"device": "desktop", "page": "/pricing"}, {"hero": (11, 3), "nav": (5, 1)}),
        ({"device": "desktop", "page": "/other"}, {}),
    ],
)
def test_each_filter_and_their_combinations_count_what_was_sent(
    server: Server, site: str, params: dict[str, str], expected: dict[str, tuple[int, int]]
) -> None:
    assert counts(server, site, **params) == expected


def test_grouped_rows_and_totals_follow_the_filter(server: Server, site: str) -> None:
    data = overview(server, site, source="news", group="variant")
    assert {(r["element"], r["variant"]): r["impressions"] for r in data["elements"]} == {
        ("hero", "A"): 10, ("nav", "A"): 4,
    }
    assert data["totals"]["impressions"] == 14
    assert data["totals"]["clicks"] == 6
    assert data["total_rows"] == 2


def test_what_segments_cannot_answer_is_null_not_a_wrong_number(server: Server, site: str) -> None:
    plain = overview(server, site)["elements"]
    assert all(r["viewers"] is not None and r["visitor_ctr"] is not None for r in plain)
    data = overview(server, site, device="mobile")
    for row in data["elements"]:
        for column in ("viewers", "clickers", "visitor_ctr", "present", "viewability_rate", "conversions"):
            assert row[column] is None, (column, row)
        assert row["ctr"] == row["clicks"] / row["impressions"]
    assert data["totals"]["conversions"] is None


def test_the_sparklines_follow_the_filter(server: Server, site: str) -> None:
    today = overview(server, site, include="sparkline", period="7d")
    mobile = overview(server, site, include="sparkline", period="7d", device="mobile")
    hero = {r["element"]: r for r in today["elements"]}["hero"]["sparkline"]
    hero_mobile = {r["element"]: r for r in mobile["elements"]}["hero"]["sparkline"]
    assert hero[-1] == pytest.approx(4 / 15)
    assert hero_mobile[-1] == pytest.approx(1 / 4)


def test_the_previous_period_is_filtered_too(server: Server, site: str) -> None:
    data = overview(server, site, source="news", period="7d")
    assert all(r["previous_impressions"] == 0 for r in data["elements"])


def test_csv_exports_the_filtered_rows(server: Server, site: str) -> None:
    r = server.client.get(
        f"/api/sites/{site}/elements", params={"campaign": "fall", "format": "csv"}, headers=server.auth
    )
    assert r.status_code == 200
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert {row["element"]: row["impressions"] for row in rows} == {"hero": "4", "nav": "4"}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"device": "phone"}, "device must be one of"),
        ({"source": "x" * 129}, "source must be at most 128"),
        ({"campaign": "a\x07b"}, "campaign must be at most 128 printable"),
        ({"q": "y" * 200}, "q must be at most 128"),
    ],
)
def test_bad_filter_values_are_a_readable_400(server: Server, site: str, params: dict[str, str], message: str) -> None:
    r = server.client.get(f"/api/sites/{site}/elements", params=params, headers=server.auth)
    assert r.status_code == 400
    assert message in r.json()["error"]


def test_the_element_page_breaks_down_by_campaign(server: Server, site: str) -> None:
    r = server.client.get(f"/api/sites/{site}/elements/hero", headers=server.auth)
    assert r.status_code == 200
    by = {row["value"]: (row["impressions"], row["clicks"]) for row in r.json()["breakdowns"]["campaign"]}
    assert by == {"spring sale": (6, 3), "fall": (4, 1), "": (5, 0)}
    r = server.client.get(
        f"/api/sites/{site}/elements/hero/breakdown", params={"by": "campaign", "variant": "B"}, headers=server.auth
    )
    assert {row["value"]: row["impressions"] for row in r.json()["rows"]} == {"": 5}


def test_the_page_shows_the_filters_with_a_remove_link_and_keeps_them_on_element_links(
    server: Server, site: str
) -> None:
    r = server.client.get(
        f"/sites/{site}", params={"source": "news", "device": "mobile"}, headers={"Accept": "text/html", **server.auth}
    )
    assert r.status_code == 200, r.text
    html = r.text
    assert 'data-filter="source"' in html and 'data-filter="device"' in html
    # Removing the source keeps the device.
    assert f'href="/sites/{site}?device=mobile"' in html
    assert f'href="/sites/{site}?source=news"' in html
    assert "not available" in html
    assert "source=news" in html.split('href="/sites/' + site + "/elements/hero?")[1].split('"')[0]


@private_loop
async def test_an_upgraded_database_fills_segments_from_the_page_views_it_holds(fresh_db: str) -> None:
    """Schema version 10 rebuilds `segments` from `pageview_elements` and the raw clicks; a click
    arriving after the upgrade lands in its impression's segment."""
    await _make_version_1(fresh_db)
    storage: Storage = await open_storage(fresh_db)
    try:
        def by_element(cells: list[dict[str, Any]]) -> dict[str, tuple[int, int, int]]:
            return {c["element"]: (c["impressions"], c["clicks"], c["total_clicks"]) for c in cells}

        news = Segment(source="news", device="desktop", campaign="")
        assert by_element(await storage.segment_cells("shop", DAY, DAY + 1, news)) == {
            "hero": (2, 1, 1), "nav": (1, 0, 0),
        }
        assert by_element(await storage.segment_cells("shop", DAY + 1, DAY + 1, news)) == {
            "hero": (1, 0, 0), "nav": (1, 0, 0),
        }
        assert await storage.segment_cells("shop", DAY, DAY + 1, Segment(device="mobile")) == []
        await storage.write(WriteBatch([
            event("e5", "click", pageview="pv2", ts_server=TS_2 + 60_000, account="acme", source="news"),
        ]))
        assert by_element(await storage.segment_cells("shop", DAY + 1, DAY + 1, news))["hero"] == (1, 1, 1)
    finally:
        await storage.close()


def test_a_filtered_overview_of_a_site_with_goals_shows_no_conversions_card(server: Server) -> None:
    key = server.new_site([ORIGIN])
    r = server.client.post(f"/api/sites/{key}/goals", json={"name": "signup"}, headers=server.auth)
    assert r.status_code == 201, r.text
    view(server, key, SPRING, ["hero"], ["hero"], variant="A")
    plain = server.client.get(f"/sites/{key}", headers=server.auth)
    assert plain.status_code == 200 and 'data-figure="conversions"' in plain.text
    # The funnel is not kept per campaign: the card goes, the page still answers.
    page = server.client.get(f"/sites/{key}", params={"campaign": "spring sale"}, headers=server.auth)
    assert page.status_code == 200, page.text
    assert 'data-figure="conversions"' not in page.text and 'data-figure="impressions"' in page.text
