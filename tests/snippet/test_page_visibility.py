"""Behaviour 3: a hidden tab stops and resets the dwell clock.

Headless Chromium never hides a page (no tab strip, no minimised window), so the test sets
document.visibilityState and fires visibilitychange the way the browser does when the
visitor switches tabs; everything else is real.
"""

from __future__ import annotations

import time

SET_VISIBILITY = """state => {
    Object.defineProperty(document, 'visibilityState', {value: state, configurable: true});
    Object.defineProperty(document, 'hidden', {value: state === 'hidden', configurable: true});
    document.dispatchEvent(new Event('visibilitychange'));
    return Date.now();
}"""


def test_hidden_tab_resets_the_clock_and_earns_nothing(view, collected) -> None:
    view.open("dwell.html")
    view.show("#box", 1.0)
    time.sleep(0.6)
    view.page.evaluate(SET_VISIBILITY, "hidden")
    time.sleep(1.5)  # in view the whole time, but nobody can see a hidden tab
    view.mark()
    assert collected.of("box") == []

    shown = view.page.evaluate(SET_VISIBILITY, "visible")
    (event,) = collected.wait("box")
    # The 0.6 s before the tab was hidden do not count: a full second after it came back.
    assert event["ts_client"] - shown >= 1000
    time.sleep(0.3)
    assert len(collected.of("box")) == 1
