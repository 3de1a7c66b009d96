"""POST /e over real HTTP against a real `ctrlens serve` (docs/design.md §3)."""

from __future__ import annotations

import re
import sqlite3
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

ORIGIN = "https://shop.example"
HEADLESS_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/131.0.0.0 Safari/537.36"
)


def batch(site: str, events: list[dict[str, Any]], **envelope: Any) -> dict[str, Any]:
    return {
        "site": site,
        "pageview": envelope.pop("pageview", uuid.uuid4().hex),
        "url": envelope.pop("url", f"{ORIGIN}/pricing?utm_source=news"),
        "referrer": "https://news.example/",
        "events": events,
        **envelope,
    }


def impression(element: str, n: int = 1, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"{element}-{uuid.uuid4().hex}",
        "type": "impression",
        "element": element,
        "kind": "cta",
        "ts": 1764000000000 + n,
        **extra,
    }


def click(element: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"{element}-{uuid.uuid4().hex}",
        "type": "click",
        "element": element,
        "ts": 1764000001000,
        **extra,
    }


@pytest.fixture
def site(server) -> str:
    return server.new_site([ORIGIN])


def test_accepts_a_batch_and_answers_after_commit(server, site):
    r = server.post(batch(site, [impression("hero"), click("hero")]), ORIGIN)
    assert r.status_code == 202
    assert r.json() == {"accepted": 2, "duplicates": 0, "rejected": []}
    assert r.headers["access-control-allow-origin"] == ORIGIN
    # 202 means committed: the rows are readable the moment the answer arrives.
    stored = server.events(site)
    assert [(e["type"], e["element"]) for e in stored] == [("impression", "hero"), ("click", "hero")]
    assert server.elements(site)["hero"]["impressions"] == 1


def test_json_content_type_is_accepted_too(server, site):
    r = server.post(batch(site, [impression("hero")]), ORIGIN, content_type="application/json; charset=utf-8")
    assert r.status_code == 202


def test_malformed_json_is_400_with_a_readable_error(server, site):
    r = server.post('{"site": "' + site + '", "events": [', ORIGIN)
    assert r.status_code == 400
    assert "malformed JSON" in r.json()["error"]


def test_envelope_missing_fields_is_400(server, site):
    r = server.post({"site": site, "events": []}, ORIGIN)
    assert r.status_code == 400
    assert "pageview" in r.json()["error"] or "url" in r.json()["error"]


def test_unknown_site_is_403(server):
    r = server.post(batch("no-such-site", [impression("hero")]), ORIGIN)
    assert r.status_code == 403
    assert "unknown site" in r.json()["error"]


def test_disallowed_origin_is_403_and_counted(server, site):
    r = server.post(batch(site, [impression("hero"), impression("nav")]), "https://evil.example")
    assert r.status_code == 403
    assert "not allowed" in r.json()["error"]
    assert server.rejections(site)["origin"] == 2
    assert server.events(site) == []


def test_missing_origin_is_403(server, site):
    r = server.post(batch(site, [impression("hero")]), None)
    assert r.status_code == 403
    assert "Origin" in r.json()["error"]


def test_same_batch_twice_is_stored_once(server, site):
    body = batch(site, [impression("hero"), click("hero"), click("hero")])
    first = server.post(body, ORIGIN).json()
    second = server.post(body, ORIGIN).json()
    assert first == {"accepted": 3, "duplicates": 0, "rejected": []}
    assert second == {"accepted": 0, "duplicates": 3, "rejected": []}
    assert len(server.events(site)) == 3
    row = server.elements(site)["hero"]
    assert (row["impressions"], row["clicks"], row["total_clicks"]) == (1, 1, 2)


def test_bad_events_are_rejected_one_by_one_and_the_rest_kept(server, site):
    events = [
        impression("hero"),
        {"id": "x", "type": "hover", "element": "hero"},
        impression("e" * 129),
        click("hero"),
    ]
    r = server.post(batch(site, events), ORIGIN)
    assert r.status_code == 202
    body = r.json()
    assert body["accepted"] == 2
    assert [x["index"] for x in body["rejected"]] == [1, 2]
    assert all(x["reason"] for x in body["rejected"])
    assert server.rejections(site)["invalid"] == 2


@pytest.mark.parametrize("control", ["\x00", "\n", "\x7f", "\x85", "\x9f"])
def test_control_characters_are_refused_in_every_name(server, site, control):
    # Escaped (\\u0000, \\n), raw DEL, and raw C1 characters all take the checked path.
    events = [
        impression("hero"),
        impression(f"he{control}ro", id=uuid.uuid4().hex),
        click("hero", id=f"id{control}"),
        impression("hero", variant=f"B{control}"),
        impression("promo-\u00e9t\u00e9"),
    ]
    r = server.post(batch(site, events), ORIGIN)
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["accepted"] == 2
    assert [x["index"] for x in body["rejected"]] == [1, 2, 3]
    assert "printable" in body["rejected"][0]["reason"] and "$.element" in body["rejected"][0]["reason"]
    for field in ("site", "pageview", "variant", "account", "referrer"):
        envelope = batch(site, [impression("hero")])
        envelope[field] = f"{envelope.get(field) or 'x'}{control}"
        r = server.post(envelope, ORIGIN)
        if field == "site":
            assert r.status_code in (400, 403), r.text  # 403 would mean the name itself was refused
        else:
            assert r.status_code == 400, (field, r.text)
            assert f"$.{field}" in r.json()["error"]


def test_other_content_types_are_415(server, site):
    r = server.post(
        batch(site, [impression("hero")]), ORIGIN, content_type="application/x-www-form-urlencoded"
    )
    assert r.status_code == 415
    assert "Content-Type" in r.json()["error"]


def test_body_over_64_kib_is_413(server, site):
    r = server.post(batch(site, [impression("hero")], url=ORIGIN + "/?" + "a" * 70_000), ORIGIN)
    assert r.status_code == 413
    assert "64" in r.json()["error"] or "65536" in r.json()["error"]


def test_more_than_200_events_is_413(server, site):
    r = server.post(batch(site, [impression(f"e{i}") for i in range(201)]), ORIGIN)
    assert r.status_code == 413
    assert "200" in r.json()["error"]


def test_bots_are_dropped_and_counted(server, site):
    r = server.post(batch(site, [impression("hero")]), ORIGIN, user_agent=HEADLESS_UA)
    assert r.status_code == 202
    assert r.json()["accepted"] == 0
    assert r.json()["rejected"] == [{"index": 0, "reason": "bot"}]
    assert server.rejections(site)["bot"] == 1
    assert server.events(site) == []


def test_a_site_can_allow_bots(server):
    site = server.new_site([ORIGIN], allow_bots=True)
    r = server.post(batch(site, [impression("hero")]), ORIGIN, user_agent=HEADLESS_UA)
    assert r.json()["accepted"] == 1


def test_click_without_impression_counts_a_via_click_impression(server, site):
    server.post(batch(site, [click("promo"), click("promo")]), ORIGIN)
    row = server.elements(site)["promo"]
    assert (row["impressions"], row["clicks"], row["total_clicks"]) == (1, 1, 2)
    assert row["ctr"] == 1.0


def test_impression_once_per_pageview_even_if_sent_twice_with_new_ids(server, site):
    pageview = uuid.uuid4().hex
    server.post(batch(site, [impression("hero")], pageview=pageview), ORIGIN)
    server.post(batch(site, [impression("hero")], pageview=pageview), ORIGIN)
    assert server.elements(site)["hero"]["impressions"] == 1
    assert len(server.events(site)) == 2  # both raw events are kept


def test_element_variant_overrides_page_variant(server, site):
    server.post(batch(site, [impression("hero"), impression("nav", variant="X")], variant="B"), ORIGIN)
    rows = server.elements(site, group="variant")
    assert set(rows) == {("hero", "B"), ("nav", "X")}


def test_visitor_is_a_pseudonym_not_the_ip(server, site):
    server.post(batch(site, [impression("hero")]), ORIGIN)
    (event,) = server.events(site)
    assert "127.0.0.1" not in event["visitor"]
    assert len(event["visitor"]) == 24
    assert event["source"] == "news"  # utm_source wins over the referrer
    assert event["device"] == "desktop"


def test_preflight_allows_json_senders(server):
    r = server.client.options("/e", headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"})
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == ORIGIN


# -- hardening (issue 4) -------------------------------------------------------------------------


def test_invalid_utf8_and_deep_nesting_are_400_not_500(server, site):
    good = '{"site": "%s", "pageview": "p", "url": "%s/", "events": [' % (site, ORIGIN)
    r = server.post(good.encode() + b'{"id": "\xff"}]}', ORIGIN)
    assert r.status_code == 202 and r.json()["rejected"][0]["reason"] == "malformed JSON"
    r = server.post(b'{"site": "\xff\xfe", "events": []}', ORIGIN)
    assert r.status_code == 400 and "UTF-8" in r.json()["error"]
    r = server.post(b'{"x": ' + b"[" * 100_00 + b"]" * 100_00 + b"}", ORIGIN)
    assert r.status_code == 400 and "error" in r.json()


def test_origin_spoof_is_403_counted_and_sampled(server, site):
    body = batch(site, [impression("hero")])
    r = server.post(body, "https://shop.example.evil.com")
    assert r.status_code == 403
    # The page can read why (docs/design.md §3): the browser shows the reason, and the snippet
    # sees a refusal for good and does not send those events again.
    assert r.headers["access-control-allow-origin"] == "https://shop.example.evil.com"
    assert "not allowed" in r.json()["error"]
    assert server.rejections(site) == {"origin": 1}
    samples = server.client.get(f"/api/sites/{site}/rejections", headers=server.auth).json()["samples"]
    assert samples[0]["reason"] == "origin" and site in samples[0]["payload"]


def test_metrics_in_prometheus_text_format(server, site):
    server.post(batch(site, [impression("hero")]), ORIGIN)
    server.post(batch(site, [impression("hero")]), "https://evil.example")
    r = server.client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    for name in (
        "ctrlens_events_accepted_total",
        "ctrlens_events_duplicate_total",
        'ctrlens_events_rejected_total{reason="origin"}',
        "ctrlens_writer_queue_depth",
        'ctrlens_commit_seconds_bucket{le="+Inf"}',
        "ctrlens_commit_seconds_sum",
        "ctrlens_commit_seconds_count",
        'ctrlens_ingest_requests_total{status="202"}',
        "ctrlens_commit_failures_total",
    ):
        assert name in text, name
    sample = re.compile(r'^[a-z_]+(\{[a-z]+="[^"]*"\})? [0-9.e+-]+$')
    for line in text.splitlines():
        assert line.startswith("# HELP ") or line.startswith("# TYPE ") or sample.match(line), line
    assert "# TYPE ctrlens_commit_seconds histogram" in text


def test_healthz(server):
    r = server.client.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok" and r.json()["queue"] >= 0


def test_snippet_is_served_with_etag_cache_control_and_gzip(server):
    r = server.client.get("/ctr.js", headers={"Accept-Encoding": "gzip"})
    if r.status_code == 404:
        pytest.skip("snippet/dist is not built")
    assert r.status_code == 200 and r.headers["content-encoding"] == "gzip"
    assert "max-age" in r.headers["cache-control"] and r.headers["etag"]
    assert r.headers["content-type"].startswith("text/javascript")
    again = server.client.get("/ctr.js", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304 and not again.content


def test_background_retention_deletes_old_raw_events_and_keeps_rollups(fresh_db):
    import time as _time

    from ctrlens.collector.events import StoredEvent
    from ctrlens.collector.storage import WriteBatch
    from harness import Server, opened, run_sync

    old_ms = int((_time.time() - 40 * 86400) * 1000)

    def stored(event_id, ts):
        return StoredEvent(
            "ret",
            event_id,
            "pv-" + event_id,
            "impression",
            "hero",
            "cta",
            "",
            "",
            "/",
            ORIGIN + "/",
            "",
            "(direct)",
            "desktop",
            "v",
            False,
            None,
            ts,
        )

    async def seed():
        async with opened(fresh_db) as storage:
            await storage.add_site("ret", "Retention", [ORIGIN])
            await storage.write(WriteBatch([stored("old", old_ms), stored("new", int(_time.time() * 1000))]))

    run_sync(seed())
    srv = Server(fresh_db, env={"CTRLENS_RETENTION_DAYS": "30"}).start()  # a pass runs at start
    try:
        deadline = _time.monotonic() + 10
        while len(srv.events("ret")) > 1 and _time.monotonic() < deadline:
            _time.sleep(0.1)
        assert [e["event_id"] for e in srv.events("ret")] == ["new"]
        days = {
            "from": _time.strftime("%Y-%m-%d", _time.gmtime(old_ms / 1000 - 86400)),
            "to": _time.strftime("%Y-%m-%d", _time.gmtime(_time.time() + 86400)),
        }
        assert srv.elements("ret", **days)["hero"]["impressions"] == 2  # the rollups keep both
    finally:
        srv.stop()


def test_long_urls_are_stored_cut_to_2048_characters_not_rejected(server, site):
    long_url = f"{ORIGIN}/search?q=" + "x" * 5000
    r = server.post(
        batch(site, [impression("hero")], url=long_url, referrer="https://ref.example/?" + "y" * 5000), ORIGIN
    )
    assert r.status_code == 202 and r.json()["accepted"] == 1
    (event,) = server.events(site)
    assert event["url"] == long_url[:2048]
    assert len(event["referrer"]) == 2048
    assert event["page"] == "/search"


def test_events_the_snippet_had_to_discard_are_counted(server, site):
    r = server.post(batch(site, [impression("hero")], dropped=17), ORIGIN)
    assert r.status_code == 202 and r.json()["accepted"] == 1
    assert server.rejections(site)["client_queue_full"] == 17


def test_retry_after_is_readable_by_the_snippet(server, site):
    r = server.post(batch(site, [impression("hero")]), ORIGIN)
    assert r.headers["access-control-expose-headers"] == "Retry-After"


def test_a_write_lock_held_by_another_process_delays_the_batch_not_the_collector(sqlite_server):
    # `ctrlens site add` or a backup tool may hold SQLite's write lock for a moment: the batch
    # waits for it (off the event loop), the collector keeps answering, nothing is lost.
    site = sqlite_server.new_site([ORIGIN])
    other = sqlite3.connect(sqlite_server.db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(sqlite_server.post, batch(site, [impression("hero")]), ORIGIN)
            time.sleep(0.5)
            assert not pending.done(), pending.result().text
            assert httpx.get(f"{sqlite_server.url}/healthz", timeout=5).status_code == 200
            other.execute("ROLLBACK")
            r = pending.result(timeout=15)
    finally:
        other.close()
    assert r.status_code == 202 and r.json()["accepted"] == 1, r.text
    assert len(sqlite_server.events(site)) == 1
