"""An element under an opaque cover (a modal, a cookie banner) earns nothing while covered; its
clock starts when the cover goes. A sticky header over part of it does not stop it
(docs/design.md §2, "Not covered")."""

from __future__ import annotations

from typing import Any


def seen(page: Any, name: str) -> bool:
    return page.evaluate("name => ctrlens.state.seen.has(name)", name)


def test_a_modal_stops_the_clock_until_it_is_closed(view, collected) -> None:
    page = view.open("covered.html", COVER="modal")
    # Fully in view and rendered, but under the modal.
    assert page.evaluate("document.elementFromPoint(200, 250).id") == "modal"
    view.sleep(2)
    assert not seen(page, "box")
    page.evaluate("document.body.classList.remove('modal')")
    # The clock starts when the cover goes: half a second later, nothing yet.
    view.sleep(0.5)
    assert not seen(page, "box")
    view.sleep(1.1)  # 1.6 s after the modal closed
    assert seen(page, "box")
    (event,) = collected.wait("box")
    assert not event["via_click"]
    view.mark()
    assert len(collected.of("box")) == 1


def test_a_sticky_header_over_the_top_third_does_not_stop_it(view, collected) -> None:
    page = view.open("covered.html", COVER="sticky")
    # 60% of the 300 px element is in view (its top 120 px are scrolled past), and the 60 px
    # header covers the top third of that.
    view.scroll_to(2000 + 120)
    geometry = page.evaluate(
        """() => {
            const box = document.querySelector('#low').getBoundingClientRect();
            return [box.top, box.bottom, document.elementFromPoint(200, 30).id];
        }"""
    )
    assert geometry == [-120, 180, "header"]
    collected.wait("low")
    view.mark()
    assert len(collected.of("low")) == 1
