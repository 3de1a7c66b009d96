"""The dashboard as a user drives it: real Chromium, a real server on both backends, seeded
through POST /e. Sign in, read ratings, filter, sort, drill into an element, compare variants,
export CSV, change settings."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from dashboard_seed import Seen, new_seeder, shop
from harness import sign_in


@pytest.fixture
def csp_violations(page: Page) -> Iterator[list[str]]:
    """Console messages about the Content-Security-Policy: a page must cause none."""
    seen: list[str] = []

    def record(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            seen.append(message.text)

    page.on("console", record)
    yield seen
    assert seen == []


def row(page: Page, element: str):
    return page.locator("table.elements tbody tr").filter(
        has=page.locator(f'td.element a:text-is("{element}")')
    )


def cell_numbers(page: Page, element: str) -> tuple[int, int]:
    cells = row(page, element).locator("td.num")
    return int(cells.nth(0).inner_text().replace(",", "")), int(cells.nth(1).inner_text().replace(",", ""))


def test_overview_shows_ratings_and_filters_live_in_the_url(server, page: Page, csp_violations):
    s = shop(server)
    sign_in(page, server, f"/sites/{s.site}")
    expect(page.locator("h1")).to_have_text("Elements")
    hero = row(page, "hero-signup")
    expect(hero.locator(".badge")).to_have_text(
        "Good"
    )  # 46 / 800 = 5.75%, and the whole interval is above 4%
    assert cell_numbers(page, "hero-signup") == (800, 46)
    # Colour and text: every badge names its rating.
    assert page.locator(".badge.rating-good").count() >= 1
    for badge in page.locator("table.elements .badge").all_inner_texts():
        assert re.match(r"(Good|Average|Poor|Insufficient data)", badge)

    page.select_option("select[name=variant]", "A")
    expect(page).to_have_url(re.compile(r"variant=A"))
    assert cell_numbers(page, "hero-signup") == (400, 16)
    expect(row(page, "pricing-table")).to_have_count(0)

    page.click("th a.sort:has-text('CTR')")
    expect(page).to_have_url(re.compile(r"sort=ctr"))
    expect(page).to_have_url(re.compile(r"variant=A"))  # the filter survives sorting
    ctrs = [float(t.split("%")[0]) for t in page.locator("td.ctr-cell strong").all_inner_texts()]
    assert ctrs == sorted(ctrs, reverse=True)


def test_element_page_shows_the_three_ctrs_chart_and_breakdowns(server, page: Page, csp_violations):
    s = shop(server)
    sign_in(page, server, f"/sites/{s.site}")
    page.click("td.element a:text-is('hero-signup')")
    expect(page).to_have_url(re.compile(r"/elements/hero-signup"))
    stats = page.locator(".stats .stat")
    expect(stats.nth(0)).to_contain_text("5.75%")
    expect(stats.nth(0)).to_contain_text("46 clicks / 800 impressions")
    expect(stats.nth(1)).to_contain_text("Visitor CTR")
    expect(stats.nth(2)).to_contain_text("Account CTR")
    expect(page.locator("svg.chart polygon.band")).not_to_have_count(0)
    for title in ("Variant", "Page", "Referrer / utm_source", "Device", "Account"):
        expect(page.locator(f".breakdown h3:text-is('{title}')")).to_have_count(1)
    expect(page.locator(".breakdown").filter(has_text="Device")).to_contain_text("mobile")

    page.click(".chips a:has-text('by hour')")
    expect(page).to_have_url(re.compile(r"interval=hour"))
    expect(page.locator("svg.chart")).to_be_visible()


def test_variants_page_compares_control_and_treatment(server, page: Page, csp_violations):
    s = shop(server)
    # By default the always-valid test, corrected for the comparisons shown together: an 87% lift
    # on about 1,000 impressions per arm is not yet proof, and the page says which test it ran.
    sign_in(page, server, f"/sites/{s.site}/variants")
    hero = page.locator("article.comparison").filter(has=page.locator("a:text-is('hero-signup')"))
    expect(hero.locator(".verdict-inconclusive")).to_have_text("Inconclusive")
    expect(page.locator("main")).to_contain_text("Benjamini")
    # The fixed-horizon test, read once and uncorrected, is the labelled option.
    page.goto(f"{server.url}/sites/{s.site}/variants?inference=fixed&correction=none")
    expect(hero.locator(".verdict-winner")).to_have_text("Winner")
    expect(hero.locator(".sentence")).to_contain_text(
        "B's hero-signup gets 87% more clicks per impression than A"
    )
    expect(hero.locator(".figures")).to_contain_text("0.033")
    promo = page.locator("article.comparison").filter(has=page.locator("a:text-is('promo')"))
    expect(promo.locator(".badge.srm")).to_contain_text("Sample ratio mismatch")
    expect(page.locator("article.comparison")).to_have_count(2)  # footer-link was only ever in A

    page.select_option("select[name=control]", "B")
    expect(page).to_have_url(re.compile(r"control=B"))
    expect(hero.locator(".verdict-loser")).to_have_text("Loser")


def test_accounts_page_shows_account_ctr(server, page: Page, csp_violations):
    s = shop(server)
    sign_in(page, server, f"/sites/{s.site}/accounts")
    expect(page.locator(".stats")).to_contain_text("25.0%")
    expect(page.locator("table.accounts tbody tr")).to_have_count(80)


def test_csv_download_has_the_apis_rows(server, page: Page):
    s = shop(server)
    sign_in(page, server, f"/sites/{s.site}?group=variant")
    with page.expect_download() as info:
        page.click("a.export:has-text('Export CSV')")
    download = info.value
    api = server.client.get(
        f"/api/sites/{s.site}/elements", params={"group": "variant"}, headers=server.auth
    ).json()
    # The file names its period, so downloads of several periods sit side by side.
    assert download.suggested_filename == f"{s.site}-elements-{api['from']}_{api['to']}.csv"
    with open(download.path(), encoding="utf-8") as f:
        table = list(csv.DictReader(f))

    def text(value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        return "; ".join(value) if isinstance(value, list) else str(value)

    by_key = {(r["element"], r["variant"]): r for r in api["elements"]}
    assert len(table) == len(by_key)
    for line in table:
        expected = by_key[(line["element"], line["variant"])]
        assert line == {k: text(expected[k]) for k in line}


def test_settings_form_saves_and_changes_ratings(server, page: Page, csp_violations):
    seeder = new_seeder(server)
    seeder.many("signup", "cta", 400, 16)
    sign_in(page, server, f"/sites/{seeder.site}/settings")
    expect(page.locator("#install-tag")).to_contain_text(f'data-site="{seeder.site}"')
    expect(page.locator(".live")).to_contain_text(
        "416 events received in the last 5 minutes"
    )  # 400 impressions, 16 clicks

    page.fill("input[name=cta_good]", "five")
    page.click("button:has-text('Save settings')")
    expect(page.locator(".error")).to_contain_text("cta good must be a percentage")
    expect(page.locator("input[name=cta_good]")).to_have_value("five")  # what was typed stays

    page.fill("input[name=cta_good]", "5")
    page.select_option("select[name=timezone]", "Asia/Tokyo")
    page.click("button:has-text('Save settings')")
    expect(page.locator(".notice.ok")).to_have_text("Saved.")
    expect(page.locator("input[name=cta_good]")).to_have_value("5")
    settings = server.client.get(f"/api/sites/{seeder.site}/settings", headers=server.auth).json()
    assert settings["thresholds"]["cta"]["good"] == 0.05 and settings["timezone"] == "Asia/Tokyo"

    page.click("nav.tabs a:text-is('Overview')")
    expect(row(page, "signup").locator(".badge")).to_contain_text("Average")  # 4% is below the new 5%


def test_settings_form_needs_its_csrf_token(server):
    seeder = new_seeder(server)
    r = server.client.post(
        f"/sites/{seeder.site}/settings", data={"min_impressions": "1"}, headers=server.auth
    )
    assert r.status_code == 400
    settings = server.client.get(f"/api/sites/{seeder.site}/settings", headers=server.auth).json()
    assert settings["min_impressions"] == 200


def test_empty_ranges_show_an_empty_state(server, page: Page, csp_violations):
    seeder = new_seeder(server)
    seeder.pageview([Seen("hero", "cta", 1)], variant="A")
    old = "from=2020-01-01&to=2020-01-31"
    sign_in(page, server, f"/sites/{seeder.site}?{old}")
    expect(page.locator(".empty h2")).to_have_text("No impressions in this period")
    for path, text in (
        (f"/elements/hero?{old}", "No impressions in this period"),
        (f"/variants?{old}", "No variants to compare in this period"),
        (f"/accounts?{old}", "No accounts in this period"),
    ):
        page.goto(f"{server.url}/sites/{seeder.site}{path}")
        expect(page.locator(".empty h2")).to_have_text(text)
    page.goto(f"{server.url}/sites/{seeder.site}?from=2020-02-31")
    expect(page.locator(".error")).to_contain_text("YYYY-MM-DD")


def test_the_dashboard_fits_a_phone(server, page: Page):
    s = shop(server)
    page.set_viewport_size({"width": 390, "height": 844})
    sign_in(page, server, f"/sites/{s.site}/elements/hero-signup")
    # Wide tables and the chart scroll inside their cards; the page itself does not.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390


def test_failed_sign_ins_are_throttled_and_good_ones_are_not(databases):
    """Five wrong tokens a minute per address (form and bearer alike), then 429 for a while;
    someone who knows the token signs in as often as they like. Its own server: the throttle
    would otherwise lock the shared one's test client out."""
    import httpx

    from harness import Server

    srv = Server(databases.new("sqlite")).start()
    try:
        with httpx.Client(base_url=srv.url) as client:
            for _ in range(8):
                page = client.get("/login")
                csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
                r = client.post(
                    "/login", data={"csrf": csrf, "token": srv.token, "next": "/"}, follow_redirects=False
                )
                assert r.status_code == 303
            statuses = []
            for _ in range(6):
                csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
                statuses.append(client.post("/login", data={"csrf": csrf, "token": "guess"}).status_code)
            assert statuses == [401] * 5 + [429]
            csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
            r = client.post("/login", data={"csrf": csrf, "token": srv.token})
            assert r.status_code == 429 and "Too many failed attempts" in r.text
            r = srv.client.get("/api/sites", headers={"Authorization": "Bearer guess"})
            assert r.status_code == 429 and r.headers["retry-after"] == "60"
    finally:
        srv.stop()
