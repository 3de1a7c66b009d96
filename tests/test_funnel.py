"""The element funnel, present -> seen -> clicked -> converted (docs/design.md §1-§4).

Browser tests: real Chromium on fixture pages (tests/snippet/fixtures), a real `ctrlens serve` on
each backend whose clock a test may set (`CTRLENS_CLOCK_FILE`, the one fake: a click at 23:59
cannot wait for midnight). Then the pure parts: attribution, the diagnosis and the post-click
comparison at their boundaries.
"""

from __future__ import annotations

import importlib.util
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ctrlens.collector.events import conversion_id
from ctrlens.collector.storage.attribution import Click, attribute, came_before, window_ms
from ctrlens.collector.storage.goals import Goal
from ctrlens.dashboard.diagnosis import Funnel, converts_below_site, diagnose, post_click_interval
from ctrlens.dashboard.funnel import choose_goal, funnel_fields
from harness import BROWSER_UA, Databases, Server, run_sync

# The fixture pages' static server lives with the snippet's tests; loaded by path, since both
# test folders have a conftest.py of their own.
_spec = importlib.util.spec_from_file_location(
    "snippet_pages", Path(__file__).parent / "snippet" / "conftest.py"
)
assert _spec and _spec.loader
_pages = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_pages)
StaticSite = _pages.StaticSite

BACKEND_UA = "ShopBackend/2.1 (payments)"


# -- a collector whose clock a test can set, per backend ----------------------------------------


@pytest.fixture(scope="module")
def clock(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The server's clock while it holds epoch milliseconds; the real clock while it is empty."""
    return tmp_path_factory.mktemp("clock") / "now_ms"


@pytest.fixture(scope="module")
def funnel_server(backend: str, databases: Databases, clock: Path) -> Iterator[Server]:
    srv = Server(databases.new(backend), env={"CTRLENS_CLOCK_FILE": str(clock)}).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def pages(funnel_server: Server) -> Iterator[Any]:
    site = StaticSite(funnel_server.url)
    yield site
    site.close()


@pytest.fixture
def site(funnel_server: Server, pages: Any) -> str:
    return funnel_server.new_site([pages.origin])


class Shop:
    """One site seen through a browser tab and the dashboard's API."""

    def __init__(self, server: Server, pages: Any, site: str, page: Any) -> None:
        self.server, self.pages, self.site, self.page = server, pages, site, page

    def open(self, fixture: str, **params: Any) -> str:
        """Open a page; return its page view id (`ctrlens('id')`)."""
        self.page.goto(self.pages.url(fixture, SITE=self.site, FLUSH="100", **params))
        self.page.wait_for_function("typeof window.ctrlens == 'function'")
        return str(self.page.evaluate("ctrlens('id')"))

    def define(self, name: str, **goal: Any) -> None:
        r = self.server.client.post(
            f"/api/sites/{self.site}/goals", json={"name": name, **goal}, headers=self.server.auth
        )
        assert r.status_code == 201, r.text

    def clicks(self, element: str) -> list[dict[str, Any]]:
        return [e for e in self.server.events(self.site) if e["element"] == element and e["type"] == "click"]

    def wait_click(self, element: str, count: int = 1) -> None:
        self.until(lambda: len(self.clicks(element)) >= count, f"{count} click(s) of {element}")

    def conversions(self) -> list[dict[str, Any]]:
        async def read() -> list[dict[str, Any]]:
            from ctrlens.collector.storage import open_storage

            storage = await open_storage(self.server.db, migrate=False)
            try:
                return list(await storage.conversions(self.site))
            finally:
                await storage.close()

        return list(run_sync(read()))

    def wait_conversions(self, count: int = 1) -> list[dict[str, Any]]:
        self.until(lambda: len(self.conversions()) >= count, f"{count} conversion(s)")
        self.page.wait_for_timeout(300)  # nothing more should come
        found = self.conversions()
        assert len(found) == count, found
        return found

    def elements(self, goal: str) -> dict[str, dict[str, Any]]:
        return self.server.elements(self.site, goal=goal)

    def until(self, check: Any, what: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            self.page.wait_for_timeout(100)


@pytest.fixture
def shop(funnel_server: Server, pages: Any, site: str, page: Any) -> Shop:
    return Shop(funnel_server, pages, site, page)


# -- the browser, the collector and the API ----------------------------------------------------


def test_a_click_then_a_thank_you_page_credits_the_click(shop: Shop) -> None:
    shop.define("purchase", path="/thank-you*", value=20)
    shop.open("funnel.html")
    shop.page.click("#pricing")  # a tagged link to /thank-you.html: a page-path goal, no code
    shop.page.wait_for_url("**/thank-you.html*")
    (conversion,) = shop.wait_conversions()
    assert (conversion["goal"], conversion["element"]) == ("purchase", "pricing-link")
    assert conversion["value"] == 20  # the goal's default value
    rows = shop.elements("purchase")
    pricing = rows["pricing-link"]
    assert (pricing["clicks"], pricing["conversions"], pricing["assisted"]) == (1, 1, 0)
    assert pricing["post_click_rate"] == 1.0 and pricing["conversion_value"] == 20
    assert pricing["value_per_1000"] == pytest.approx(20_000 / pricing["impressions"])


def test_a_goal_from_code_carries_its_value(shop: Shop) -> None:
    shop.open("funnel.html")
    shop.page.click("#hero")
    shop.page.evaluate("ctrlens('goal', 'purchase', {value: 49.9})")
    (conversion,) = shop.wait_conversions()
    assert (conversion["element"], conversion["value"]) == ("hero-cta", 49.9)
    assert shop.elements("purchase")["hero-cta"]["conversion_value"] == pytest.approx(49.9)
    goals = shop.server.client.get(f"/api/sites/{shop.site}/goals", headers=shop.server.auth).json()["goals"]
    assert goals == [{"name": "purchase", "path": None, "value": None, "defined": False}]  # listed by use


def test_a_form_goal_fires_on_submit(shop: Shop) -> None:
    shop.open("funnel.html")
    shop.page.click("#subscribe")  # submits the newsletter form, which leaves the page
    shop.page.wait_for_url("**/thanks-form.html*")
    (conversion,) = shop.wait_conversions()
    assert (conversion["goal"], conversion["element"]) == ("newsletter", "subscribe")


def test_a_backend_conversion_under_the_page_views_id(shop: Shop) -> None:
    pageview = shop.open("funnel.html")
    shop.page.click("#hero")
    shop.page.evaluate("ctrlens('flush')")
    shop.wait_click("hero-cta")
    # The payment clears later, on a server: another address and user agent, the page's id.
    body = {
        "site": shop.site, "pageview": pageview, "url": shop.pages.url("funnel.html"),
        "events": [{"id": "payment-81", "type": "conversion", "goal": "purchase", "value": 120}],
    }
    answer = shop.server.post(body, shop.pages.origin, content_type="application/json", user_agent=BACKEND_UA)
    assert answer.status_code == 202 and answer.json()["accepted"] == 1
    (conversion,) = shop.wait_conversions()
    assert (conversion["pageview"], conversion["element"], conversion["value"]) == (pageview, "hero-cta", 120)


def test_a_conversion_without_a_click_counts_for_the_site_and_page_only(shop: Shop) -> None:
    shop.open("funnel.html")
    shop.page.evaluate("ctrlens('goal', 'purchase')")
    (conversion,) = shop.wait_conversions()
    assert conversion["element"] == "" and conversion["page"] == "/funnel.html"
    body = shop.server.client.get(
        f"/api/sites/{shop.site}/elements", params={"goal": "purchase"}, headers=shop.server.auth
    ).json()
    assert all(row["conversions"] == 0 for row in body["elements"])
    assert (body["totals"]["conversions"], body["totals"]["unattributed"]) == (1, 1)


def test_a_click_at_2359_and_a_conversion_at_0001_are_linked(shop: Shop, clock: Path) -> None:
    midnight = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    try:
        clock.write_text(str(int((midnight - timedelta(minutes=1)).timestamp() * 1000)))
        shop.open("funnel.html")
        shop.page.click("#hero")
        shop.page.evaluate("ctrlens('flush')")
        shop.wait_click("hero-cta")
        clock.write_text(str(int((midnight + timedelta(minutes=1)).timestamp() * 1000)))
        shop.open("funnel.html")  # a new page view, and a new visitor id: a new day's salt
        shop.page.evaluate("ctrlens('goal', 'purchase')")
        (conversion,) = shop.wait_conversions()
    finally:
        clock.write_text("")
    assert conversion["element"] == "hero-cta"
    (click,) = shop.clicks("hero-cta")
    assert click["visitor"] != conversion["visitor"]  # the days' ids differ; yesterday's was tried


def test_two_clicked_elements_credit_the_last_and_assist_the_other(shop: Shop) -> None:
    shop.open("funnel.html")
    shop.page.click("#hero")
    shop.page.click("#marker")
    shop.page.evaluate("ctrlens('goal', 'purchase')")
    (conversion,) = shop.wait_conversions()
    assert (conversion["element"], conversion["assisted"]) == ("marker", 1)
    rows = shop.elements("purchase")
    assert (rows["marker"]["conversions"], rows["marker"]["assisted"]) == (1, 0)
    assert (rows["hero-cta"]["conversions"], rows["hero-cta"]["assisted"]) == (0, 1)


def test_a_replayed_conversion_counts_once(shop: Shop) -> None:
    pageview = shop.open("funnel.html")
    body = {
        "site": shop.site, "pageview": pageview, "url": shop.pages.url("funnel.html"),
        "events": [{"id": f"{pageview}-900", "type": "conversion", "goal": "purchase", "value": 10}],
    }
    first = shop.server.post(body, shop.pages.origin)
    again = shop.server.post(body, shop.pages.origin)
    body["events"][0]["id"] = f"{pageview}-901"  # another id, the same goal in the same page view
    other = shop.server.post(body, shop.pages.origin)
    assert [r.json()["accepted"] for r in (first, again, other)] == [1, 0, 0]
    assert [r.json()["duplicates"] for r in (first, again, other)] == [0, 1, 1]
    shop.wait_conversions(1)


def test_an_element_never_scrolled_into_view_is_present_not_seen(shop: Shop) -> None:
    shop.open("funnel.html")
    shop.page.click("#marker")
    shop.page.evaluate("ctrlens('flush')")
    shop.wait_click("marker")
    shop.until(lambda: "footer-banner" in shop.server.elements(shop.site), "footer-banner's presence")
    footer = shop.server.elements(shop.site)["footer-banner"]
    assert (footer["present"], footer["impressions"], footer["viewability_rate"]) == (1, 0, 0.0)
    assert "hidden-promo" not in shop.server.elements(shop.site)  # display:none is not present


def test_goals_api_defines_lists_and_deletes(shop: Shop) -> None:
    shop.define("signup", path="/welcome*", value=5)
    url = f"/api/sites/{shop.site}/goals"
    listed = shop.server.client.get(url, headers=shop.server.auth).json()["goals"]
    assert listed == [{"name": "signup", "path": "/welcome*", "value": 5.0, "defined": True}]
    bad = shop.server.client.post(url, json={"name": "x", "path": "welcome"}, headers=shop.server.auth)
    assert bad.status_code == 400 and "path" in bad.json()["error"]
    headers = {**shop.server.auth, "Content-Type": "application/json"}  # an API write is JSON (§6)
    gone = shop.server.client.request("DELETE", f"{url}/signup", headers=headers)
    assert gone.status_code == 200
    assert shop.server.client.get(url, headers=shop.server.auth).json()["goals"] == []
    assert shop.server.client.request("DELETE", f"{url}/signup", headers=headers).status_code == 404
    page = shop.server.client.get(f"/sites/{shop.site}/goals", headers=shop.server.auth)
    assert page.status_code == 200 and "Define a goal" in page.text
    settings = shop.server.client.put(
        f"/api/sites/{shop.site}/settings",
        json={"attribution_window_hours": 2, "viewability_threshold": 0.5},
        headers=shop.server.auth,
    ).json()
    assert (settings["attribution_window_hours"], settings["viewability_threshold"]) == (2, 0.5)
    too_long = shop.server.client.put(
        f"/api/sites/{shop.site}/settings", json={"attribution_window_hours": 72}, headers=shop.server.auth
    )
    assert too_long.status_code == 400 and "48" in too_long.json()["error"]
    form = shop.server.client.get(f"/sites/{shop.site}/settings", headers=shop.server.auth).text
    assert 'name="funnel_window" inputmode="numeric" size="4" value="2"' in form


def test_invalid_funnel_events_are_rejected_one_by_one(funnel_server: Server, pages: Any, site: str) -> None:
    pageview = uuid.uuid4().hex
    events = [
        {"id": "a", "type": "pageview", "present": ["hero", "x" * 129]},
        {"id": "b", "type": "pageview", "present": [f"e{i}" for i in range(201)]},
        {"id": "c", "type": "conversion"},
        {"id": "d", "type": "conversion", "goal": "buy", "value": -1},
        {"id": "e", "type": "conversion", "goal": "buy", "value": 1e12},
        {"id": "f", "type": "click"},
        {"id": "g", "type": "pageview", "present": ["hero"]},
        {"id": "h", "type": "conversion", "goal": "buy", "value": 3.5},
    ]
    body = {"site": site, "pageview": pageview, "url": pages.url("funnel.html"), "events": events}
    answer = funnel_server.post(body, pages.origin, user_agent=BROWSER_UA).json()
    assert answer["accepted"] == 2
    assert [r["index"] for r in answer["rejected"]] == [0, 1, 2, 3, 4, 5]
    assert "goal" in answer["rejected"][2]["reason"] and "element" in answer["rejected"][5]["reason"]


# -- attribution, pure ---------------------------------------------------------------------------

T = 1_764_000_000_000


def click(element: str, ts_server: int, ts_client: int = 0, visitor: str = "v") -> Click:
    return Click(visitor, element, "A", "/", "", ts_server, ts_client)


def test_the_last_click_in_the_window_is_credited_and_the_others_assist() -> None:
    window = window_ms({})
    clicks = [click("hero", T), click("nav", T + 1000), click("hero", T - 10)]
    credit = attribute(clicks, T + 5000, None, window)
    assert credit.credited and credit.credited.element == "nav"
    assert [c.element for c in credit.assisted] == ["hero"]


def test_clicks_outside_the_window_or_after_the_conversion_do_not_count() -> None:
    window = window_ms({})
    assert window == 24 * 3_600_000
    assert attribute([click("hero", T)], T + window, None, window).credited is not None  # the edge
    assert attribute([click("hero", T)], T + window + 1, None, window).credited is None
    assert attribute([click("hero", T + 1)], T, None, window).credited is None  # arrived later


def test_within_one_batch_the_clients_clock_decides() -> None:
    early, late = click("hero", T, ts_client=100), click("nav", T, ts_client=300)
    assert came_before(early, T, 200) and not came_before(late, T, 200)
    assert came_before(late, T, None)  # a conversion without ts: the batch's clicks came first
    credit = attribute([early, late], T, 200, window_ms({}))
    assert credit.credited == early and credit.assisted == ()


def test_the_window_setting_is_bounded() -> None:
    assert window_ms({"attribution_window_hours": 2}) == 2 * 3_600_000
    assert window_ms({"attribution_window_hours": 100}) == 48 * 3_600_000  # ids last two days
    assert window_ms({"attribution_window_hours": "x"}) == window_ms({})
    assert window_ms({"attribution_window_hours": 0}) == window_ms({})


def test_goal_page_paths_match_whole_paths_with_stars() -> None:
    thanks = Goal("purchase", "/thank-you*")
    assert thanks.matches("/thank-you") and thanks.matches("/thank-you/order/7")
    assert not thanks.matches("/shop/thank-you") and not Goal("x", "").matches("/")
    assert Goal("x", "/a.b").matches("/a.b") and not Goal("x", "/a.b").matches("/axb")


def test_the_chosen_goal_defaults_to_the_first_defined_one() -> None:
    goals = [Goal("a"), Goal("b", defined=True), Goal("c", defined=True)]
    assert choose_goal(None, goals) == "b" and choose_goal("c", goals) == "c"
    assert choose_goal(None, [Goal("a")]) == "a" and choose_goal(None, []) is None


# -- the diagnosis and the post-click comparison, pure ----------------------------------------------


def test_not_seen_comes_first_at_its_boundaries() -> None:
    # Present in 200 page views (min_impressions) and seen in 59 (29.5%): not seen, whatever else.
    assert diagnose(Funnel(200, 59, 0), "insufficient", None, 200).diagnosis == "not_seen"
    assert diagnose(Funnel(200, 60, 0), "insufficient", None, 200).diagnosis == "insufficient"  # 30%
    assert diagnose(Funnel(199, 10, 0), "insufficient", None, 200).diagnosis == "insufficient"  # too few
    assert diagnose(Funnel(1000, 299, 200), "good", 0.1, 200).diagnosis == "not_seen"
    assert diagnose(Funnel(1000, 300, 200), "poor", 0.1, 200, 0.5).diagnosis == "not_seen"
    sentence = diagnose(Funnel(1000, 310, 1), "poor", None, 200, 0.5).sentence
    assert sentence == "Seen in 31% of the page views that had it: move it up."


def test_insufficient_then_seen_not_clicked_then_working() -> None:
    assert diagnose(Funnel(250, 199, 50), "insufficient", None, 200).diagnosis == "insufficient"
    assert diagnose(Funnel(250, 200, 1), "poor", None, 200).diagnosis == "seen_not_clicked"
    assert diagnose(Funnel(250, 200, 8), "average", None, 200).diagnosis == "working"
    assert diagnose(Funnel(250, 200, 8), "good", 0.5, 200).diagnosis == "clicked_not_converting"
    assert diagnose(Funnel(250, 200, 8, 4), "good", 0.5, 200).diagnosis == "working"


def test_clicked_not_converting_needs_the_whole_interval_below_the_site() -> None:
    # 100 clicks, 2 conversions: Wilson 95% upper bound ~7.0%.
    low, high = post_click_interval(2, 100)
    assert high == pytest.approx(0.06996, abs=1e-4) and low == pytest.approx(0.00551, abs=1e-4)
    assert converts_below_site(2, 100, high + 1e-9)
    assert not converts_below_site(2, 100, high)  # touching the site's rate is not "below"
    assert not converts_below_site(0, 0, 0.5)  # no clicks, no interval
    assert not converts_below_site(2, 100, None)  # no goal chosen
    funnel = Funnel(1000, 900, 100, 2)
    assert diagnose(funnel, "good", high + 0.001, 200).diagnosis == "clicked_not_converting"
    assert diagnose(funnel, "average", high + 0.001, 200).diagnosis == "clicked_not_converting"
    assert diagnose(funnel, "good", high - 0.001, 200).diagnosis == "working"
    words = diagnose(funnel, "good", 0.08, 200).sentence
    assert words == (
        "Clicked often, converts at 25% of the site's rate: the next page does not keep the promise."
    )


def test_funnel_fields_never_show_viewability_over_one() -> None:
    row = {"impressions": 10, "clicks": 2, "rating": "insufficient"}
    fields = funnel_fields(row, 7, (3, 1, 30.0), "buy", 0.1, 200)
    assert fields["present"] == 10 and fields["viewability_rate"] == 1.0
    assert (fields["conversions"], fields["assisted"], fields["post_click_rate"]) == (3, 1, 1.5)
    assert fields["post_click_high"] <= 1.0 and fields["conversions_per_1000"] == 300.0
    assert fields["value_per_1000"] == 3000.0
    none = funnel_fields(row, 12, None, None, None, 200)
    assert none["conversions"] is None and none["viewability_rate"] == pytest.approx(10 / 12)


def test_conversion_ids_make_one_conversion_per_goal_per_page_view() -> None:
    assert conversion_id("pv", "buy") == conversion_id("pv", "buy") != conversion_id("pv", "sell")
