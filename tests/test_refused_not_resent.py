"""Events the collector refuses are not resent (docs/design.md §3): a page on an origin the site
does not allow gets one 403 per batch, with CORS headers and its JSON reason, so the snippet
sees the answer and drops the batch. Later page loads and page hides send no retry of it. The
requests are counted at the collector (/metrics and the site's rejection counts), not in the
browser."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Page, Response

from harness import Databases, Origin, Server

ALLOWED = "https://shop.example"
PAGE = """<!doctype html>
<html><head><title>refused</title>
<script defer src="{collector}/ctr.js" data-site="{site}" data-flush-ms="100"></script>
</head><body><p>A page on an origin the site does not allow.</p></body></html>
"""


class Pages(Origin):
    """One page, served from an origin of its own (not one of the site's)."""

    def __init__(self, collector: str, site: str) -> None:
        body = PAGE.format(collector=collector, site=site).encode()
        super().__init__(lambda _path: (body, "text/html", {}))


@pytest.fixture(scope="module")
def collector(databases: Databases) -> Iterator[Server]:
    """A collector of its own, so its /metrics counts only this test's requests."""
    srv = Server(databases.new("sqlite")).start()
    yield srv
    srv.stop()


def refused_requests(server: Server) -> int:
    text = server.client.get("/metrics").text
    found = re.search(r'^ctrlens_ingest_requests_total\{status="403"\} (\d+)$', text, re.M)
    return int(found.group(1)) if found else 0


def all_requests(server: Server) -> int:
    text = server.client.get("/metrics").text
    return sum(int(n) for n in re.findall(r'^ctrlens_ingest_requests_total\{status="\d+"\} (\d+)$', text, re.M))


def wait_for(page: Page, condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Polls `condition`, letting Playwright deliver the page's events in between."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        page.wait_for_timeout(50)


def hide(page: Page) -> None:
    """What a tab switch does to the page, as the snippet sees it."""
    page.evaluate(
        """() => {
            Object.defineProperty(document, 'hidden', { value: true, configurable: true });
            Object.defineProperty(document, 'visibilityState', { value: 'hidden', configurable: true });
            document.dispatchEvent(new Event('visibilitychange'));
            dispatchEvent(new PageTransitionEvent('pagehide'));
        }"""
    )


def test_a_refused_batch_reaches_the_collector_once_and_is_never_resent(collector: Server, page: Page) -> None:
    site = collector.new_site([ALLOWED])
    pages = Pages(collector.url, site)
    try:
        answers: list[Response] = []
        page.on("response", lambda r: r.url == collector.url + "/e" and answers.append(r))
        page.goto(pages.origin + "/")
        wait_for(page, lambda: refused_requests(collector) == 1)
        wait_for(page, lambda: len(answers) == 1)
        answer = answers[0]
        # The browser could read the refusal: CORS headers on the 403, and the reason in JSON.
        assert answer.status == 403
        assert answer.headers["access-control-allow-origin"] == pages.origin
        assert "is not allowed" in answer.json()["error"]
        # Dropped for good: nothing is held for a later page.
        page.wait_for_function("(localStorage['ctrlens-queue'] || '[]') == '[]'")
        # A tab switch and a page hide flush what is held: nothing.
        hide(page)
        page.wait_for_timeout(1000)
        assert all_requests(collector) == 1
        # The next page load sends its own page view, once, and nothing of the first one.
        page.goto(pages.origin + "/again")
        wait_for(page, lambda: refused_requests(collector) == 2)
        page.wait_for_timeout(1500)  # many flush intervals, and more than the snippet's first retry delay
        assert all_requests(collector) == 2
        assert collector.rejections(site).get("origin") == 2  # one page view event each, never twice
    finally:
        pages.close()
