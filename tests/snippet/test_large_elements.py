"""Behaviour 2: an element larger than the viewport counts against the viewport-capped area."""

from __future__ import annotations

import time


def test_tall_element_filling_the_viewport_earns_an_impression(view, collected) -> None:
    view.open("tall.html")
    # 240 px of an 1800 px element: 13% of it, and 40% of the 600 px viewport -> not enough.
    view.scroll_to(2000 + 240 - 600)
    time.sleep(1.5)
    view.mark()
    assert collected.of("tall") == []
    # Filling the viewport is a third of the element, and all of the capped area.
    view.scroll_to(2300)
    collected.wait("tall")
    time.sleep(0.3)
    assert len(collected.of("tall")) == 1


def test_wide_element_filling_the_viewport_width_earns_an_impression(view, collected) -> None:
    view.open("tall.html")
    # Fully visible vertically, but only 300 of 800 viewport pixels wide: 37.5% capped.
    view.page.evaluate("scrollTo(2400 - 300, 5000 - 200)")
    time.sleep(1.5)
    view.mark()
    assert collected.of("wide") == []
    view.page.evaluate("scrollTo(800, 5000 - 200)")  # 800 of 2400 px: the whole viewport width
    collected.wait("wide")
    time.sleep(0.3)
    assert len(collected.of("wide")) == 1
