"""Filters in a real browser (docs/design.md §4 "Around the numbers"): a breakdown row on the
element page applies its filter to the overview, the URL holds it, every table on the overview
changes, and the filter bar's × takes it off again. Both backends."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect
from test_filters import FALL, SPRING, view

from harness import Server, sign_in


@pytest.fixture
def console_errors(page: Page) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(message: ConsoleMessage) -> None:
        if message.type == "error":
            seen.append(message.text)

    page.on("console", record)
    yield seen
    assert seen == []


@pytest.fixture(scope="module")
def site(server: Server) -> str:
    """Desktop page views from news ("Spring Sale"), phone ones from news ("fall") and direct
    desktop ones: hero 15 impressions (4 on a phone), nav 9 (4 on a phone)."""
    key = server.new_site(["https://shop.example"])
    for i in range(6):
        view(server, key, SPRING, ["hero"], ["hero"] if i < 3 else [], variant="A")
    for i in range(4):
        view(server, key, FALL, ["hero", "nav"], ["hero", "nav"] if i == 0 else [], variant="A", phone=True)
    for i in range(5):
        view(server, key, "", ["hero", "nav"], ["nav"] if i < 2 else [], variant="B")
    return key


def stat(page: Page, label: str) -> str:
    return page.locator(".stats .stat").filter(has=page.locator(".stat-label", has_text=re.compile(f"^{label}$"))).locator(
        ".stat-value"
    ).inner_text()


def table(page: Page) -> dict[str, tuple[str, str]]:
    """Element -> (impressions, sparkline summary), as the elements table shows them."""
    shown = {}
    for tr in page.locator("table.elements tbody tr").all():
        name = tr.locator("td.element a").first.inner_text()
        shown[name] = (tr.locator("td.num").first.inner_text(), tr.locator("svg.sparkline title").text_content())
    return shown


def test_a_breakdown_row_filters_every_table_and_the_bar_removes_it(
    page: Page, server: Server, site: str, console_errors: list[str]
) -> None:
    sign_in(page, server, f"/sites/{site}?period=7d&sort=element")
    assert stat(page, "Impressions") == "24"
    before = table(page)
    assert {name: shown[0] for name, shown in before.items()} == {"hero": "15", "nav": "9"}
    expect(page.locator(".filter-bar")).to_have_count(0)

    page.locator("table.elements td.element a", has_text="hero").click()
    expect(page).to_have_url(re.compile(f"/sites/{site}/elements/hero"))
    device = page.locator(".breakdown").filter(has=page.locator("h3", has_text="Device"))
    device.locator("a.apply-filter", has_text="mobile").click()

    # The overview, filtered: the URL holds the filter and keeps the period.
    expect(page).to_have_url(re.compile(rf"/sites/{site}\?.*device=mobile"))
    assert "period=7d" in page.url
    expect(page.locator(".filter-chip[data-filter=device]")).to_contain_text("mobile")
    expect(page.locator(".segment-note")).to_be_visible()
    assert stat(page, "Impressions") == "8"
    filtered = table(page)
    assert {name: shown[0] for name, shown in filtered.items()} == {"hero": "4", "nav": "4"}
    for name in ("hero", "nav"):
        assert filtered[name][1] != before[name][1], "the sparkline did not change"
    # The element links keep the filter.
    assert "device=mobile" in page.locator("table.elements td.element a", has_text="hero").get_attribute("href")

    # A second breakdown row adds its filter to the first. The element page applies the device
    # filter to its own numbers too: its campaign breakdown holds the phones' campaign only.
    page.locator("table.elements td.element a", has_text="hero").click()
    expect(page.locator(".segment-note")).to_contain_text("device")
    campaign = page.locator(".breakdown").filter(has=page.locator("h3", has_text="utm_campaign"))
    expect(campaign.locator("a.apply-filter", has_text="spring sale")).to_have_count(0)
    campaign.locator("a.apply-filter", has_text="fall").click()
    expect(page.locator(".filter-chip[data-filter=campaign]")).to_contain_text("fall")
    expect(page.locator(".filter-chip[data-filter=device]")).to_contain_text("mobile")
    assert stat(page, "Impressions") == "8"
    assert {name: shown[0] for name, shown in table(page).items()} == {"hero": "4", "nav": "4"}

    # × takes one filter off, then the other: the page is back to what it was.
    page.locator(".filter-chip[data-filter=campaign] a.filter-remove").click()
    expect(page.locator(".filter-chip[data-filter=campaign]")).to_have_count(0)
    assert stat(page, "Impressions") == "8"
    page.locator(".filter-chip[data-filter=device] a.filter-remove").click()
    expect(page).not_to_have_url(re.compile("device="))
    expect(page.locator(".filter-bar")).to_have_count(0)
    expect(page.locator(".segment-note")).to_have_count(0)
    assert stat(page, "Impressions") == "24"
    assert table(page) == before
