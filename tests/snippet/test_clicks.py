"""Behaviour 7: clicks of every kind count for the nearest tagged element."""

from __future__ import annotations

import time


def seq(event: dict) -> int:
    """The order the snippet recorded an event in: its id is `<pageview>-<n>`."""
    return int(event["event_id"].rsplit("-", 1)[1])


def test_click_on_a_descendant_counts_for_the_nearest_tagged_ancestor(view, collected) -> None:
    view.open("clicks.html")
    collected.wait("card")
    view.page.click("#card-text")
    view.page.click("#card-button")
    view.mark()
    (card,) = collected.of("card", "click")
    (inner,) = collected.of("card-button", "click")
    assert card["kind"] == "cta" and inner["kind"] == "cta"


def test_middle_click_counts_and_right_click_does_not(view, collected) -> None:
    view.open("clicks.html")
    collected.wait("docs-link")
    with view.page.context.expect_page() as new_tab:
        view.page.click("#newtab", button="middle")
    new_tab.value.close()
    view.page.click("#button", button="right")
    view.mark()
    assert len(collected.of("docs-link", "click")) == 1
    assert collected.of("buy", "click") == []


def test_keyboard_enter_on_a_button_counts(view, collected) -> None:
    view.open("clicks.html")
    view.page.focus("#button")
    view.page.keyboard.press("Enter")
    view.mark()
    assert len(collected.of("buy", "click")) == 1


def test_click_that_navigates_away_is_delivered(view, collected) -> None:
    # A long flush interval: only the page-hide path can deliver before the page is gone.
    page = view.open("clicks.html", FLUSH="60000")
    page.click("#link-inner")
    page.wait_for_url("**/dwell.html*")
    (click,) = collected.wait("signup-link", "click")
    assert click["kind"] == "link"


def test_keyboard_enter_on_a_link_that_navigates_is_delivered(view, collected) -> None:
    page = view.open("clicks.html", FLUSH="60000")
    page.focus("#link")
    page.keyboard.press("Enter")
    page.wait_for_url("**/dwell.html*")
    collected.wait("signup-link", "click")


def test_click_before_any_impression_records_one_via_click(view, collected) -> None:
    view.open("clicks.html")
    view.page.click("#below")  # scrolls it into view and clicks at once, well under 1 s
    (impression,) = collected.wait("below")
    (click,) = collected.wait("below", "click")
    assert impression["via_click"] and seq(impression) + 1 == seq(click)
    time.sleep(1.3)  # now it has been seen for a second too: still one impression
    view.mark()
    assert len(collected.of("below", "impression")) == 1


def test_double_click_is_one_clicking_page_view_and_two_clicks(view, collected, server, site) -> None:
    view.open("clicks.html")
    collected.wait("buy")
    view.page.dblclick("#button")
    view.mark()
    assert len(collected.of("buy", "click")) == 2
    row = server.elements(site)["buy"]
    assert (row["impressions"], row["clicks"], row["total_clicks"]) == (1, 1, 2)
