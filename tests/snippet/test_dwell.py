"""Behaviour 1: 50% of the element for 1,000 ms continuously is one viewable impression."""

from __future__ import annotations

import time


def test_half_visible_for_one_second_is_one_impression(view, collected) -> None:
    view.open("dwell.html")
    view.show("#box", 0.5)
    (event,) = collected.wait("box")
    assert event["kind"] == "banner" and not event["via_click"]
    time.sleep(1.2)  # still in view: no second impression in this page view
    view.mark()
    assert len(collected.of("box")) == 1


def test_forty_percent_for_five_seconds_is_none(view, collected) -> None:
    view.open("dwell.html")
    view.show("#box", 0.4)
    time.sleep(5)
    view.mark()
    assert collected.of("box") == []


def test_exposures_are_not_summed(view, collected) -> None:
    view.open("dwell.html")
    for _ in range(2):  # 2 x 0.6 s at 60%, scrolled away between: the clock restarts
        view.show("#box", 0.6)
        time.sleep(0.6)
        view.scroll_to(0)
        time.sleep(0.3)
    view.mark()
    assert collected.of("box") == []
