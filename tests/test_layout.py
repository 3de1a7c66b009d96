"""The dashboard on a 390 px phone: no page scrolls sideways, the overview shows each element's
CTR and rating on screen, and the element chart shows its newest day."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from playwright.sync_api import Locator, Page, expect
from test_charts import sign_in

from dashboard_seed import shop

PHONE = {"width": 390, "height": 844}


def no_sideways_scroll(page: Page) -> None:
    scroll, inner = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    assert scroll <= inner, f"the page is {scroll} px wide on a {inner} px screen"


def on_screen(locator: Locator, width: int) -> None:
    """Visible and wholly inside the screen's width, without scrolling anything sideways."""
    expect(locator).to_be_visible()
    box = locator.bounding_box()
    assert box is not None
    assert box["x"] >= 0 and box["x"] + box["width"] <= width, box


def test_the_overview_shows_ctr_and_rating_on_a_phone(server, page: Page):
    s = shop(server)
    page.set_viewport_size(PHONE)
    sign_in(page, server, f"/sites/{s.site}")
    rows = page.locator("table.elements tbody tr")
    expect(rows).to_have_count(4)
    no_sideways_scroll(page)
    for i in range(rows.count()):
        row = rows.nth(i)
        on_screen(row.locator("td.element a:not(.open-on-page)"), PHONE["width"])
        on_screen(row.locator("td.ctr-cell strong"), PHONE["width"])
        on_screen(row.locator(".badge"), PHONE["width"])
    # Split by variant, the variant column stays too.
    page.goto(f"{server.url}/sites/{s.site}?group=variant")
    no_sideways_scroll(page)
    for cell in page.locator("table.elements tbody tr td.ctr-cell strong").all():
        on_screen(cell, PHONE["width"])


def test_the_element_chart_shows_its_last_day_on_a_phone(server, page: Page):
    s = shop(server)
    page.set_viewport_size(PHONE)
    sign_in(page, server, f"/sites/{s.site}/elements/hero-signup?period=30d")
    no_sideways_scroll(page)
    chart = page.locator("svg.phone-chart")
    on_screen(chart, PHONE["width"])
    expect(page.locator("svg.chart")).to_be_hidden()
    today = datetime.now(ZoneInfo("UTC")).date()  # the test site's days are UTC
    last_label = chart.locator("text.x-label").last
    expect(last_label).to_have_text(f"{today.day} {today.strftime('%b')}")
    on_screen(last_label, PHONE["width"])
    on_screen(chart.locator("circle.point").last, PHONE["width"])


def test_every_page_fits_a_phone(server, page: Page):
    s = shop(server)
    page.set_viewport_size(PHONE)
    sign_in(page, server, f"/sites/{s.site}")
    for path in ("", "?group=page", "/elements/hero-signup",
                 "/elements/hero-signup?interval=hour&period=7d",
                 "/variants", "/accounts", "/settings"):
        page.goto(f"{server.url}/sites/{s.site}{path}")
        no_sideways_scroll(page)
