"""Choosing a comparison range in the dashboard (docs/design.md §4 "Around the numbers"): real
Chromium, a real server whose clock puts page views on known days (`CTRLENS_CLOCK_FILE`)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page, expect

from dashboard_seed import new_seeder
from harness import Databases, Server, sign_in


@pytest.fixture(scope="module")
def dated(databases: Databases, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    """hero (cta): 200 views / 4 clicks on 10 Jan 2025 (2%), 200 / 12 on 10 Feb 2025 (6%)."""
    clock = tmp_path_factory.mktemp("clock") / "now_ms"
    srv = Server(databases.new("sqlite"), env={"CTRLENS_CLOCK_FILE": str(clock)}).start()
    s = new_seeder(srv)
    for month, clicks in ((1, 4), (2, 12)):
        clock.write_text(str(int(datetime(2025, month, 10, 12, tzinfo=UTC).timestamp() * 1000)))
        s.many("hero", "cta", 200, clicks)
    clock.write_text("")
    yield srv, s.site
    srv.stop()


def test_a_custom_comparison_changes_the_url_and_every_vs_figure(dated: tuple[Server, str], page: Page) -> None:
    server, site = dated
    sign_in(page, server, f"/sites/{site}?from=2025-02-10&to=2025-02-10&kind=cta")
    hero = page.locator("table.elements tbody tr").filter(has=page.locator('td.element a:text-is("hero")'))
    # Against the day before (the default) there is nothing to compare with.
    expect(hero.locator("td.change-cell")).to_have_text("–")
    expect(page.locator(".compare-label")).to_have_text("vs 9 Feb 2025")
    expect(page.locator('[data-figure="ctr"] .headline-vs')).to_contain_text("–")

    page.fill("input[name=compare_from]", "2025-01-10")
    page.fill("input[name=compare_to]", "2025-01-10")
    page.click("button[name=compare][value=custom]")

    expect(page).to_have_url(re.compile(r"compare=custom"))
    url = page.url
    for kept in ("from=2025-02-10", "to=2025-02-10", "kind=cta", "compare_from=2025-01-10", "compare_to=2025-01-10"):
        assert kept in url, url
    expect(page.locator(".compare-label")).to_have_text("vs 10 Jan 2025")
    expect(hero.locator("td.change-cell")).to_have_text("▲ +200%")  # 2% then, 6% now
    expect(page.locator('[data-figure="ctr"] .headline-vs')).to_contain_text("+200%")
    expect(page.locator('[data-figure="clicks"] .headline-vs')).to_contain_text("+200%")  # 12 vs 4

    # The element page keeps the comparison and compares with the same day.
    hero.locator("td.element a").first.click()
    expect(page).to_have_url(re.compile(r"/elements/hero\?.*compare_from=2025-01-10"))
    expect(page.locator(".element-vs")).to_contain_text("+200%")
    expect(page.locator("nav.breadcrumb a")).to_have_attribute("href", re.compile(r"compare=custom"))

    # Back to the previous period: the button, not the dates, decides.
    page.click("button[name=compare][value=previous]")
    expect(page).to_have_url(re.compile(r"compare=previous"))
    expect(page.locator(".element-vs")).to_contain_text("–")
