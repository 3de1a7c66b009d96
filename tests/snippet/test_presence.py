"""Page views and presence (docs/design.md §2): every page view is reported with the tagged
elements present in it, later ones added as they appear, at most 200 names."""

from __future__ import annotations

import json
from typing import Any


class Sent:
    """The bodies the page posted to the collector, as the collector received them."""

    def __init__(self, page: Any) -> None:
        self.bodies: list[dict[str, Any]] = []
        page.on("request", self._seen)

    def _seen(self, request: Any) -> None:
        if request.method == "POST" and request.url.endswith("/e"):
            self.bodies.append(json.loads(request.post_data))

    def events(self, *types: str) -> list[dict[str, Any]]:
        """Events of these types in the order sent, each once: a body still in flight at the
        next flush is sent again (the collector counts its events once, by their ids)."""
        found: dict[str, dict[str, Any]] = {}
        for body in self.bodies:
            for event in body["events"]:
                if event["type"] in types:
                    found.setdefault(event["id"], {**event, "pageview": body["pageview"]})
        return list(found.values())

    def reports(self, pageview: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.events("pageview") if pageview is None or e["pageview"] == pageview]

    def present(self, pageview: str | None = None) -> list[str]:
        return [name for report in self.reports(pageview) for name in report["present"]]


def test_a_page_view_reports_its_present_elements_and_those_that_appear_later(view) -> None:
    sent = Sent(view.page)
    page = view.open("funnel.html")
    pageview = page.evaluate("ctrlens('id')")
    view.until(lambda: sent.reports(pageview))
    first = sent.reports(pageview)[0]
    # Present means in the DOM and not display:none; seen or not does not matter.
    expected = {"marker", "hero-cta", "pricing-link", "signup-link", "subscribe", "footer-banner"}
    assert set(first["present"]) == expected
    assert first["id"].startswith(pageview + "-")

    page.evaluate("document.body.classList.add('reveal')")  # a class change, no API call
    page.evaluate(
        "const late = document.createElement('button'); late.dataset.ctr = 'late-offer';"
        "document.body.prepend(late)"
    )
    view.until(lambda: {"hidden-promo", "late-offer"} <= set(sent.present(pageview)))
    view.sleep(0.5)
    present = sent.present(pageview)
    assert len(present) == len(set(present)) == 8  # each element reported once per page view
    assert all(body["pageview"] == pageview for body in sent.bodies)


def test_a_page_view_without_tagged_elements_is_reported_too(view) -> None:
    sent = Sent(view.page)
    page = view.open("thank-you.html")
    pageview = page.evaluate("ctrlens('id')")
    (report,) = view.until(lambda: sent.reports(pageview))
    assert report["present"] == []
    assert sent.bodies[0]["url"].endswith(page.url.split("/", 3)[3])


def test_a_page_view_names_at_most_200_elements(view) -> None:
    sent = Sent(view.page)
    page = view.open("crowd.html")
    view.until(lambda: len(sent.present()) >= 200)
    view.sleep(0.5)
    present = sent.present()
    assert len(present) == len(set(present)) == 200
    assert page.evaluate("document.querySelectorAll('[data-ctr]').length") == 250


def test_a_route_change_is_a_new_page_view_with_its_own_report(view) -> None:
    sent = Sent(view.page)
    page = view.open("spa.html")
    first = page.evaluate("ctrlens('id')")
    view.until(lambda: sent.reports(first))
    page.evaluate("history.pushState({}, '', '/spa/pricing')")
    second = page.evaluate("ctrlens('id')")
    assert second != first
    (report,) = view.until(lambda: sent.reports(second))
    assert set(report["present"]) == {"marker", "hero"}


def test_the_collector_counts_presence_once_per_page_view(view, server, site) -> None:
    """Through the collector: the element never scrolled into view is present, not seen."""
    page = view.open("funnel.html")
    view.mark()
    page.evaluate("ctrlens('pageview')")  # a second page view of the same page
    view.mark()
    rows = view.until(lambda: _footer(server, site))
    assert (rows["present"], rows["impressions"]) == (2, 0)


def _footer(server: Any, site: str) -> dict[str, Any] | None:
    row = server.elements(site).get("footer-banner")
    return row if row and row["present"] >= 2 else None
