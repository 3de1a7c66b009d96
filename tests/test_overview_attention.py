"""The overview opens on what needs attention (docs/design.md §4 "Around the numbers"): a site
headline, and elements ordered by the size of their problem — the clicks (or conversions) a fix
is worth at the element's own traffic. Seeded through POST /e, on both backends."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest

from dashboard_seed import new_seeder
from harness import Server

_sites: dict[str, str] = {}


def attention_site(server: Server) -> str:
    """600 page views of one page (`page_view`):

    - unseen (cta): present in 500, seen in 50, clicked in 10: not_seen;
    - poor-cta (cta): 400 seen, 2 clicks (0.5%): seen_not_clicked;
    - poor-banner (banner): 600 seen, no click: seen_not_clicked;
    - leaky (cta): 300 seen, 30 clicks, no conversion: clicked_not_converting;
    - good-cta (cta): 300 seen, 30 clicks, 15 conversions of "buy": working;
    - tiny (link): 20 seen, 5 clicks: insufficient.
    """
    if server.url in _sites:
        return _sites[server.url]
    s = new_seeder(server)
    for i in range(600):
        pv = f"pv{i}"
        body = {"site": s.site, "pageview": pv, "url": f"{s.origin}/", "events": page_view(pv, i)}
        r = server.post(body, s.origin, user_agent=f"Mozilla/5.0 (X11; Linux x86_64) visitor/{i}")
        assert r.status_code == 202 and not r.json()["rejected"], r.text
    _sites[server.url] = s.site
    return s.site


def page_view(pv: str, i: int) -> list[dict[str, Any]]:
    """The events of the `i`-th page view, in the order they happened (`ts`)."""
    events: list[dict[str, Any]] = []

    def add(event: str, **fields: Any) -> None:
        events.append({"id": f"{pv}-{len(events)}", "type": event, "ts": 1 + len(events), **fields})

    if i < 500:
        add("pageview", present=["unseen"])
    for element, kind, seen, clicked in (
        ("unseen", "cta", i < 50, i < 10),
        ("poor-cta", "cta", i < 400, i < 2),
        ("poor-banner", "banner", True, False),
        ("leaky", "cta", i < 300, 100 <= i < 130),
        ("good-cta", "cta", i < 300, 200 <= i < 230),
        ("tiny", "link", i < 20, 10 <= i < 15),
    ):
        if seen:
            add("impression", element=element, kind=kind)
        if clicked:
            add("click", element=element)
    if 200 <= i < 215:
        add("conversion", goal="buy")
    return events


PROBLEM_ORDER = ["leaky", "poor-cta", "poor-banner", "unseen", "good-cta", "tiny"]
SITE_RATE = 15 / 77  # attributed conversions / every element's clicks


def test_each_row_carries_the_size_of_its_problem(server: Server) -> None:
    rows = server.elements(attention_site(server))
    assert {name: row["diagnosis"] for name, row in rows.items()} == {
        "unseen": "not_seen",
        "poor-cta": "seen_not_clicked",
        "poor-banner": "seen_not_clicked",
        "leaky": "clicked_not_converting",
        "good-cta": "working",
        "tiny": "insufficient",
    }
    missed = {name: (row["missed_clicks"], row["missed_conversions"]) for name, row in rows.items()}
    assert missed["poor-cta"] == (14.0, 0.0)  # 400 × 4% (a CTA's Good) − 2
    assert missed["poor-banner"] == (6.0, 0.0)  # 600 × 1% − 0
    assert missed["unseen"] == (4.0, 0.0)  # (30% of 500 − 50 seen) × 4%
    assert missed["leaky"] == (None, round(30 * SITE_RATE, 1))  # its 30 clicks at the site's rate
    assert missed["good-cta"] == (0.0, 0.0)
    assert missed["tiny"] == (None, None)


def test_the_page_opens_on_the_biggest_problem_and_scripts_keep_a_to_z(server: Server) -> None:
    site = attention_site(server)
    page = server.client.get(f"/sites/{site}", headers={**server.auth, "Accept": "text/html"})
    assert page.status_code == 200
    shown = re.findall(r'<td class="element essential"><bdi><a href="[^"]*">([^<]+)</a>', page.text)
    assert shown == PROBLEM_ORDER
    assert "14 clicks" in page.text and "6 conversions" in page.text
    assert "the biggest come first, then working elements, then those with too little data" in page.text

    body = server.client.get(f"/api/sites/{site}/elements", headers=server.auth).json()
    assert [r["element"] for r in body["elements"]] == sorted(PROBLEM_ORDER)
    by_problem = server.client.get(f"/api/sites/{site}/elements", params={"sort": "problem"}, headers=server.auth)
    assert [r["element"] for r in by_problem.json()["elements"]] == PROBLEM_ORDER
    smallest = server.client.get(
        f"/api/sites/{site}/elements", params={"sort": "problem", "dir": "asc"}, headers=server.auth
    )
    assert [r["element"] for r in smallest.json()["elements"]][:4] == PROBLEM_ORDER[:4][::-1]

    exported = server.client.get(
        f"/api/sites/{site}/elements", params={"sort": "problem", "format": "csv"}, headers=server.auth
    )
    table = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["element"] for r in table] == PROBLEM_ORDER
    assert (table[1]["missed_clicks"], table[5]["missed_clicks"]) == ("14.0", "")


def test_the_headline_sums_the_site(server: Server) -> None:
    site = attention_site(server)
    body = server.client.get(f"/api/sites/{site}/elements", headers=server.auth).json()
    headline = body["headline"]
    impressions = 50 + 400 + 600 + 300 + 300 + 20
    assert headline["impressions"] == {"value": impressions, "previous": 0, "change_rel": None}
    assert headline["clicks"]["value"] == 77
    assert headline["ctr"]["value"] == pytest.approx(77 / impressions)
    assert headline["ctr"]["low"] < 77 / impressions < headline["ctr"]["high"]
    assert headline["ctr"]["change_abs"] is None and headline["ctr"]["change_reliable"] is False
    assert headline["conversions"] == {"value": 15, "previous": 0, "change_rel": None}
    page = server.client.get(f"/sites/{site}", headers={**server.auth, "Accept": "text/html"})
    section = page.text[page.text.index('aria-label="Headline"') :]
    assert f"{impressions:,}" in section and "Conversions (buy)" in section
