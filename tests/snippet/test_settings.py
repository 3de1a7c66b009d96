"""Behaviour 9: variant, account and kind from attributes and the command queue; per-element
threshold and dwell; data-api."""

from __future__ import annotations

import time


def test_variant_account_and_kind_from_attributes(view, collected) -> None:
    view.open("config.html", HTML_VARIANT="A", SCRIPT_VARIANT="S", ACCOUNT="acme-corp")
    for element in ("plain", "override", "k-link", "k-input", "k-nav"):
        collected.wait(element)
    got = {e["element"]: e for e in collected.events()}
    assert (got["plain"]["variant"], got["plain"]["account"]) == ("A", "acme-corp")  # <html> wins
    assert got["override"]["variant"] == "hero-v2"  # the element's own
    kinds = {name: got[name]["kind"] for name in ("plain", "k-link", "k-input", "k-nav", "marker")}
    assert kinds == {"plain": "banner", "k-link": "link", "k-input": "cta", "k-nav": "nav", "marker": "cta"}


def test_variant_from_the_script_tag(view, collected) -> None:
    view.open("config.html", SCRIPT_VARIANT="S")
    (event,) = collected.wait("plain")
    assert event["variant"] == "S" and event["account"] == ""


def test_commands_queued_before_load_are_replayed(view, collected) -> None:
    page = view.open("queue.html")
    (event,) = collected.wait("plain")
    assert (event["variant"], event["account"]) == ("B", "acme")  # the command beats <html>
    page.evaluate("ctrlens('variant', 'C')")
    page.evaluate("document.querySelector('#late').scrollIntoView()")
    (late,) = collected.wait("late")
    assert late["variant"] == "C"


def test_per_element_threshold_and_dwell(view, collected) -> None:
    view.open("config.html")
    view.show("#low", 0.35)  # 35%: under the default 50%, over its own 30%
    collected.wait("low")
    view.show("#quick", 1.0)  # 0.5 s: under the default second, over its own 300 ms
    time.sleep(0.5)
    view.show("#box", 1.0)  # and the same 0.5 s for an element on the defaults
    time.sleep(0.5)
    view.scroll_to(0)
    view.mark()
    assert len(collected.of("low")) == 1 and len(collected.of("quick")) == 1
    assert collected.of("box") == []


def test_page_wide_threshold_and_dwell_on_the_script_tag(view, collected) -> None:
    view.open("config.html", THRESHOLD="0.3", DWELL="300")
    view.show("#box", 0.35)
    time.sleep(0.6)
    view.scroll_to(0)
    view.mark()
    assert len(collected.of("box")) == 1


def test_data_api_sends_events_elsewhere(view, collected, server) -> None:
    # Same collector under another name: only data-api can have sent them there.
    other = server.url.replace("127.0.0.1", "localhost")
    hosts: list[str] = []
    view.page.on("request", lambda r: r.url.endswith("/e") and hosts.append(r.url))
    view.open("config.html", API=other + "/e")
    collected.wait("plain")
    assert hosts and set(hosts) == {other + "/e"}


def test_data_api_relative_to_the_page_for_a_first_party_proxy(view, collected, static) -> None:
    hosts: list[str] = []
    view.page.on("request", lambda r: r.url.endswith("/e") and hosts.append(r.url))
    view.open("config.html", API="/proxy/e")
    collected.wait("plain")
    assert hosts and set(hosts) == {static.origin + "/proxy/e"}
