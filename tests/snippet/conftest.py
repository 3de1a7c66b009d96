"""The snippet's browser tests: fixture pages on their own origin, a real collector, Chromium.

Pages live in tests/snippet/fixtures/ and are served by a small static server on another port
than the collector, like a real deployment (so CORS, Origin checks and sendBeacon are real).
`{{NAME}}` in a page is replaced by the query parameter `NAME` (HTML-escaped); `COLLECTOR`
defaults to the test collector and `FLUSH` to 100 ms. A `csp` parameter becomes the page's
Content-Security-Policy header; a `cache` parameter drops the `no-store` that every other page
gets (it would keep the page out of the back/forward cache).

Each test gets its own site key, so counts never leak between tests.
"""

from __future__ import annotations

import html
import re
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from ctrlens.snippet import DIST

FIXTURES = Path(__file__).resolve().parent / "fixtures"


class StaticSite:
    """A ThreadingHTTPServer over fixtures/, substituting {{NAME}} from the query string."""

    def __init__(self, collector: str) -> None:
        self.collector = collector
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
                name = parts.path.lstrip("/") or "index.html"
                # A single-page app's deep links all serve its one page.
                if name.startswith("spa/"):
                    name = "spa.html"
                path = (FIXTURES / name).resolve()
                if FIXTURES not in path.parents or not path.is_file():
                    self.send_error(404)
                    return
                values = {"COLLECTOR": site.collector, "FLUSH": "100", **query}
                text = re.sub(
                    r"\{\{(\w+)\}\}", lambda m: html.escape(values.get(m.group(1), "")), path.read_text()
                )
                body = text.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                # no-store keeps a page out of Chromium's back/forward cache; `cache` lets it in.
                if "cache" not in query:
                    self.send_header("Cache-Control", "no-store")
                if "csp" in query:
                    self.send_header(
                        "Content-Security-Policy", query["csp"].replace("COLLECTOR", site.collector)
                    )
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:  # noqa: N802
                # /proxy/e: a first-party proxy to the collector, as a site might run against
                # ad blockers (the snippet's data-api="/proxy/e").
                if urlsplit(self.path).path != "/proxy/e":
                    self.send_error(404)
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                forwarded = {
                    k: self.headers[k] for k in ("Content-Type", "Origin", "User-Agent") if self.headers[k]
                }
                answer = httpx.post(site.collector + "/e", content=body, headers=forwarded, timeout=10)
                self.send_response(answer.status_code)
                self.send_header("Content-Type", answer.headers.get("content-type", "application/json"))
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, page: str, **params: Any) -> str:
        return f"{self.origin}/{page}?{urlencode(params)}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="session")
def server(sqlite_server: Any) -> Any:
    """The snippet's subject is the browser, not storage: one SQLite collector is enough."""
    return sqlite_server


@pytest.fixture(scope="session")
def static(server: Any) -> Iterator[StaticSite]:
    if not (DIST / "ctr.js").is_file():
        pytest.fail("snippet/dist/ctr.js is missing: run python snippet/build.py")
    site = StaticSite(server.url)
    yield site
    site.close()


@pytest.fixture
def site(server: Any, static: StaticSite) -> str:
    """A fresh site key that accepts events from the fixture origin."""
    return server.new_site([static.origin])


def wait_for(
    check: Callable[[], Any], timeout: float = 10.0, sleep: Callable[[float], None] = time.sleep
) -> Any:
    """Poll until check() returns something truthy; fail with its last value otherwise."""
    deadline = time.monotonic() + timeout
    value = check()
    while not value and time.monotonic() < deadline:
        sleep(0.1)
        value = check()
    assert value, f"timed out after {timeout}s waiting for {check.__doc__ or check}"
    return value


class Collected:
    """What the collector stored for one site, read the way a test asserts it."""

    def __init__(self, server: Any, site: str) -> None:
        self.server = server
        self.site = site
        # Waiting must keep Playwright's sync dispatcher turning, or a page.route handler
        # would never run while the test polls; View sets this to the page's own wait.
        self.sleep: Callable[[float], None] = time.sleep

    def events(self) -> list[dict[str, Any]]:
        return self.server.events(self.site)

    def of(self, element: str, type: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.events() if e["element"] == element and (type is None or e["type"] == type)]

    def wait(
        self, element: str, type: str = "impression", count: int = 1, timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """Wait until `count` events of `type` for `element` arrived, then return them."""

        def arrived() -> list[dict[str, Any]] | None:
            found = self.of(element, type)
            return found if len(found) >= count else None

        arrived.__doc__ = f"{count} {type} event(s) for {element!r}"
        return wait_for(arrived, timeout, self.sleep)

    def counts(self) -> dict[tuple[str, str], int]:
        result: dict[tuple[str, str], int] = {}
        for e in self.events():
            key = (e["element"], e["type"])
            result[key] = result.get(key, 0) + 1
        return result


@pytest.fixture
def collected(server: Any, site: str) -> Collected:
    return Collected(server, site)


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    # Every fixture page is laid out for an 800 x 600 viewport.
    return {**browser_context_args, "viewport": {"width": 800, "height": 600}}


class View:
    """A fixture page in the browser, and the moves a visitor makes on it."""

    def __init__(self, page: Any, static: StaticSite, site: str, collected: Collected) -> None:
        self.page = page
        self.static = static
        self.site = site
        self.collected = collected
        self.marks = 0
        collected.sleep = self.sleep

    def until(self, check: Callable[[], Any], timeout: float = 10.0) -> Any:
        return wait_for(check, timeout, self.sleep)

    def sleep(self, seconds: float) -> None:
        """time.sleep that keeps Playwright's event dispatch (routes, events) turning."""
        for page in self.page.context.pages:
            if not page.is_closed():
                page.wait_for_timeout(seconds * 1000)
                return
        time.sleep(seconds)

    def open(self, fixture: str, page: Any = None, **params: Any) -> Any:
        page = page or self.page
        page.goto(self.static.url(fixture, SITE=self.site, **params))
        page.wait_for_function("typeof window.ctrlens == 'function'")  # even when idle
        return page

    def show(self, selector: str, fraction: float, page: Any = None) -> None:
        """Scroll so that `fraction` of the element's height shows at the viewport's bottom."""
        (page or self.page).evaluate(
            """([selector, fraction]) => {
                const r = document.querySelector(selector).getBoundingClientRect();
                scrollTo(scrollX, r.top + scrollY + Math.round(fraction * r.height) - innerHeight);
            }""",
            [selector, fraction],
        )

    def scroll_to(self, y: int, page: Any = None) -> None:
        (page or self.page).evaluate("y => scrollTo(scrollX, y)", y)

    def mark(self, page: Any = None) -> None:
        """Click the marker and wait until that click is stored: everything recorded before it
        has then been delivered (it went in the same body or an earlier one)."""
        page = page or self.page
        self.marks += 1
        page.click("#marker")
        page.evaluate("ctrlens('flush')")
        self.collected.wait("marker", "click", self.marks)
        self.sleep(0.3)  # an earlier request may still be committing


@pytest.fixture
def view(page: Any, static: StaticSite, site: str, collected: Collected) -> View:
    return View(page, static, site, collected)
