"""The live overlay (docs/design.md §4, "Live overlay"), as a marketer and as an attacker meet it.

A real `ctrlens serve`, and the shop's landing page on an origin of its own (another port, as a
real site and its collector are apart), served with a strict Content-Security-Policy. The
marketer signs in, clicks "Open on page" and reads each element's label against the elements
API; switching the variant changes them as the API does. The attacker has no token, a forged
one, an expired one or another site's: no numbers, a 401. The core snippet grows by the hook only.
"""

from __future__ import annotations

import gzip
import html
import re
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import ConsoleMessage, Page, Request, expect

from ctrlens.collector.storage import Site
from ctrlens.dashboard.overlay import OverlayTokens, page_url
from harness import BROWSER_UA, Origin, Server, run_sync

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "snippet" / "fixtures" / "overlay.html"
SNIPPET = ROOT / "snippet"
STYLESHEET = """
body { margin: 0; font: 16px sans-serif; }
.top { height: 40px; padding: 8px; }
.slot { display: block; width: 320px; height: 60px; margin: 12px 8px; }
#promo { margin-top: 2400px; }
"""
#: The shop trusts itself and the collector, nothing inline (`COLLECTOR` is filled in).
CSP = "default-src 'none'; style-src 'self'; script-src COLLECTOR; connect-src COLLECTOR; img-src 'self'"
ON_PAGE = ("hero-signup", "nav-docs", "promo-unseen")


class Shop(Origin):
    """The customer's site: any path serves the landing page for `site`, under the strict CSP.
    Every request line it receives is kept: the token must never reach it."""

    def __init__(self, collector: str) -> None:
        self.site = ""
        self.requests: list[str] = []
        self.collector = collector
        super().__init__(self.respond)

    def respond(self, path: str) -> tuple[bytes, str, dict[str, str]]:
        self.requests.append(path)
        csp = {"Content-Security-Policy": CSP.replace("COLLECTOR", self.collector)}
        if urlsplit(path).path == "/overlay.css":
            return STYLESHEET.encode(), "text/css", csp
        text = FIXTURE.read_text().replace("{{COLLECTOR}}", self.collector)
        return text.replace("{{SITE}}", html.escape(self.site)).encode(), "text/html", csp


@pytest.fixture(scope="module")
def shop(sqlite_server: Server) -> Iterator[Shop]:
    site = Shop(sqlite_server.url)
    yield site
    site.close()


class Visitors:
    """Page views POSTed to /e as the snippet sends them: a report of the present elements,
    then impressions, clicks and conversions; each page view a visitor of its own."""

    def __init__(self, server: Server, site: str, origin: str) -> None:
        self.server, self.site, self.origin = server, site, origin
        self.count = 0

    def view(self, path: str, variant: str, present: list[str], seen: dict[str, str],
             clicked: Sequence[str] = (), converted: bool = False) -> None:
        self.count += 1
        pv = f"pv{self.count:06d}x"
        events: list[dict[str, Any]] = [{"id": f"{pv}-0", "type": "pageview", "present": present}]
        for element, kind in seen.items():
            events.append(
                {"id": f"{pv}-{len(events)}", "type": "impression", "element": element, "kind": kind}
            )
        for element in clicked:
            events.append({"id": f"{pv}-{len(events)}", "type": "click", "element": element})
        if converted:
            events.append({"id": f"{pv}-{len(events)}", "type": "conversion", "goal": "signup"})
        url = f"{self.origin}{path}"
        body = {"site": self.site, "pageview": pv, "url": url, "variant": variant, "events": events}
        answer = self.server.post(body, self.origin, user_agent=f"{BROWSER_UA} visitor/{self.count}")
        assert answer.status_code == 202, answer.text


def seeded_site(server: Server, shop: Shop) -> str:
    """hero-signup: A 400 seen / 16 clicked (5 converted), B 300 seen of 400 / 30 clicked; nav-docs
    (A) 250 / 2; promo-unseen present 800 times, seen 20; gone-banner only on /old; brand-new is
    on the page with no data at all."""
    site = server.new_site([shop.origin])
    visitors = Visitors(server, site, shop.origin)
    for i in range(400):
        seen = {"hero-signup": "cta"}
        if i < 250:
            seen["nav-docs"] = "nav"
        if i < 20:
            seen["promo-unseen"] = "banner"
        clicked = ["hero-signup"] if i < 16 else []
        clicked += ["nav-docs"] if i < 2 else []
        visitors.view("/landing", "A", ["hero-signup", "nav-docs", "promo-unseen"], seen, clicked, i < 5)
    for i in range(400):
        seen = {"hero-signup": "cta"} if i < 300 else {}
        clicked = ["hero-signup"] if i < 30 else []
        visitors.view("/landing", "B", ["hero-signup", "promo-unseen"], seen, clicked)
    for i in range(50):
        clicked = ["gone-banner"] if i < 1 else []
        visitors.view("/old", "A", ["gone-banner"], {"gone-banner": "banner"}, clicked)
    return site


@pytest.fixture(scope="module")
def seeded(sqlite_server: Server, shop: Shop) -> str:
    return seeded_site(sqlite_server, shop)


def rate(value: float) -> str:
    """The dashboard's CTR format (templating.ctr), which the overlay repeats."""
    return f"{value * 100:.{2 if abs(value) < 0.1 else 1}f}%"


def rating_text(row: dict[str, Any]) -> str:
    names = {"good": "Good", "average": "Average", "poor": "Poor", "insufficient": "Insufficient data"}
    tentative = not row["rating_firm"] and row["rating"] != "insufficient"
    return names[row["rating"]] + ("?" if tentative else "")


def secrets_of(server: Server) -> tuple[str, str]:
    """The session secret and generation, read from the database as every collector reads them."""
    from ctrlens.collector.storage import open_storage

    async def read() -> tuple[str, str]:
        storage = await open_storage(server.db, migrate=False)
        try:
            secret = await storage.get_meta("session_secret")
            return secret or "", await storage.get_meta("session_generation") or ""
        finally:
            await storage.close()

    return run_sync(read())


def minted(server: Server, site: str, **params: str) -> dict[str, Any]:
    """What "Open on page" mints, as JSON for a script (admin bearer token)."""
    params = {**params, "format": "json"}
    answer = server.client.get(f"/sites/{site}/overlay", params=params, headers=server.auth)
    assert answer.status_code == 200, answer.text
    return answer.json()


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).fragment)["ctrlens-overlay"][0]


def numbers(server: Server, site: str, token: str | None, origin: str | None) -> httpx.Response:
    headers = {"Origin": origin} if origin else {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return server.client.get(f"/overlay/{site}", headers=headers)


# -- the token and the link, without a server ---------------------------------------------------


def test_a_token_reads_one_site_until_it_expires_and_its_session_ends() -> None:
    tokens = OverlayTokens("secret-" * 8)
    token = tokens.mint("shop", "gen-1", expires_at=2_000)
    assert tokens.verify(token, "shop", "gen-1", now=1_999).site == "shop"
    for site, generation, now, message in (
        ("shop", "gen-1", 2_000, "expired"),
        ("blog", "gen-1", 1_000, "another site"),
        ("shop", "gen-2", 1_000, "ended with its session"),
    ):
        with pytest.raises(Exception, match=message):
            tokens.verify(token, site, generation, now=now)
    for forged in ("", "abc", token[:-2] + "xx", OverlayTokens("other-" * 8).mint("shop", "gen-1", 2_000)):
        with pytest.raises(Exception, match="not valid"):
            tokens.verify(forged, "shop", "gen-1", now=1_000)


def test_open_on_page_never_leaves_the_sites_origins() -> None:
    site = Site("shop", "Shop", ("https://shop.example", "http://localhost:8080"), {}, 0)
    assert page_url(site, "/pricing") == "https://shop.example/pricing"
    assert page_url(site, "/p", "http://localhost:8080") == "http://localhost:8080/p"
    assert page_url(site, "/p", "https://evil.example") == "https://shop.example/p"
    # Page paths come from events, which anyone may send.
    hostile = ("//evil.example/x", "@evil.example", "\\\\evil.example", "/a\tb", "https://evil.example/")
    for path in (*hostile, None, ""):
        assert page_url(site, path).startswith("https://shop.example/"), path
    assert page_url(site, "/a?b#c") == "https://shop.example/a%3Fb%23c"


# -- the read-only endpoint, over HTTP -----------------------------------------------------------


def test_the_numbers_need_a_valid_token_for_their_site(
    sqlite_server: Server, shop: Shop, seeded: str
) -> None:
    server = sqlite_server
    link = minted(server, seeded, element="hero-signup")
    assert link["page"] == f"{shop.origin}/landing"  # the element's busiest page, on the site's origin
    token = token_of(link["url"])
    assert link["expires_at"] - time.time() <= 600

    answer = numbers(server, seeded, token, shop.origin)
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == shop.origin
    assert "access-control-allow-credentials" not in answer.headers
    assert answer.headers["cache-control"] == "no-store"
    api = server.elements(seeded)
    got = {row["element"]: row for row in answer.json()["elements"]}
    assert set(got) == set(api)
    for name, row in api.items():
        for field in ("ctr", "rating", "rating_firm", "viewability_rate", "clicks", "impressions",
                      "conversions", "diagnosis"):
            assert got[name][field] == row[field], (name, field)

    secret, generation = secrets_of(server)
    expired = OverlayTokens(secret).mint(seeded, generation, int(time.time()) - 1)
    other_site = token_of(minted(server, server.new_site([shop.origin]))["url"])
    for bad, message in (
        (None, "no overlay token"),
        ("forged." + token[7:], "not valid"),
        (OverlayTokens("x" * 64).mint(seeded, generation, int(time.time()) + 600), "not valid"),
        (expired, "expired"),
        (other_site, "another site"),
        (server.token, "not valid"),  # the admin token unlocks the API, not this
    ):
        refused = numbers(server, seeded, bad, shop.origin)
        assert refused.status_code == 401, (bad, refused.text)
        assert message in refused.json()["error"]
        assert "elements" not in refused.json()
        assert refused.headers["www-authenticate"].startswith("Bearer")
        # The overlay may read why (CORS), so it can say so.
        assert refused.headers["access-control-allow-origin"] == shop.origin


def test_only_the_sites_origins_may_read_the_numbers(sqlite_server: Server, shop: Shop, seeded: str) -> None:
    server = sqlite_server
    token = token_of(minted(server, seeded)["url"])
    preflight = {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"}
    allowed = server.client.options(f"/overlay/{seeded}", headers={"Origin": shop.origin, **preflight})
    assert allowed.status_code == 204
    assert allowed.headers["access-control-allow-origin"] == shop.origin
    assert allowed.headers["access-control-allow-headers"].lower() == "authorization"
    evil = {"Origin": "https://evil.example", **preflight}
    refused = server.client.options(f"/overlay/{seeded}", headers=evil)
    assert refused.status_code == 403
    assert "access-control-allow-origin" not in refused.headers
    stolen = numbers(server, seeded, token, "https://evil.example")
    assert stolen.status_code == 403
    assert "access-control-allow-origin" not in stolen.headers
    assert "elements" not in stolen.json()


def test_open_on_page_needs_a_signed_in_user(sqlite_server: Server, seeded: str) -> None:
    answer = sqlite_server.client.get(f"/sites/{seeded}/overlay", headers={"Accept": "application/json"})
    assert answer.status_code == 401
    # A browser is sent to sign in first, and comes back here after.
    url = f"/sites/{seeded}/overlay?element=hero-signup"
    answer = sqlite_server.client.get(url, headers={"Accept": "text/html"})
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login?next=")
    assert "ctrlens-overlay" not in answer.text


# -- in the browser ------------------------------------------------------------------------------


def sign_in(page: Page, server: Server, path: str) -> None:
    page.goto(f"{server.url}{path}")
    page.fill("#token", server.token)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(re.escape(path)))


def label(page: Page, element: str) -> Any:
    return page.locator(f"#ctrlens-overlay .label[data-element='{element}']")


def check_labels(page: Page, api: dict[str, dict[str, Any]]) -> None:
    """Each element on the page shows the API's CTR, rating, viewability and counts."""
    for name in ON_PAGE:
        row = api[name]
        box = label(page, name)
        expect(box.locator(".ctr")).to_contain_text(f"CTR {rate(row['ctr'])}")
        expect(box.locator(".rating")).to_have_text(rating_text(row))
        expect(box.locator(".viewability")).to_have_text(f"Seen {rate(row['viewability_rate'])}")
        counts = f"{row['clicks']:,} clicks / {row['impressions']:,} impressions"
        expect(box.locator(".counts")).to_have_text(counts)
        expect(box.locator(".conversions")).to_have_text(f"{row['conversions']:,} conversions (signup)")


@pytest.fixture
def watched(page: Page) -> Iterator[dict[str, list[Any]]]:
    """The page's requests to the collector's overlay files and numbers, and CSP complaints."""
    seen: dict[str, list[Any]] = {"numbers": [], "script": [], "csp": []}

    def request(r: Request) -> None:
        if "/overlay/" in r.url:
            seen["numbers"].append(r)
        if r.url.endswith("/ctr-overlay.js"):
            seen["script"].append(r)

    def console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            seen["csp"].append(message.text)

    page.on("request", request)
    page.on("console", console)
    yield seen
    assert seen["csp"] == []


def test_open_on_page_labels_each_element_as_the_api_counts_it(
    sqlite_server: Server, shop: Shop, seeded: str, page: Page, watched: dict[str, list[Any]]
) -> None:
    server = sqlite_server
    shop.site = seeded
    stored = len(server.events(seeded))
    sign_in(page, server, f"/sites/{seeded}")
    page.get_by_role("link", name="Open on page: hero-signup", exact=True).click()

    page.wait_for_url(re.compile(re.escape(f"{shop.origin}/landing")))
    expect(label(page, "hero-signup").locator(".ctr")).to_be_visible()
    # The token left the address bar and the history entry; the site's server never saw it.
    assert page.evaluate("location.href") == f"{shop.origin}/landing"
    assert not any("ctrlens-overlay" in path for path in shop.requests)
    check_labels(page, server.elements(seeded))
    expect(label(page, "promo-unseen").locator(".diagnosis")).to_have_text("Not seen")
    expect(label(page, "brand-new").locator(".no-data")).to_have_text("No data in this period")
    panel = page.locator("#ctrlens-overlay .panel")
    expect(panel.locator(".missing li")).to_have_count(1)
    expect(panel.locator(".missing li[data-element='gone-banner']")).to_contain_text("gone-banner")
    expect(panel.locator("a", has_text="Open hero-signup in the dashboard")).to_have_attribute(
        "href", re.compile(re.escape(f"{server.url}/sites/{seeded}/elements/hero-signup?"))
    )

    # Variant B: the numbers change as the API's do (and nav-docs was never in B).
    panel.locator("select[name=variant]").select_option("B")
    api_b = server.elements(seeded, variant="B")
    hero_b = api_b["hero-signup"]
    expect(label(page, "hero-signup").locator(".ctr")).to_contain_text(f"CTR {rate(hero_b['ctr'])}")
    assert rate(api_b["hero-signup"]["ctr"]) != rate(server.elements(seeded)["hero-signup"]["ctr"])
    seen_b = f"Seen {rate(hero_b['viewability_rate'])}"
    expect(label(page, "hero-signup").locator(".viewability")).to_have_text(seen_b)
    expect(label(page, "nav-docs").locator(".no-data")).to_be_visible()
    panel.locator("select[name=period]").select_option("7d")
    expect(label(page, "hero-signup").locator(".counts")).to_have_text("30 clicks / 300 impressions")

    # Labels sit at their element's corner and never on one another, also after scrolling.
    boxes = [label(page, name).bounding_box() for name in ("hero-signup", "nav-docs", "brand-new")]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert a and b
            apart = a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
            assert apart or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"], (a, b)
    page.locator("#promo").scroll_into_view_if_needed()
    promo, promo_label = page.locator("#promo").bounding_box(), label(page, "promo-unseen").bounding_box()
    assert promo and promo_label
    # Just above the element's top-left corner: the element itself stays in sight.
    assert abs(promo_label["x"] - promo["x"]) < 2
    assert abs(promo_label["y"] + promo_label["height"] + 2 - promo["y"]) < 2

    # One key hides and shows them.
    page.keyboard.press("Alt+Shift+O")
    expect(label(page, "hero-signup")).to_be_hidden()
    page.keyboard.press("Alt+Shift+O")
    expect(label(page, "hero-signup")).to_be_visible()

    # The overlay's fetches carry no cookie (the session cookie is for this very host), and the
    # overlay's page view is sent nowhere: nothing was stored.
    assert page.context.cookies(server.url)
    assert watched["numbers"]
    for r in watched["numbers"]:
        assert "cookie" not in r.all_headers()
        assert r.all_headers()["authorization"].startswith("Bearer ")
    page.wait_for_timeout(500)
    assert len(server.events(seeded)) == stored


def test_element_page_opens_its_page_with_the_overlay(
    sqlite_server: Server, shop: Shop, seeded: str, page: Page, watched: dict[str, list[Any]]
) -> None:
    shop.site = seeded
    sign_in(page, sqlite_server, f"/sites/{seeded}/elements/nav-docs")
    page.click(".element-heading a.open-on-page")
    page.wait_for_url(f"{shop.origin}/landing")
    check_labels(page, sqlite_server.elements(seeded))


def test_no_token_no_overlay_and_no_request_for_numbers(
    shop: Shop, seeded: str, page: Page, watched: dict[str, list[Any]]
) -> None:
    shop.site = seeded
    page.goto(f"{shop.origin}/landing")
    page.wait_for_function("typeof window.ctrlens == 'function'")
    page.wait_for_timeout(500)
    expect(page.locator("#ctrlens-overlay")).to_have_count(0)
    assert watched["script"] == [] and watched["numbers"] == []


@pytest.mark.parametrize("kind", ["forged", "expired", "other-site"])
def test_a_bad_token_shows_no_numbers(
    sqlite_server: Server, shop: Shop, seeded: str, page: Page, watched: dict[str, list[Any]], kind: str
) -> None:
    shop.site = seeded
    secret, generation = secrets_of(sqlite_server)
    token = {
        "forged": OverlayTokens("y" * 64).mint(seeded, generation, int(time.time()) + 600),
        "expired": OverlayTokens(secret).mint(seeded, generation, int(time.time()) - 1),
        "other-site": OverlayTokens(secret).mint("another-site", generation, int(time.time()) + 600),
    }[kind]
    page.goto(f"{shop.origin}/landing#ctrlens-overlay={token}")
    status = page.locator("#ctrlens-overlay .status")
    expect(status).to_have_attribute("data-state", "401")
    expect(status).to_contain_text("No numbers")
    expect(page.locator("#ctrlens-overlay .label")).to_have_count(0)
    assert page.evaluate("location.href") == f"{shop.origin}/landing"
    assert [r.response().status for r in watched["numbers"]] == [401]


# -- the core's size -----------------------------------------------------------------------------


def served(body: bytes) -> int:
    return len(gzip.compress(body, 9, mtime=0))


def test_the_overlay_is_built_and_served_beside_the_core(sqlite_server: Server) -> None:
    import hashlib

    source = (SNIPPET / "src" / "ctr-overlay.js").read_bytes()
    built = (SNIPPET / "dist" / "ctr-overlay.js").read_text()
    assert built.startswith(f"/*! ctrlens {hashlib.sha256(source).hexdigest()[:16]} */\n"), (
        "dist/ctr-overlay.js is stale: run python snippet/build.py"
    )
    answer = sqlite_server.client.get("/ctr-overlay.js")
    assert answer.status_code == 200 and answer.text == built
    core = (SNIPPET / "dist" / "ctr.js").read_text()
    # Nothing of the overlay is in the core but the hook that loads it.
    assert "ctr-overlay.js" in core
    for overlay_only in ("Bearer", "overlay/", "attachShadow", "Alt+Shift"):
        assert overlay_only not in core


HOOK = re.compile(r"\n  // The live overlay likewise.*?\n  }\n", re.S)


@pytest.mark.skipif(
    shutil.which("node") is None or not (SNIPPET / "node_modules" / "terser").is_dir(),
    reason="measuring the core without the hook needs Node and terser (python snippet/build.py)",
)
def test_the_core_grows_by_the_hook_only(tmp_path: Path) -> None:
    """The core, built with and without the overlay's hook by the build's own options: the
    difference, gzipped as served, is the hook's few bytes."""
    source = (SNIPPET / "src" / "ctr.js").read_text()
    assert len(HOOK.findall(source)) == 1, "the overlay hook in src/ctr.js is not where this test looks"
    (tmp_path / "with.js").write_text(source)
    (tmp_path / "without.js").write_text(HOOK.sub("\n", source))
    options = re.search(r"const options = (\{.*?\n\});", (SNIPPET / "build.mjs").read_text(), re.S)
    assert options
    script = (
        f"import {{ minify }} from {str(SNIPPET / 'node_modules' / 'terser' / 'main.js')!r};\n"
        "import { readFileSync, writeFileSync } from 'node:fs';\n"
        f"const options = {options.group(1)};\n"
        "for (const f of process.argv.slice(2)) "
        "writeFileSync(f + '.min', (await minify(readFileSync(f, 'utf8'), options)).code);\n"
    )
    (tmp_path / "measure.mjs").write_text(script)
    subprocess.run(["node", "measure.mjs", "with.js", "without.js"], cwd=tmp_path, check=True)
    with_hook = served((tmp_path / "with.js.min").read_bytes())
    without = served((tmp_path / "without.js.min").read_bytes())
    print(f"\ncore gzipped as served: {without} B without the overlay hook, {with_hook} B with it")
    assert 0 < with_hook - without <= 40
