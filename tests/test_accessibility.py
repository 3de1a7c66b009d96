"""axe-core, run in Chromium on every dashboard page type, in light and dark mode, on a desktop
and a 390 px phone: no serious or critical violation (WCAG 2.x A and AA, contrast included)."""

from __future__ import annotations

import subprocess
from typing import Any
from urllib.parse import urlsplit

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, BrowserContext, Page, expect

from dashboard_seed import shop
from harness import BROWSER_UA, CTRLENS, ROOT, Databases, Server

SCREENS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
SEVERE = ("serious", "critical")
VIEWER, VIEWER_PASSWORD = "a11y-viewer", "viewer password 1"


def pages(site: str) -> dict[str, str]:
    """One URL per page type, each with data on it."""
    return {
        "sites": "/",
        "overview": f"/sites/{site}",
        "overview by variant": f"/sites/{site}?group=variant",
        "element": f"/sites/{site}/elements/hero-signup",
        "variants": f"/sites/{site}/variants",
        "accounts": f"/sites/{site}/accounts",
        "settings": f"/sites/{site}/settings",
        "goals": f"/sites/{site}/goals",
        "annotations": f"/sites/{site}/annotations",
        "alerts": f"/sites/{site}/alerts",
        "users": "/users",
        "account": "/account",
        "empty period": f"/sites/{site}?from=2020-01-01&to=2020-01-31",
        "error": f"/sites/{site}?from=2020-02-31",
    }


def severe(page: Page) -> list[str]:
    """The serious and critical violations axe finds on the page, one readable line each."""
    results: dict[str, Any] = Axe().run(page).response
    found = []
    for violation in results["violations"]:
        if violation["impact"] not in SEVERE:
            continue
        for node in violation["nodes"]:
            summary = node["failureSummary"]
            found.append(f"{violation['id']} ({violation['impact']}): {node['target']} {summary}")
    return found


@pytest.fixture(scope="module")
def a11y_server(databases: Databases) -> Any:
    """A server of this module's own, on SQLite (what is checked is the pages, not storage): its
    deliberately failed sign-ins must not count against other tests' sign-ins from 127.0.0.1."""
    server = Server(databases.new("sqlite")).start()
    # Pages with their people and notes: a viewer on the users page (and signing in to their own
    # account page), an annotation marked on the element chart.
    r = subprocess.run(
        [*CTRLENS, "user", "add", VIEWER, "--role", "viewer", "--password-stdin", "--db", server.db],
        input=VIEWER_PASSWORD + "\n", capture_output=True, text=True, cwd=ROOT, timeout=60,
    )
    assert r.returncode == 0, r.stderr
    site = shop(server).site
    r = server.client.post(f"/api/sites/{site}/annotations", json={"text": "Deployed v3"}, headers=server.auth)
    assert r.status_code == 201, r.text
    yield server
    server.stop()


@pytest.fixture(scope="module")
def share_path(a11y_server: Server) -> str:
    """A share link of the test site, as its path (`/share/{token}`)."""
    site = shop(a11y_server).site
    r = a11y_server.client.post(f"/api/sites/{site}/share-links", json={"days": 2}, headers=a11y_server.auth)
    assert r.status_code == 201, r.text
    return urlsplit(r.json()["url"]).path


def context(browser: Browser, scheme: str, screen: str) -> BrowserContext:
    return browser.new_context(viewport=SCREENS[screen], color_scheme=scheme, user_agent=BROWSER_UA)


@pytest.mark.parametrize("screen", SCREENS)
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_no_serious_accessibility_violation_on_any_page(
    a11y_server: Server, share_path: str, browser: Browser, scheme: str, screen: str
) -> None:
    server = a11y_server
    s = shop(server)
    ctx = context(browser, scheme, screen)
    try:
        page = ctx.new_page()
        page.goto(f"{server.url}/login")
        problems = {"login": severe(page)}
        page.fill("#token", "wrong")  # the page with its error message
        page.click("button[type=submit]")
        expect(page.locator(".error")).to_be_visible()
        problems["login, failed"] = severe(page)
        page.fill("#token", server.token)
        page.click("button[type=submit]")
        expect(page.locator("button:has-text('Sign out')")).to_be_visible()
        for name, path in pages(s.site).items():
            page.goto(f"{server.url}{path}")
            problems[name] = severe(page)
        page.goto(f"{server.url}/sites/{s.site}/settings")
        page.fill("input[name=cta_good]", "1")  # below Poor: the form comes back with its error
        page.click("button:has-text('Save settings')")
        expect(page.locator(".error")).to_be_visible()
        problems["settings, error"] = severe(page)
        # A viewer's pages: fewer links and forms, the same look.
        page.click("button:has-text('Sign out')")
        page.goto(f"{server.url}/login")
        page.fill("#name", VIEWER)
        page.fill("#token", VIEWER_PASSWORD)
        page.click("button[type=submit]")
        expect(page.locator("button:has-text('Sign out')")).to_be_visible()
        for name, path in {"viewer overview": f"/sites/{s.site}", "viewer account": "/account"}.items():
            page.goto(f"{server.url}{path}")
            problems[name] = severe(page)
        # A share link's pages, as someone who follows it (signed out).
        page.click("button:has-text('Sign out')")
        share = share_path
        for name, path in {"shared overview": share, "shared element": f"{share}/elements/hero-signup",
                           "shared variants": f"{share}/variants"}.items():
            page.goto(f"{server.url}{path}")
            problems[name] = severe(page)
    finally:
        ctx.close()
    report = [f"{name}: {line}" for name, found in problems.items() for line in found]
    assert not report, "\n".join(report)
