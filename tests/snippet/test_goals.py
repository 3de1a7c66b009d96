"""Goals from the page (docs/design.md §2, "Goals"): `ctrlens('goal', …)`, `data-ctr-goal` on a
link, a button or a form, and `ctrlens('id')` for a backend's later conversion."""

from __future__ import annotations

from test_presence import Sent


def conversions(sent: Sent) -> list[dict]:
    return sent.events("conversion")


def test_goal_command_with_and_without_a_value(view) -> None:
    sent = Sent(view.page)
    page = view.open("funnel.html")
    page.evaluate("ctrlens('goal', 'purchase', {value: 49.9}); ctrlens('goal', 'signup')")
    found = view.until(lambda: len(conversions(sent)) >= 2 and conversions(sent))
    assert [(c["goal"], c.get("value")) for c in found] == [("purchase", 49.9), ("signup", None)]
    assert all(c["id"].startswith(page.evaluate("ctrlens('id')") + "-") for c in found)


def test_goal_on_a_tagged_link_follows_its_click(view) -> None:
    sent = Sent(view.page)
    page = view.open("funnel.html", FLUSH="60000")
    page.evaluate("document.querySelector('#signup').addEventListener('click', e => e.preventDefault())")
    page.click("#signup")
    page.evaluate("ctrlens('flush')")
    view.until(lambda: conversions(sent))
    events = sent.events("click", "conversion")
    # The click first, so that attribution credits this link with the goal.
    assert [(e["type"], e.get("element") or e.get("goal")) for e in events] == [
        ("click", "signup-link"), ("conversion", "signup"),
    ]


def test_goal_on_a_form_fires_on_submit_not_on_a_click_inside_it(view) -> None:
    sent = Sent(view.page)
    page = view.open("funnel.html", FLUSH="60000")
    page.evaluate("document.querySelector('#newsletter').addEventListener('submit', e => e.preventDefault())")
    page.click("#newsletter", position={"x": 250, "y": 30})  # the form, not its button
    page.evaluate("ctrlens('flush')")
    view.sleep(0.3)
    assert conversions(sent) == []
    page.click("#subscribe")
    page.evaluate("ctrlens('flush')")
    (conversion,) = view.until(lambda: conversions(sent))
    assert conversion["goal"] == "newsletter"


def test_id_is_the_page_view_id_the_events_carry(view) -> None:
    sent = Sent(view.page)
    page = view.open("funnel.html")
    pageview = page.evaluate("ctrlens('id')")
    assert isinstance(pageview, str) and len(pageview) >= 8
    view.until(lambda: sent.bodies)
    assert {body["pageview"] for body in sent.bodies} == {pageview}


def test_optout_sends_no_goal_and_no_page_view_report(view) -> None:
    sent = Sent(view.page)
    view.page.add_init_script(
        "window.ctrlens = function () { (ctrlens.q = ctrlens.q || []).push(arguments); }; ctrlens('optout');"
    )
    page = view.open("funnel.html")
    page.evaluate("ctrlens('goal', 'signup'); ctrlens('flush')")
    view.sleep(0.5)
    assert sent.bodies == []
