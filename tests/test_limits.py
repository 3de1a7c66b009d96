"""The rest of the attack review (docs/design.md §3, §6): look-alike names, markup in the terminal
report, and what a flood of bad bodies may cost (the `dropped` claim, rejected-body samples)."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import time
import uuid
from typing import Any

import httpx
from test_dashboard_auth import _login

from ctrlens.collector.ingest import MAX_DROPPED, SAMPLES_PER_MINUTE
from harness import BROWSER_UA, CTRLENS, ROOT, Databases, Server, opened, private_loop, run_sync

ORIGIN = "https://shop.example"


def _batch(site: str, elements: list[str], **envelope: Any) -> dict[str, Any]:
    events = [
        {"id": uuid.uuid4().hex, "type": "impression", "element": e, "kind": "cta", "ts": 1764000000000}
        for e in elements
    ]
    pageview = uuid.uuid4().hex
    return {"site": site, "pageview": pageview, "url": f"{ORIGIN}/pricing", "events": events, **envelope}


# -- 9. look-alike names ------------------------------------------------------------------------

def test_bidi_and_zero_width_names_are_refused_per_event(server: Server) -> None:
    site = server.new_site([ORIGIN])
    names = ["hero\u200b", "\u202egnp.exe", "a\u2066b", "x\ufeff", "y\u061c", "hero"]
    r = server.post(_batch(site, names), ORIGIN)
    assert r.status_code == 202, r.text
    answer = r.json()
    assert answer["accepted"] == 1
    assert [x["index"] for x in answer["rejected"]] == [0, 1, 2, 3, 4]
    assert all("bidirectional or zero-width" in x["reason"] for x in answer["rejected"])
    assert set(server.elements(site)) == {"hero"}
    # Escaped in the JSON too, and in the envelope the whole batch is refused with the reason.
    escaped = json.dumps(_batch(site, ["ok"], variant="B\u200d"), ensure_ascii=True)
    r = server.post(escaped, ORIGIN)
    assert r.status_code == 400 and "zero-width" in r.json()["error"]


def test_names_are_nfc_normalised_into_one_element(server: Server) -> None:
    site = server.new_site([ORIGIN])
    composed, decomposed = "caf\u00e9-cta", "cafe\u0301-cta"
    assert server.post(_batch(site, [composed]), ORIGIN).status_code == 202
    assert server.post(json.dumps(_batch(site, [decomposed]), ensure_ascii=True), ORIGIN).status_code == 202
    elements = server.elements(site)
    assert list(elements) == [composed]
    assert elements[composed]["impressions"] == 2


def test_names_are_isolated_in_table_cells(server: Server) -> None:
    site = server.new_site([ORIGIN])
    server.post(_batch(site, ["hero-signup"]), ORIGIN)
    with httpx.Client(base_url=server.url) as client:
        _login(client, server.token)
        html = client.get(f"/sites/{site}?period=7d").text
    assert re.search(r"<bdi><a href=[^>]+>hero-signup</a></bdi>", html)


# -- 5. the terminal report prints names, never markup ------------------------------------------

def test_report_prints_markup_in_names_literally(server: Server) -> None:
    site = server.new_site([ORIGIN])
    names = ["[/bold]", "[link=https://evil.example]hero-signup[/link]"]
    assert server.post(_batch(site, names), ORIGIN).status_code == 202
    out = subprocess.run(
        [*CTRLENS, "report", site, "--db", server.db, "--period", "7d"],
        cwd=ROOT, env={**server.env, "COLUMNS": "250"},
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "[/bold]" in out.stdout
    assert "[link=https://evil.example]hero-signup[/link]" in out.stdout
    assert "\x1b]8;" not in out.stdout  # no terminal hyperlink


# -- 10. what a flood may cost --------------------------------------------------------------------

def test_dropped_is_capped_at_what_the_snippet_can_hold(server: Server) -> None:
    site = server.new_site([ORIGIN])
    r = server.post(_batch(site, ["hero"], dropped=1_000_000), ORIGIN)
    assert r.status_code == 202, r.text
    assert server.rejections(site) == {"client_queue_full": MAX_DROPPED, "invalid": 1}


def test_a_flood_of_bad_origin_bodies_stores_at_most_the_sample_cap(server: Server) -> None:
    site = server.new_site([ORIGIN])
    body = json.dumps(_batch(site, ["hero"]))
    unknown = json.dumps(_batch("no-such-site-" + uuid.uuid4().hex[:6], ["hero"]))

    async def flood() -> list[int]:
        headers = {"Content-Type": "text/plain", "Origin": "https://evil.example", "User-Agent": BROWSER_UA}
        limits = httpx.Limits(max_connections=32)
        client = httpx.AsyncClient(base_url=server.url, headers=headers, limits=limits, timeout=60)
        async with client:
            semaphore = asyncio.Semaphore(32)

            async def one(i: int) -> int:
                async with semaphore:
                    for _ in range(3):  # a kept-alive connection the server just closed: send again
                        try:
                            answer = await client.post("/e", content=unknown if i % 10 == 0 else body)
                            return answer.status_code
                        except httpx.TransportError:
                            await asyncio.sleep(0.05)
                    return 0

            return await asyncio.gather(*(one(i) for i in range(10_000)))

    statuses = run_sync(flood())
    assert set(statuses) == {403}
    # A body sent again after a lost answer may be counted twice; never fewer.
    assert server.rejections(site)["origin"] >= 9_000
    samples = server.client.get(f"/api/sites/{site}/rejections", headers=server.auth).json()["samples"]
    assert 1 <= len(samples) <= SAMPLES_PER_MINUTE * 2  # the flood may straddle a minute


# -- 12. private answers, /metrics -------------------------------------------------------------

def test_private_answers_are_never_cached(server: Server) -> None:
    site = server.new_site([ORIGIN])
    assert server.client.get("/login").headers["cache-control"] == "no-store"
    api = server.client.get(f"/api/sites/{site}/elements", headers=server.auth)
    assert api.status_code == 200 and api.headers["cache-control"] == "no-store"
    with httpx.Client(base_url=server.url) as client:
        _login(client, server.token)
        page = client.get(f"/sites/{site}")
        assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
        assert "no-store" not in client.get("/static/style.css").headers.get("cache-control", "")


def test_metrics_needs_its_token_when_one_is_set(databases: Databases) -> None:
    srv = Server(databases.new("sqlite"), env={"CTRLENS_METRICS_TOKEN": "m" * 32}).start()
    try:
        assert srv.client.get("/metrics").status_code == 401
        wrong = srv.client.get("/metrics", headers={"Authorization": "Bearer " + "x" * 32})
        assert wrong.status_code == 401
        right = srv.client.get("/metrics", headers={"Authorization": "Bearer " + "m" * 32})
        assert right.status_code == 200 and "ctrlens_" in right.text
    finally:
        srv.stop()


# -- 4. caps on new names, streamed CSV, rendering off the event loop ---------------------------

def _settings(server: Server, site: str, **changes: Any) -> httpx.Response:
    return server.client.put(f"/api/sites/{site}/settings", json=changes, headers=server.auth)


def test_new_element_names_past_the_cap_are_rejected_as_cardinality(server: Server) -> None:
    site = server.new_site([ORIGIN])
    assert _settings(server, site, max_new_elements_per_day=3).status_code == 200
    r = server.post(_batch(site, ["a", "b", "c", "d", "e", "a"]), ORIGIN)
    assert r.status_code == 202, r.text
    answer = r.json()
    assert answer["accepted"] == 4  # a, b, c and a again: a name in use is always admitted
    assert [x["index"] for x in answer["rejected"]] == [3, 4]
    reason = answer["rejected"][0]["reason"]
    assert reason.startswith("cardinality") and "element" in reason and "max_new_elements_per_day" in reason
    # The rest of the day: known names pass, every new one is turned away, visibly.
    answer = server.post(_batch(site, ["f", "b", "g"]), ORIGIN).json()
    assert answer["accepted"] == 1 and [x["index"] for x in answer["rejected"]] == [0, 2]
    assert set(server.elements(site)) == {"a", "b", "c"}
    assert server.rejections(site)["cardinality"] == 4
    metrics = server.client.get("/metrics").text
    assert 'reason="cardinality"' in metrics


def test_a_page_view_report_naming_an_element_past_the_cap_is_rejected(server: Server) -> None:
    site = server.new_site([ORIGIN])
    assert _settings(server, site, max_new_elements_per_day=2).status_code == 200
    body = _batch(site, ["a"])
    body["events"].append({"id": uuid.uuid4().hex, "type": "pageview", "present": ["a", "b", "c"]})
    body["events"].append({"id": uuid.uuid4().hex, "type": "pageview", "present": ["a", "b"]})
    answer = server.post(body, ORIGIN).json()
    assert answer["accepted"] == 2 and [x["index"] for x in answer["rejected"]] == [1]


def test_variants_pages_and_accounts_are_capped_too(server: Server) -> None:
    site = server.new_site([ORIGIN])
    changes = {"max_new_variants_per_day": 1, "max_new_pages_per_day": 1, "max_new_accounts_per_day": 1}
    assert _settings(server, site, **changes).status_code == 200
    first = server.post(_batch(site, ["hero"], variant="A", account="acme"), ORIGIN).json()
    assert first["accepted"] == 1 and first["rejected"] == []
    for envelope, setting in (
        ({"variant": "B", "account": "acme"}, "max_new_variants_per_day"),
        ({"variant": "A", "account": "globex"}, "max_new_accounts_per_day"),
        ({"variant": "A", "account": "acme", "url": f"{ORIGIN}/other"}, "max_new_pages_per_day"),
    ):
        answer = server.post(_batch(site, ["hero", "hero"], **envelope), ORIGIN).json()
        assert answer["accepted"] == 0, envelope
        assert all(setting in x["reason"] for x in answer["rejected"]) and len(answer["rejected"]) == 2
    # Names in use still pass.
    assert server.post(_batch(site, ["hero"], variant="A", account="acme"), ORIGIN).json()["accepted"] == 1
    assert server.rejections(site)["cardinality"] == 6


def test_the_caps_are_settings_with_bounds(server: Server) -> None:
    site = server.new_site([ORIGIN])
    shown = server.client.get(f"/api/sites/{site}/settings", headers=server.auth).json()
    assert (
        shown["max_new_elements_per_day"], shown["max_new_variants_per_day"],
        shown["max_new_pages_per_day"], shown["max_new_accounts_per_day"],
    ) == (1_000, 100, 1_000, 10_000)
    for bad in (0, -1, 1_000_001, "many", 2.5, True):
        r = _settings(server, site, max_new_variants_per_day=bad)
        assert r.status_code == 400, bad
        assert "max_new_variants_per_day must be a whole number from 1 to 1,000,000" in r.json()["error"]
    assert _settings(server, site, max_new_pages_per_day=50).json()["max_new_pages_per_day"] == 50
    with httpx.Client(base_url=server.url) as client:
        _login(client, server.token)
        page = client.get(f"/sites/{site}/settings")
        assert re.search(r'id="max_new_pages_per_day"[^>]*value="50"', page.text)
        assert re.search(r'id="max_new_accounts_per_day"[^>]*value="10000"', page.text)


def test_the_settings_form_edits_and_checks_the_caps(server: Server) -> None:
    site = server.new_site([ORIGIN])
    with httpx.Client(base_url=server.url) as client:
        _login(client, server.token)
        page = client.get(f"/sites/{site}/settings").text
        found = re.search(r'name="csrf" value="([^"]+)"', page)
        assert found
        csrf = found.group(1)
        form = {
            "csrf": csrf, "name": site, "origins": ORIGIN, "timezone": "UTC", "min_impressions": "100",
            "max_new_elements_per_day": "0",
        }
        r = client.post(f"/sites/{site}/settings", data=form)
        assert r.status_code == 400 and "max_new_elements_per_day must be a whole number" in r.text
        form["max_new_elements_per_day"] = "2,500"
        r = client.post(f"/sites/{site}/settings", data=form, follow_redirects=False)
        assert r.status_code == 303, r.text
    shown = server.client.get(f"/api/sites/{site}/settings", headers=server.auth).json()
    assert shown["max_new_elements_per_day"] == 2_500


async def _seed_elements(url: str, site: str, count: int) -> None:
    """`count` element names written straight through storage (no cap: the caps are POST /e's)."""
    from ctrlens.collector.events import StoredEvent
    from ctrlens.collector.storage import WriteBatch, open_storage

    storage = await open_storage(url, migrate=False)
    now = int(time.time() * 1000)
    try:
        events = [
            StoredEvent(
                site=site, event_id=f"seed-{n}", pageview=f"pv-{n // 50}", type="impression",
                element=f"element-{n:05d}", kind="cta", variant="", account="", page="/",
                url=f"{ORIGIN}/", referrer="", source="(direct)", device="desktop", visitor=f"v{n % 97}",
                via_click=False, ts_client=now, ts_server=now,
            )
            for n in range(count)
        ]
        for start in range(0, count, 2_000):
            await storage.write(WriteBatch(events[start : start + 2_000]))
    finally:
        await storage.close()


def test_csv_is_streamed_in_chunks_with_the_same_bytes(server: Server) -> None:
    from ctrlens.dashboard.pages import CSV_CHUNK_ROWS

    site = server.new_site([ORIGIN])
    run_sync(_seed_elements(server.db, site, CSV_CHUNK_ROWS * 2 + 7))
    r = server.client.get(f"/api/sites/{site}/elements?format=csv", headers=server.auth)
    assert r.status_code == 200
    assert "content-length" not in r.headers  # streamed, not built whole
    lines = r.text.splitlines()
    assert lines[0].startswith("element,") and lines.count(lines[0]) == 1
    assert len(lines) == CSV_CHUNK_ROWS * 2 + 8
    assert {line.split(",")[0] for line in lines[1:]} == {f"element-{n:05d}" for n in range(len(lines) - 1)}


class _SlowText:
    """A value whose rendering takes a while and holds whichever thread renders it (a page of
    100,000 rows, in small)."""

    def __str__(self) -> str:
        time.sleep(0.5)
        return "slow"


def test_a_page_renders_in_a_worker_thread_while_the_event_loop_runs() -> None:
    """The event loop (POST /e) keeps running while a page renders: ordering only, no timings."""
    from starlette.requests import Request

    from ctrlens.dashboard.pages import Answer, Page

    async def load(request: Request, rendering: str) -> Answer:
        return Answer({"message": _SlowText()})

    async def run() -> list[str]:
        scope = {"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b"",
                 "session": {}}
        order: list[str] = []

        async def render() -> None:
            await Page(load, "error.html").respond(Request(scope), await load(Request(scope), "html"), "html")
            order.append("page")

        async def ingest() -> None:
            await asyncio.sleep(0.05)
            order.append("ingest")

        await asyncio.gather(render(), ingest())
        return order

    assert run_sync(run()) == ["ingest", "page"]


def _stored(event_id: str, element: str, day_ms: int, site: str = "shop") -> Any:
    from ctrlens.collector.events import StoredEvent

    return StoredEvent(
        site=site, event_id=event_id, pageview="pv-" + event_id, type="impression", element=element,
        kind="cta", variant="", account="", page="/", url=f"{ORIGIN}/", referrer="", source="(direct)",
        device="desktop", visitor="v1", via_click=False, ts_client=day_ms, ts_server=day_ms,
    )


class _NoQueries:
    """A transaction that must not be used: the names of a batch are all known already."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the names check queried the database ({name})")


@private_loop
async def test_names_in_use_yesterday_pass_and_known_names_cost_no_query(fresh_db: str) -> None:
    from ctrlens.collector.storage import WriteBatch
    from ctrlens.collector.storage.names import NameCaps

    day_ms = 86_400_000
    today = int(time.time() * 1000) // day_ms * day_ms + 1000
    yesterday = today - day_ms
    caps = {"shop": NameCaps({"element": 2, "variant": 1, "page": 1, "account": 1})}
    async with opened(fresh_db) as storage:
        batch = WriteBatch([_stored("y1", "a", yesterday), _stored("y2", "b", yesterday)], caps=caps)
        assert len(await storage.write(batch)) == 2 and batch.capped == {}
        # Today: a and b were in use yesterday, so they are not new; c and d fill the cap, e is over.
        events = [_stored(f"t{n}", name, today) for n, name in enumerate("abcde")]
        batch = WriteBatch(events, caps=caps)
        inserted = await storage.write(batch)
        assert {event_id for _, event_id in inserted} == {"t0", "t1", "t2", "t3"}
        assert list(batch.capped) == [("shop", "t4")]
        assert "max_new_elements_per_day" in batch.capped[("shop", "t4")]
        assert (await storage.rejection_counts("shop"))["cardinality"] == 1
        # Every name of this batch is now known to this process: the check asks nothing.
        again = [_stored(f"u{n}", name, today) for n, name in enumerate("abcd")]
        admission = await storage._names.admit(_NoQueries(), again, caps)  # type: ignore[arg-type]  # a stand-in
        assert admission.kept == again
        # Another process (a fresh Storage) learns the same from the table, with the same answer.
    async with opened(fresh_db) as other:
        batch = WriteBatch([_stored("v1", "d", today), _stored("v2", "f", today)], caps=caps)
        assert {event_id for _, event_id in await other.write(batch)} == {"v1"}
        assert list(batch.capped) == [("shop", "v2")]
        # Retention keeps today and yesterday only.
        await other.write(WriteBatch([_stored("old", "z", today - 3 * day_ms)], caps=caps))
        await other.delete_raw_before(today - 10 * day_ms)
        days = await other.db.fetch("SELECT DISTINCT day FROM names_seen ORDER BY day")
        assert [int(d) for (d,) in days] == [yesterday // day_ms, today // day_ms]
        # With retention of raw events off, the server's hourly pass still forgets old names.
        await other.write(WriteBatch([_stored("old2", "y", today - 3 * day_ms)], caps=caps))
        from ctrlens.app import _retention

        hourly = asyncio.create_task(_retention(other, 0))
        for _ in range(100):
            await asyncio.sleep(0.05)
            days = await other.db.fetch("SELECT DISTINCT day FROM names_seen ORDER BY day")
            if len(days) == 2:
                break
        hourly.cancel()
        assert [int(d) for (d,) in days] == [yesterday // day_ms, today // day_ms]
