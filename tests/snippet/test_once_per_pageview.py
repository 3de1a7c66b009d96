"""Behaviour 6: one impression per element per page view; an SPA route change is a new one."""

from __future__ import annotations

import time


def test_scrolling_away_and_back_adds_nothing(view, collected) -> None:
    view.open("spa.html")
    collected.wait("hero")
    view.scroll_to(2000)
    time.sleep(0.3)
    view.scroll_to(0)
    time.sleep(1.3)
    view.mark()
    assert len(collected.of("hero")) == 1


def test_route_changes_start_new_page_views(view, collected) -> None:
    page = view.open("spa.html")
    (first,) = collected.wait("hero")

    page.evaluate("history.pushState({}, '', '/spa/pricing')")
    second = collected.wait("hero", count=2)[1]
    assert second["pageview"] != first["pageview"]
    assert second["url"].endswith("/spa/pricing")

    # Same path, new query or hash: the same page view.
    page.evaluate("history.replaceState({}, '', '/spa/pricing?tab=2#plans')")
    time.sleep(1.3)
    view.mark()
    assert len(collected.of("hero")) == 2

    page.go_back()  # popstate, back to the first path
    third = collected.wait("hero", count=3)[2]
    assert len({first["pageview"], second["pageview"], third["pageview"]}) == 3
    assert "/spa.html" in third["url"]
    time.sleep(0.3)
    assert len(collected.of("hero")) == 3
