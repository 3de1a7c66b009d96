"""Annotations on the charts, in Chromium (docs/design.md §4 "Around the numbers"): a deploy hook
adds one through the API; the site owner then sees it as a numbered marker on the element's
chart, right on the day's point, listed under the chart with its link, and as a tick on the
overview's sparkline. Hostile text shows as text and runs nothing. Both backends."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from dashboard_seed import new_seeder
from harness import Server, sign_in

HOSTILE = '<img src=x onerror=alert(1)><script>alert("x")</script>'


def serious_violations(page: Page) -> list[str]:
    """axe-core's serious and critical findings on the page (as tests/test_accessibility.py)."""
    results = Axe().run(page).response
    return [
        f"{v['id']}: {node['target']}"
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
        for node in v["nodes"]
    ]


def centre_x(page: Page, selector: str) -> float:
    box = page.locator(selector).bounding_box()
    assert box is not None, selector
    return box["x"] + box["width"] / 2


def test_an_annotation_added_by_api_is_marked_on_the_element_chart_and_the_overview(
    server: Server, page: Page
) -> None:
    seeder = new_seeder(server)
    seeder.many("hero", "cta", 30, 3)
    site = seeder.site
    api = f"/api/sites/{site}/annotations"
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    r = server.client.post(api, json={"text": HOSTILE, "at": yesterday}, headers=server.auth)
    assert r.status_code == 201, r.text
    r = server.client.post(api, json={"text": "Deployed v3", "url": "https://git.example/v3"}, headers=server.auth)
    assert r.status_code == 201, r.text
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    sign_in(page, server, f"/sites/{site}/elements/hero?period=7d")
    markers = page.locator("svg.chart g.annotation")
    expect(markers).to_have_count(2)
    deploy = markers.nth(1)
    expect(deploy).to_be_visible()
    expect(deploy.locator("text")).to_have_text("2")
    expect(deploy).to_have_attribute("aria-label", re.compile(r"Deployed v3"))
    assert "Deployed v3" in (deploy.locator("title").text_content() or "")
    # The markers are drawn in the chart itself, so today's marker stands on today's point (the last one).
    layer, chart = page.locator("svg.chart:has(g.annotation)").bounding_box(), page.locator("svg.chart").bounding_box()
    assert layer is not None and chart is not None
    assert abs(layer["width"] - chart["width"]) < 1 and abs(layer["height"] - chart["height"]) < 1
    marker_x = centre_x(page, "svg.chart g.annotation >> nth=1 >> line >> nth=0")
    assert abs(marker_x - centre_x(page, "svg.chart circle.point >> nth=-1")) < 1.5

    legend = page.locator(".chart-card .annotation-legend li")
    expect(legend).to_have_count(2)
    expect(legend.nth(0)).to_contain_text(HOSTILE)  # shown as text, not markup
    expect(legend.nth(1)).to_contain_text("Deployed v3")
    expect(legend.nth(1).locator("a")).to_have_attribute("href", "https://git.example/v3")
    assert page.locator(".chart-card img[src=x]").count() == 0
    assert serious_violations(page) == []

    # A phone gets the narrow drawing with its own markers.
    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.locator("svg.phone-chart g.annotation").nth(1)).to_be_visible()
    expect(page.locator("svg.chart g.annotation").first).to_be_hidden()
    page.set_viewport_size({"width": 1280, "height": 900})

    page.goto(f"{server.url}/sites/{site}?period=7d")
    ticks = page.locator("svg.sparkline rect.annotation-tick")
    expect(ticks).to_have_count(2)
    expect(ticks.first).to_be_visible()
    expect(page.locator(".annotation-legend li").nth(1)).to_contain_text("Deployed v3")
    summary = page.locator("table.elements svg.sparkline title").first.text_content() or ""
    assert summary.endswith("2 annotated points"), summary
    assert serious_violations(page) == []

    # Deleted from the Annotations page (the form, with its CSRF token): gone from the chart.
    page.goto(f"{server.url}/sites/{site}/annotations")
    page.get_by_role("button", name="Delete annotation: Deployed v3").click()
    expect(page.locator("table.annotations tbody tr")).to_have_count(1)
    assert serious_violations(page) == []
    page.goto(f"{server.url}/sites/{site}/elements/hero?period=7d")
    expect(page.locator("svg.chart g.annotation")).to_have_count(1)
    assert dialogs == []
