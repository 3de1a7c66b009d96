"""A page restored from the back/forward cache is a new page view, whose elements can earn
their impressions again (docs/design.md §2).

Playwright starts Chromium with --disable-back-forward-cache; this test launches its own browser
without that flag, so that going back really restores the page from the cache."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def cached_page(
    browser_type: Any, browser_type_launch_args: dict[str, Any], browser_context_args: dict[str, Any]
) -> Iterator[Any]:
    browser = browser_type.launch(
        **browser_type_launch_args, ignore_default_args=["--disable-back-forward-cache"]
    )
    context = browser.new_context(**browser_context_args)
    yield context.new_page()
    context.close()
    browser.close()


def test_a_restored_page_is_a_new_page_view_with_new_impressions(
    cached_page, static, server, site, collected
) -> None:
    page = cached_page
    # A long flush interval: no request is in flight when the page leaves (one would keep it
    # out of the cache); the page hide sends what is pending, and the test flushes by hand.
    page.goto(static.url("restore.html", SITE=site, FLUSH=60000, cache=1))
    page.wait_for_function("ctrlens.state.seen.has('hero')")
    first = page.evaluate("ctrlens('id')")

    page.click("#away")
    page.wait_for_url("**/dwell.html*")
    collected.wait("hero")  # the page hide delivered the first page view
    page.go_back(wait_until="commit")  # a restore fires no load event
    page.wait_for_function("typeof ctrlens == 'function'")

    # The browser restored the page itself: the pageshow flag says so, and the page's navigation
    # entry is still its first load's (going back with a new load would make it "back_forward").
    assert page.evaluate("window.restores") == 1
    assert page.evaluate("performance.getEntriesByType('navigation')[0].type") == "navigate"
    second = page.evaluate("ctrlens('id')")
    assert second != first

    page.wait_for_function("ctrlens.state.seen.has('hero')")
    page.evaluate("ctrlens('flush')")
    impressions = collected.wait("hero", count=2)
    assert [event["pageview"] for event in impressions] == [first, second]
    # The restored page view was reported with the element present in it, as the first was.
    for _ in range(100):
        row = server.elements(site).get("hero")
        if row and row["present"] >= 2 and row["impressions"] >= 2:
            break
        page.wait_for_timeout(100)
    assert row and (row["present"], row["impressions"]) == (2, 2)
