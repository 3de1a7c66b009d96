"""Behaviour 4: elements in the viewport that nobody can see earn nothing until revealed."""

from __future__ import annotations

import time

HIDDEN = ["none", "invisible", "transparent", "zero", "in-faded"]


def test_unrendered_elements_earn_nothing_until_revealed(view, collected) -> None:
    view.open("rendered.html")
    time.sleep(1.5)
    view.mark()
    assert [e for e in collected.events() if e["element"] in HIDDEN] == []

    # One class change reveals them all; no API call.
    view.page.evaluate("document.body.classList.add('reveal')")
    for element in HIDDEN:
        collected.wait(element)
    time.sleep(1.2)
    view.mark()
    counts = collected.counts()
    assert {e: counts.get((e, "impression")) for e in HIDDEN} == {e: 1 for e in HIDDEN}


def test_element_hidden_mid_dwell_restarts_its_clock(view, collected) -> None:
    view.open("rendered.html")
    view.page.evaluate("document.body.classList.add('reveal')")
    time.sleep(0.6)
    view.page.evaluate("document.querySelector('#invisible').style.visibility = 'hidden'")
    time.sleep(0.3)
    shown = view.page.evaluate("document.querySelector('#invisible').style.visibility = ''; Date.now()")
    (event,) = collected.wait("invisible")
    assert event["ts_client"] - shown >= 1000
