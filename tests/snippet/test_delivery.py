"""Behaviour 8: batches go out periodically and on page hide (sendBeacon, text/plain, then
fetch keepalive), stay under 60 KB, and survive a collector that is down or a browser that
is offline: kept in localStorage (bounded), retried, and counted once."""

from __future__ import annotations

import json

QUEUE = "JSON.parse(localStorage['ctrlens-queue'] || '[]')"


def collector_requests(context, collector: str) -> list:
    sent: list = []
    context.on("request", lambda r: r.url == collector + "/e" and sent.append(r))
    return sent


# Playwright does not report requests a closing page makes, so the hide tests watch the
# calls themselves: a spy that records each call in sessionStorage (which survives the
# same-origin navigation) and then makes the real call.
SPY = """
    const log = (what) => sessionStorage.spy = JSON.stringify([...JSON.parse(sessionStorage.spy || '[]'), what]);
    const beacon = navigator.sendBeacon.bind(navigator);
    navigator.sendBeacon = (url, body) => (log({beacon: String(url), type: typeof body}), %s);
    const fetch_ = window.fetch;
    window.fetch = (url, init) => (log({fetch: String(url), keepalive: !!init.keepalive}), fetch_(url, init));
"""


def test_page_hide_sends_a_text_plain_beacon(view, collected, server) -> None:
    view.page.add_init_script(SPY % "beacon(url, body)")
    page = view.open("dwell.html", FLUSH="60000")  # only the page hide can send
    view.show("#box", 1.0)
    page.wait_for_function("ctrlens.state.seen.has('box')")  # recorded, not yet sent
    assert collected.of("box") == []
    page.goto(view.static.url("spa.html"))  # away: the page hides
    collected.wait("box")
    calls = json.loads(page.evaluate("sessionStorage.spy"))
    # A string body: sendBeacon sends it as text/plain, a simple request with no preflight.
    assert calls[0] == {"beacon": server.url + "/e", "type": "string"}
    assert not any("fetch" in c for c in calls)


def test_refused_beacon_falls_back_to_fetch_keepalive(view, collected, server) -> None:
    view.page.add_init_script(SPY % "false")  # what a browser does when the beacon quota is full
    page = view.open("dwell.html", FLUSH="60000")
    view.show("#box", 1.0)
    page.wait_for_function("ctrlens.state.seen.has('box')")
    page.goto(view.static.url("spa.html"))
    collected.wait("box")
    calls = json.loads(page.evaluate("sessionStorage.spy"))
    assert calls[:2] == [
        {"beacon": server.url + "/e", "type": "string"},
        {"fetch": server.url + "/e", "keepalive": True},
    ]
    view.sleep(0.3)
    assert len(collected.of("box")) == 1


def test_large_batches_are_split_under_60_kb(view, collected, server, site) -> None:
    sent = collector_requests(view.page.context, server.url)
    page = view.open("grid.html", FLUSH="60000", COUNT="300")
    page.wait_for_function("ctrlens.state.seen.size >= 300", timeout=10_000)
    page.evaluate("ctrlens('flush')")

    def cells() -> list:
        return [e for e in collected.events() if e["element"].startswith("cell-")]

    view.until(lambda: len(cells()) >= 300)
    cells = cells()
    assert len(cells) == 300 and len({e["element"] for e in cells}) == 300
    bodies = [r.post_data_buffer for r in sent]
    assert len(bodies) >= 2
    assert max(len(b) for b in bodies) <= 60_000
    assert max(len(json.loads(b)["events"]) for b in bodies) <= 50  # the collector takes 200
    assert server.rejections(site) == {}


def test_unreachable_collector_keeps_events_and_retries(view, collected) -> None:
    page = view.page
    page.route("**/e", lambda route: route.abort("connectionrefused"))
    view.open("dwell.html")
    view.show("#box", 1.0)
    page.wait_for_function(f"{QUEUE}.some(b => b.events.some(e => e.element === 'box'))")
    view.sleep(0.5)  # a few more failed attempts
    page.unroute("**/e")
    collected.wait("box")
    page.wait_for_function(f"{QUEUE}.length === 0")
    view.sleep(0.5)
    assert len(collected.of("box")) == 1


def test_retryable_and_permanent_answers(view, collected) -> None:
    page = view.page
    answers = iter([503, 429, 408])

    def collector_down(route) -> None:
        status = next(answers, None)
        if status is None:
            route.continue_()
        else:
            route.fulfill(status=status, content_type="application/json", body='{"error": "busy"}')

    page.route("**/e", collector_down)
    view.open("dwell.html")
    view.show("#box", 1.0)
    collected.wait("box")  # after a 503, a 429 and a 408 (a proxy's timeout), the fourth attempt lands
    page.unroute("**/e")

    # A permanent refusal (400) is not retried: the events are dropped, not resent forever.
    refused: list = []
    page.route("**/e", lambda route: (refused.append(1), route.fulfill(status=400, body='{"error": "bad"}')))
    view.show("#other", 1.0)
    view.until(lambda: refused)
    page.wait_for_function(f"{QUEUE}.length === 0")
    attempts = len(refused)
    view.sleep(1.0)
    assert len(refused) == attempts and collected.of("other") == []


def test_offline_events_are_sent_on_the_next_page_load(view, collected) -> None:
    page = view.open("dwell.html")
    page.context.set_offline(True)
    view.show("#box", 1.0)
    page.wait_for_function(f"{QUEUE}.some(b => b.events.some(e => e.element === 'box'))")
    pageview = page.evaluate(f"{QUEUE}.find(b => b.events.some(e => e.element === 'box')).pageview")
    page.close()  # hidden while offline: kept, not thrown at the network
    page.context.set_offline(False)
    assert collected.of("box") == []

    view.open("spa.html", page=page.context.new_page())  # the next page on the same site
    (event,) = collected.wait("box")
    assert event["pageview"] == pageview
    view.sleep(0.5)
    assert len(collected.of("box")) == 1


def test_stored_events_are_bounded_and_the_loss_counted(view, collected, static, site) -> None:
    page = view.page
    page.route("**/e", lambda route: route.abort("connectionrefused"))
    view.open("dwell.html")
    # 1,200 events from earlier page views that could not be sent, in bodies of 50.
    page.evaluate(
        """([site, url]) => {
            const bodies = [];
            for (let b = 0; b < 24; b++) {
                const events = [];
                for (let i = 0; i < 50; i++)
                    events.push({id: `old${b}-${i}`, type: 'impression', element: `old-${b * 50 + i}`,
                                 kind: 'banner', ts: Date.now()});
                bodies.push({site, pageview: `old${b}`, url, referrer: '', events});
            }
            localStorage['ctrlens-queue'] = JSON.stringify(bodies);
        }""",
        [site, static.url("dwell.html")],
    )
    view.show("#box", 1.0)  # one more event: the store must make room
    page.wait_for_function(f"{QUEUE}.some(b => b.events.some(e => e.element === 'box'))")
    stored = page.evaluate(QUEUE)
    events = [e for b in stored for e in b["events"]]
    old_kept = [e for e in events if e["id"].startswith("old")]
    assert len(events) == 1000
    assert sum(b.get("dropped", 0) for b in stored) == 1200 - len(old_kept)
    assert "old0-0" not in {e["id"] for e in events}  # the oldest went first

    page.unroute("**/e")
    page.wait_for_function(f"{QUEUE}.length === 0", timeout=20_000)
    stored_ids = [e["event_id"] for e in collected.events()]
    assert len(stored_ids) == len(set(stored_ids))
    # Page view reports are kept by the funnel's ledgers, not as raw events (storage/funnel.py).
    assert {e["id"] for e in events if e["type"] != "pageview"} <= set(stored_ids)
    assert len([i for i in stored_ids if i.startswith("old")]) == len(old_kept)
