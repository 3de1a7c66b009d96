"""Two `ctrlens serve` processes on one PostgreSQL, behind a client that balances between them
and fails over like the snippet does; one collector is killed with SIGKILL mid-load.

Afterwards every acknowledged event is stored exactly once and the rollups equal a recount
from the raw events: nothing acknowledged was lost, nothing retried was counted twice, and
concurrent writers never counted the same "first" impression or click twice.
"""

from __future__ import annotations

import itertools
import random
import signal
import threading
import time
from typing import Any

import httpx

from ctrlens.collector.storage import Storage, open_storage
from harness import BROWSER_UA, Databases, Server, run_sync

ORIGIN = "https://shop.example"
ELEMENTS = ["hero", "nav", "pricing", "footer", "banner"]
THREADS = 8
BATCHES_PER_THREAD = 60


class Balancer:
    """Round-robin over the live collectors; a request that fails is sent to the next one."""

    def __init__(self, servers: list[Server]) -> None:
        self.urls = [s.url for s in servers]
        self.dead: set[str] = set()
        self.turn = itertools.count()
        self.sent_to: dict[str, int] = {url: 0 for url in self.urls}
        self.failovers = 0  # requests cut off by the kill, sent again to the other collector
        self.lock = threading.Lock()

    def post(self, client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
        for _ in range(50):
            with self.lock:
                live = [u for u in self.urls if u not in self.dead]
                url = live[next(self.turn) % len(live)]
            try:
                r = client.post(f"{url}/e", json=body, headers={"Origin": ORIGIN})
            except httpx.TransportError:
                with self.lock:
                    self.dead.add(url)
                    self.failovers += 1
                continue
            if r.status_code == 202:
                with self.lock:
                    self.sent_to[url] += 1
                return r.json()
            assert r.status_code in (503,), r.text  # saturated or shutting down: try again
            time.sleep(0.05)
        raise AssertionError("no collector accepted the batch")


def test_two_collectors_one_killed_mid_load_count_everything_once(databases: Databases):
    url = databases.new("postgres")
    first, second = Server(url), Server(url)
    first.start()
    second.start()
    site = first.new_site([ORIGIN])
    balancer = Balancer([first, second])
    acknowledged: set[str] = set()
    retried = 0
    lock = threading.Lock()
    errors: list[BaseException] = []
    done = [0]  # batches acknowledged so far

    def load(seed: int) -> None:
        nonlocal retried
        rng = random.Random(seed)
        client = httpx.Client(timeout=60, headers={"User-Agent": BROWSER_UA})
        sent: list[dict[str, Any]] = []
        try:
            for n in range(BATCHES_PER_THREAD):
                # Page views are shared between threads, so both collectors write the same
                # ledger and rollup rows at the same time.
                pageview = f"pv{rng.randrange(150)}"
                events = []
                for k in range(rng.randrange(5, 30)):
                    events.append({
                        "id": f"{seed}-{n}-{k}",
                        "type": rng.choice(["impression", "impression", "click"]),
                        "element": rng.choice(ELEMENTS),
                        "kind": "cta",
                    })
                body = {"site": site, "pageview": pageview, "url": f"{ORIGIN}/p{rng.randrange(3)}",
                        "variant": rng.choice("AB"), "events": events}
                answer = balancer.post(client, body)
                assert answer["accepted"] + answer["duplicates"] == len(events), answer
                sent.append(body)
                with lock:
                    acknowledged.update(e["id"] for e in events)
                    done[0] += 1
                if rng.random() < 0.1:  # a retry of an acknowledged batch: all duplicates
                    again = balancer.post(client, rng.choice(sent))
                    assert again["accepted"] == 0, again
                    with lock:
                        retried += 1
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            client.close()

    threads = [threading.Thread(target=load, args=(seed,)) for seed in range(THREADS)]
    for t in threads:
        t.start()
    try:
        # Kill the first collector once a third of the load has gone through.
        while done[0] < THREADS * BATCHES_PER_THREAD // 3 and any(t.is_alive() for t in threads):
            time.sleep(0.01)
        sent_before_kill = dict(balancer.sent_to)
        code = first.stop(signal.SIGKILL)
        for t in threads:
            t.join(timeout=300)
        assert not errors, errors[0]
        assert code == -signal.SIGKILL
        assert sent_before_kill[first.url] > 0 and balancer.sent_to[second.url] > sent_before_kill[second.url]
        assert balancer.failovers > 0 and retried > 0

        stored, totals, recount, ids = run_sync(_read(url, site))
        assert len(stored) == len(set(stored)), "an event was stored twice"
        assert set(stored) == acknowledged, "an acknowledged event is missing"
        assert ids == len(acknowledged)
        assert totals == recount
    finally:
        first.stop()
        second.stop()


async def _read(url: str, site: str) -> tuple[list[str], dict[str, Any], dict[str, Any], int]:
    storage: Storage = await open_storage(url, migrate=False)
    try:
        rows = await storage.db.fetch("SELECT event_id FROM events WHERE site = ?", (site,))
        [(ids,)] = await storage.db.fetch("SELECT count(*) FROM event_ids WHERE site = ?", (site,))
        counts = await storage.element_counts(site, 0, 2**40)
        totals = {r["element"]: {k: r[k] for k in ("impressions", "clicks", "total_clicks")}
                  for r in counts}
        return [r[0] for r in rows], totals, await storage.recount(site), ids
    finally:
        await storage.close()
