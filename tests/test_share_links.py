"""Share links (docs/design.md §4 "Access"): one site's overview, element pages and variants,
read-only, for anyone holding the link; nothing else. Real HTTP, both backends."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from contextlib import closing
from urllib.parse import urlsplit

import httpx
import pytest

from ctrlens.collector.storage import open_storage
from dashboard_seed import Seen, new_seeder
from harness import Server, run_sync

_addresses = itertools.count(1)


@pytest.fixture(scope="module")
def srv(backend: str, databases) -> Iterator[Server]:
    """This module's own server; each visitor below is a client of their own behind a "proxy"."""
    server = Server(databases.new(backend), extra_args=["--trusted-proxy", "127.0.0.1"]).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def seeded(srv: Server) -> tuple[str, str]:
    """A site with elements in two variants, and another site the share must never show."""
    seeder = new_seeder(srv)
    seeder.many("hero-signup", "cta", 30, 3, path="/pricing", variant="A")
    seeder.many("hero-signup", "cta", 30, 6, path="/pricing", variant="B")
    seeder.pageview([Seen("docs/intro", "link", 1)], "/docs")
    other = new_seeder(srv)
    other.many("secret-banner", "banner", 5, 1)
    return seeder.site, other.site


def visitor(server: Server) -> httpx.Client:
    n = next(_addresses)
    return httpx.Client(base_url=server.url, headers={"X-Forwarded-For": f"198.18.{n // 250}.{n % 250 + 1}"},
                        timeout=30)


def share(server: Server, site: str, **fields: object) -> tuple[str, dict[str, object]]:
    r = server.client.post(f"/api/sites/{site}/share-links", json={"days": 7, **fields}, headers=server.auth)
    assert r.status_code == 201, r.text
    body = r.json()
    return urlsplit(body["url"]).path, body


def test_a_share_link_shows_its_sites_pages_and_every_link_stays_inside(srv: Server, seeded) -> None:
    site, other = seeded
    base, body = share(srv, site, label="agency")
    assert re.fullmatch(r"/share/[A-Za-z0-9_-]{32,}", base) and body["password"] is False
    with closing(visitor(srv)) as client:
        pages = {
            "overview": client.get(base),
            "element": client.get(f"{base}/elements/hero-signup"),
            "element with a slash": client.get(f"{base}/elements/docs%2Fintro"),
            "variants": client.get(f"{base}/variants"),
        }
        for name, page in pages.items():
            assert page.status_code == 200, (name, page.text[:300])
            assert page.headers["content-type"].startswith("text/html")
            assert page.headers["cache-control"] == "no-store" and page.headers["x-robots-tag"] == "noindex"
            assert "secret-banner" not in page.text and other not in page.text
            assert "Sign out" not in page.text and 'action="/logout"' not in page.text
            for href in re.findall(r'(?:href|action)="([^"]*)"', page.text):
                assert href.startswith((base + "/", base + "?", "?", "#", "/static/", "data:")) or href == base, (
                    name, href)
            assert "/settings" not in page.text.split("</header>")[0], name
        assert "hero-signup" in pages["overview"].text and "docs/intro" in pages["overview"].text
        # The overview's CSV export link works inside the share.
        csv = client.get(f"{base}/elements?format=csv")
        assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
        assert "hero-signup" in csv.text
        # No session of any kind came with it: the dashboard and the API stay closed.
        assert client.get(f"/api/sites/{site}/elements").status_code == 401
        assert client.get(f"/sites/{site}", follow_redirects=False).status_code == 303
        assert client.get(f"/api/sites/{other}/elements").status_code == 401


def test_a_shared_page_reaches_nothing_else(srv: Server, seeded) -> None:
    site, other = seeded
    base, _ = share(srv, site)
    with closing(visitor(srv)) as client:
        for path in ["/settings", "/goals", "/accounts", "/overlay", "/annotations", "/alerts", "/share-links",
                     "/api/sites", f"/sites/{other}"]:
            r = client.get(base + path, headers={"Accept": "text/html"})
            assert r.status_code == 404, (path, r.status_code)
        # A path climbing out of the share is the signed-in dashboard's: the sign-in page.
        r = client.get(f"{base}/../../sites/{other}", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
        # Only GET; JSON is the API's, and the API is not shared.
        assert client.post(base, data={"x": "1"}).status_code == 405
        assert client.delete(f"{base}/variants").status_code == 405
        assert client.get(f"{base}?format=json").status_code == 400
        # The site in a shared URL is always the link's: the overview ignores a site parameter.
        page = client.get(f"{base}?site={other}")
        assert page.status_code == 200 and "secret-banner" not in page.text


def test_an_expired_or_revoked_link_opens_nothing(srv: Server, seeded) -> None:
    site, _ = seeded
    base, body = share(srv, site)
    with closing(visitor(srv)) as client:
        assert client.get(base).status_code == 200

        async def expire() -> None:
            storage = await open_storage(srv.db, migrate=False)
            try:
                await storage.db.execute("UPDATE share_links SET expires_at = 1 WHERE id = ?", (body["id"],))
            finally:
                await storage.close()

        run_sync(expire())
        r = client.get(base)
        assert r.status_code == 410 and "expired" in r.text
        assert client.get(f"{base}/variants").status_code == 410
        listed = srv.client.get(f"/api/sites/{site}/share-links", headers=srv.auth).json()["share_links"]
        assert [link["expired"] for link in listed if link["id"] == body["id"]] == [True]

        base, body = share(srv, site)
        assert client.get(base).status_code == 200
        r = srv.client.request("DELETE", f"/api/sites/{site}/share-links/{body['id']}", json={}, headers=srv.auth)
        assert r.status_code == 200
        r = client.get(base)
        assert r.status_code == 404 and "revoked" in r.text
        assert client.get("/share/" + "A" * 32).status_code == 404


def test_a_password_protected_link(srv: Server, seeded) -> None:
    site, _ = seeded
    base, body = share(srv, site, password="open sesame")
    assert body["password"] is True
    listed = srv.client.get(f"/api/sites/{site}/share-links", headers=srv.auth).text
    assert "open sesame" not in listed and base.rsplit("/", 1)[1] not in listed  # digests only
    with closing(visitor(srv)) as client:
        r = client.get(base)
        assert r.status_code == 401 and 'name="password"' in r.text and "hero-signup" not in r.text
        assert client.get(f"{base}/variants").status_code == 401
        csrf = re.search(r'name="csrf" value="([^"]+)"', r.text).group(1)
        r = client.post(f"{base}/unlock", data={"csrf": csrf, "password": "wrong guess"})
        assert r.status_code == 401 and "not right" in r.text
        r = client.post(f"{base}/unlock", data={"password": "open sesame"})
        assert r.status_code == 400  # no CSRF token, no cookie
        r = client.post(f"{base}/unlock", data={"csrf": csrf, "password": "open sesame"}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == base
        cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("ctrlens_share="))
        assert f"Path={base}" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
        assert client.get(base).status_code == 200
        assert client.get(f"{base}/elements/hero-signup").status_code == 200
        # The cookie opens this link only: not another protected link, not the API.
        other_base, _ = share(srv, site, password="open sesame")
        with closing(visitor(srv)) as thief:
            thief.cookies.set("ctrlens_share", client.cookies["ctrlens_share"])  # for every path
            assert thief.get(other_base).status_code == 401
            assert thief.get(base).status_code == 200
        assert client.get(f"/api/sites/{site}/elements").status_code == 401
    with closing(visitor(srv)) as guesser:
        csrf = re.search(r'name="csrf" value="([^"]+)"', guesser.get(base).text).group(1)
        for _ in range(5):
            assert guesser.post(f"{base}/unlock", data={"csrf": csrf, "password": "guess"}).status_code == 401
        assert guesser.post(f"{base}/unlock", data={"csrf": csrf, "password": "open sesame"}).status_code == 429


def test_share_links_are_validated_and_made_in_the_settings_page(srv: Server, seeded) -> None:
    site, _ = seeded
    for fields, message in [({}, "needs an expiry"), ({"days": 0}, "1 to 365"), ({"days": 366}, "1 to 365"),
                            ({"days": "soon"}, "1 to 365"), ({"days": 3, "password": "short"}, "8 to"),
                            ({"days": 3, "label": "x" * 65}, "at most 64")]:
        r = srv.client.post(f"/api/sites/{site}/share-links", json=fields, headers=srv.auth)
        assert r.status_code == 400 and message in r.json()["error"], (fields, r.text)
    with closing(visitor(srv)) as admin:
        page = admin.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        assert admin.post("/login", data={"csrf": csrf, "token": srv.token}).status_code == 303
        settings = admin.get(f"/sites/{site}/settings")
        assert 'id="share"' in settings.text
        csrf = re.search(r'name="csrf" value="([^"]+)"', settings.text).group(1)  # the session's own
        r = admin.post(f"/sites/{site}/share-links", data={"csrf": csrf, "label": "board", "days": "14"})
        assert r.status_code == 201 and "shown only once" in r.text
        url = re.search(r"<code>(http://[^<]+/share/[^<]+)</code>", r.text).group(1)
        assert httpx.get(url).status_code == 200
        settings = admin.get(f"/sites/{site}/settings")
        assert "board" in settings.text and url not in settings.text
        link_id = re.search(r'name="revoke" value="([0-9a-f]+)"[^>]*>\s*<button[^>]*board', settings.text)
        assert link_id, settings.text[settings.text.index('id="share"'):][:2000]
        r = admin.post(f"/sites/{site}/share-links", data={"csrf": csrf, "revoke": link_id.group(1)},
                       follow_redirects=False)
        assert r.status_code == 303
        assert httpx.get(url).status_code == 404
