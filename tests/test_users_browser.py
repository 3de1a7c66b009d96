"""People and sharing in a real browser (docs/design.md §4 "Access"): a viewer signs in and
cannot reach the settings; a share link opens the overview and its links stay in the share."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from playwright.sync_api import Page, expect

from dashboard_seed import Seen, new_seeder
from harness import Server, add_user

PASSWORD = "viewer password 1"


def _viewer(server: Server) -> str:
    return add_user(server, PASSWORD)


def test_a_viewer_signs_in_and_cannot_reach_the_settings(page: Page, server: Server) -> None:
    seeder = new_seeder(server)
    seeder.many("hero-signup", "cta", 20, 2)
    name = _viewer(server)
    page.goto(f"{server.url}/sites/{seeder.site}")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.fill("#name", name)
    page.fill("#token", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(rf"/sites/{seeder.site}$"))
    expect(page.locator("nav.tabs")).to_contain_text("Overview")
    expect(page.locator("nav.tabs a", has_text="Settings")).to_have_count(0)
    expect(page.locator("header.top a[href='/users']")).to_have_count(0)
    expect(page.locator("header.top")).to_contain_text(name)
    expect(page.get_by_role("link", name="hero-signup", exact=True)).to_be_visible()
    # Typed by hand, the settings page is refused with a reason.
    response = page.goto(f"{server.url}/sites/{seeder.site}/settings")
    assert response is not None and response.status == 403
    expect(page.get_by_role("alert")).to_contain_text("for admins")
    response = page.goto(f"{server.url}/users")
    assert response is not None and response.status == 403
    # Their own account page is theirs: a token is made and shown once.
    page.goto(f"{server.url}/account")
    page.fill("#label", "laptop script")
    page.get_by_role("button", name="Create a token").click()
    expect(page.locator("#token-value")).to_contain_text("ctl_")
    page.goto(f"{server.url}/account")
    expect(page.locator("#tokens")).to_contain_text("laptop script")
    expect(page.locator("#token-value")).to_have_count(0)


def test_a_share_link_opens_the_overview_and_its_links_stay_inside(page: Page, server: Server) -> None:
    seeder = new_seeder(server)
    seeder.many("hero-signup", "cta", 20, 2, variant="A")
    seeder.many("hero-signup", "cta", 20, 4, variant="B")
    seeder.pageview([Seen("footer-link", "link", 1)])
    r = server.client.post(f"/api/sites/{seeder.site}/share-links", json={"days": 2}, headers=server.auth)
    assert r.status_code == 201, r.text
    base = urlsplit(r.json()["url"]).path
    page.goto(server.url + base)
    expect(page.get_by_role("link", name="hero-signup", exact=True)).to_be_visible()
    expect(page.locator("nav.tabs a", has_text="Settings")).to_have_count(0)
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    hrefs = page.eval_on_selector_all(
        "a[href], form[action]", "els => els.map(e => e.getAttribute('href') || e.getAttribute('action'))"
    )
    assert hrefs
    for href in hrefs:
        assert href.startswith((base, "?", "#", "data:")), href
    page.get_by_role("link", name="hero-signup", exact=True).click()
    expect(page).to_have_url(re.compile(re.escape(base) + r"/elements/hero-signup"))
    expect(page.locator("h1")).to_contain_text("hero-signup")
    page.locator("nav.tabs a", has_text="Variants").click()
    expect(page).to_have_url(re.compile(re.escape(base) + r"/variants"))
    for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))"):
        assert href.startswith((base, "?", "#", "data:")), href
    # Nothing signed in came with the link.
    response = page.goto(f"{server.url}/sites/{seeder.site}/settings")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    assert response is not None
