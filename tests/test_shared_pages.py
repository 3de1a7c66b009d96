"""No dead ends for readers who may not change anything (docs/design.md §4 "Access"), in Chromium:
a share link's pages link only inside the share (and to the static assets), and every such link
opens; a viewer's pages offer no link or form that the dashboard would refuse with a 403, while an
admin still gets them. Both backends."""

from __future__ import annotations

import re
import uuid
from urllib.parse import urljoin, urlsplit

import httpx
from playwright.sync_api import Page, expect

from dashboard_seed import Seen, new_seeder
from harness import BROWSER_UA, Server, add_user

PASSWORD = "viewer password 1"
#: Every URL a page names: links, form targets, stylesheets and scripts.
TARGETS = """els => els.map(e => ({
    url: e.getAttribute('href') || e.getAttribute('action') || e.getAttribute('src'),
    tag: e.tagName.toLowerCase(),
    method: (e.getAttribute('method') || 'get').toLowerCase(),
    download: e.hasAttribute('download'),
}))"""
SELECTOR = "a[href], form[action], link[href], script[src]"


def _viewer(server: Server) -> str:
    return add_user(server, PASSWORD)


def _seed(server: Server) -> str:
    """A site with two variants, a referred visit, an annotation and a dropped batch: every link
    the overview and element pages can show has something to show."""
    seeder = new_seeder(server)
    seeder.many("hero-signup", "cta", 20, 2, variant="A")
    seeder.many("hero-signup", "cta", 20, 4, variant="B", referrer="https://news.example/post")
    seeder.pageview([Seen("footer-link", "link", 1)])
    r = server.client.post(
        f"/api/sites/{seeder.site}/annotations", json={"text": "Deployed v3"}, headers=server.auth
    )
    assert r.status_code == 201, r.text
    body = {"site": seeder.site, "pageview": uuid.uuid4().hex, "url": "https://evil.example/", "events": [
        {"id": "x-0", "type": "impression", "element": "hero-signup", "kind": "cta"}]}
    assert server.post(body, "https://evil.example").status_code >= 400  # counted as dropped
    return seeder.site


def _targets(page: Page) -> list[dict[str, object]]:
    found: list[dict[str, object]] = page.eval_on_selector_all(SELECTOR, TARGETS)
    assert found, page.url
    return found


def test_a_share_links_pages_link_only_inside_the_share_and_every_link_opens(
    page: Page, server: Server
) -> None:
    site = _seed(server)
    r = server.client.post(f"/api/sites/{site}/share-links", json={"days": 2}, headers=server.auth)
    assert r.status_code == 201, r.text
    base = urlsplit(r.json()["url"]).path
    host = urlsplit(server.url).netloc
    opened: dict[str, int] = {}
    # A reader of the link has no session: the links are followed without cookies.
    reader = httpx.Client(base_url=server.url, timeout=30, headers={"User-Agent": BROWSER_UA})
    for path in (base, f"{base}/elements/hero-signup", f"{base}/variants"):
        page.goto(server.url + path + "?period=7d")
        expect(page.locator("main")).to_be_visible()
        expect(page.get_by_text("Open on page")).to_have_count(0)
        assert "/annotations" not in page.content()
        for target in _targets(page):
            url = urljoin(page.url, str(target["url"]))
            parts = urlsplit(url)
            if parts.netloc != host:
                continue  # another site's page (a referrer, an annotation's link): not this dashboard
            assert target["method"] == "get", f"{path}: a form that writes: {url}"
            if parts.path.startswith("/static/"):
                continue
            assert parts.path == base or parts.path.startswith(base + "/"), f"{path}: leaves the share: {url}"
            plain = url.split("#")[0]
            if plain not in opened:
                answer = reader.get(plain)
                opened[plain] = answer.status_code
                if target["download"]:
                    # The very table the signed-in API twin of the link gives, not another one.
                    twin = server.client.get(f"/api/sites/{site}" + plain.split(base, 1)[1], headers=server.auth)
                    assert answer.headers["content-type"].startswith("text/csv"), f"{path}: {url}"
                    assert answer.text == twin.text, f"{path}: {url} is not the table it names"
            assert opened[plain] == 200, f"{path}: {url} answers {opened[plain]}"
    assert len(opened) > 10, opened
    reader.close()


def _sign_in_as_viewer(page: Page, server: Server, name: str) -> None:
    page.goto(f"{server.url}/login")
    page.fill("#name", name)
    page.fill("#token", PASSWORD)
    page.click("button[type=submit]")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def test_a_viewer_meets_no_link_or_form_that_would_be_refused(page: Page, server: Server) -> None:
    site = _seed(server)
    # An admin gets the ways to change things (what the viewer must not be offered).
    admin = {**server.auth, "accept": "text/html"}
    overview = server.client.get(f"/sites/{site}?period=7d", headers=admin).text
    assert f'href="/sites/{site}/annotations"' in overview and "/settings#dropped" in overview
    assert 'method="post" action="/"' in server.client.get("/?all", headers=admin).text
    for page_name in ("annotations", "goals", "alerts"):
        html = server.client.get(f"/sites/{site}/{page_name}", headers=admin).text
        assert f'method="post" action="/sites/{site}/{page_name}"' in html, page_name

    name = _viewer(server)
    _sign_in_as_viewer(page, server, name)
    host = urlsplit(server.url).netloc
    checked: dict[str, int] = {}
    pages = ("/?all", f"/sites/{site}?period=7d", f"/sites/{site}/elements/hero-signup?period=7d",
             f"/sites/{site}/variants", f"/sites/{site}/accounts", "/account")
    for path in pages:
        response = page.goto(server.url + path)
        assert response is not None and response.status == 200, path
        expect(page.locator("header.top")).to_contain_text(name)
        for target in _targets(page):
            url = urljoin(page.url, str(target["url"]))
            parts = urlsplit(url)
            if parts.netloc != host or parts.path.startswith("/static/"):
                continue
            if target["method"] == "post":
                # Signing out and the viewer's own account are the only writes a viewer may make.
                assert parts.path in ("/logout", "/account"), f"{path}: a form a viewer cannot use: {url}"
                continue
            plain = url.split("#")[0]
            if plain not in checked:
                # "Open on page" redirects to the site itself: the redirect is the answer.
                checked[plain] = page.request.get(plain, max_redirects=0).status
            assert checked[plain] != 403, f"{path}: {url} is refused to a viewer"
            assert checked[plain] < 400, f"{path}: {url} answers {checked[plain]}"
    assert any("/overlay" in url for url in checked), "a viewer may open an element on its page"
    assert len(checked) > 10, checked

    # Typed by hand, the admins' pages are refused, and the refusal offers no form but sign-out.
    for page_name in ("annotations", "goals", "alerts", "settings"):
        response = page.goto(f"{server.url}/sites/{site}/{page_name}")
        assert response is not None and response.status == 403, page_name
        expect(page.get_by_role("alert")).to_contain_text("admins")
        actions = page.eval_on_selector_all("form[method=post]", "fs => fs.map(f => f.getAttribute('action'))")
        assert actions == ["/logout"], (page_name, actions)
    assert re.search(r"/sites/", page.url)
