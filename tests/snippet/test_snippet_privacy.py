"""Behaviour 10: no cookies; nothing sent under data-respect-dnt with DNT or GPC on, nor
after ctrlens('optout')."""

from __future__ import annotations

import pytest

# The browser settings a visitor turns on (Chromium's DNT switch, or a GPC extension).
SIGNALS = {
    "dnt": "Object.defineProperty(Navigator.prototype, 'doNotTrack', {get: () => '1'})",
    "gpc": "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', {get: () => true})",
}
QUEUE_STUB = (
    "window.ctrlens = window.ctrlens || function () { (ctrlens.q = ctrlens.q || []).push(arguments); };"
)


def test_no_cookies_anywhere(view, collected) -> None:
    answers: list = []
    view.page.on("response", lambda r: r.url.endswith("/e") and answers.append(r))
    page = view.open("dwell.html")
    view.show("#box", 1.0)
    collected.wait("box")
    view.mark()
    assert page.evaluate("document.cookie") == ""
    assert page.context.cookies() == []
    assert answers and not any("set-cookie" in r.headers for r in answers)


@pytest.mark.parametrize("signal", sorted(SIGNALS))
def test_respect_dnt_sends_nothing_when_the_visitor_asks(view, collected, signal) -> None:
    view.page.add_init_script(SIGNALS[signal])
    page = view.open("dwell.html", RESPECT="data-respect-dnt")
    view.show("#box", 1.0)
    page.click("#marker")
    view.sleep(1.3)
    page.goto(view.static.url("spa.html"))  # a page hide would send anything pending
    view.sleep(1.0)
    assert collected.events() == []
    assert page.evaluate("localStorage.length") == 0


@pytest.mark.parametrize("signal", sorted(SIGNALS))
def test_without_respect_dnt_the_signal_is_the_sites_call(view, collected, signal) -> None:
    view.page.add_init_script(SIGNALS[signal])
    view.open("dwell.html")
    view.show("#box", 1.0)
    collected.wait("box")


def test_optout_before_load_sends_nothing(view, collected) -> None:
    view.page.add_init_script(QUEUE_STUB + "ctrlens('optout');")
    page = view.open("dwell.html")
    view.show("#box", 1.0)
    page.click("#marker")
    view.sleep(1.3)
    page.goto(view.static.url("spa.html", FLUSH="100"))
    view.sleep(1.0)
    assert collected.events() == []


def test_optout_stops_a_running_snippet(view, collected) -> None:
    page = view.open("dwell.html")
    view.show("#box", 1.0)
    collected.wait("box")
    view.mark()
    before = len(collected.events())
    page.evaluate("ctrlens('optout')")
    view.show("#other", 1.0)
    page.click("#marker")
    view.sleep(1.3)
    page.goto(view.static.url("spa.html"))
    view.sleep(1.0)
    assert len(collected.events()) == before
