"""The rest of the attack review (docs/design.md §3, §6): look-alike names, markup in the terminal
report, and what a flood of bad bodies may cost (the `dropped` claim, rejected-body samples)."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import uuid
from typing import Any

import httpx
from test_dashboard_auth import _login

from ctrlens.collector.ingest import MAX_DROPPED, SAMPLES_PER_MINUTE
from harness import BROWSER_UA, CTRLENS, ROOT, Databases, Server, run_sync

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
