"""What the collector's tests share: batches as the snippet sends them, a load generator that
remembers which event ids were acknowledged, and checks read straight from the database."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from harness import BROWSER_UA, run_sync

ORIGIN = "https://shop.example"
ELEMENTS = ("hero-signup", "pricing-cta", "nav-docs", "footer-link", "promo-banner")


def make_batch(site: str, tag: str, n: int, pageview: str | None = None) -> dict[str, Any]:
    """A batch of `n` events of one page view; every id starts with `tag`."""
    pageview = pageview or f"{tag}-{uuid.uuid4().hex[:10]}"
    events = [
        {
            "id": f"{pageview}-{i}",
            "type": "click" if i % 3 == 2 else "impression",
            "element": ELEMENTS[i % len(ELEMENTS)],
            "kind": "cta",
            "ts": 1764000000000 + i,
        }
        for i in range(n)
    ]
    return {"site": site, "pageview": pageview, "url": f"{ORIGIN}/pricing", "events": events}


@dataclass
class Load:
    """Concurrent senders posting batches until stopped; records what each answer promised."""

    url: str
    site: str
    senders: int = 8
    events_per_batch: int = 10
    acknowledged: set[str] = field(default_factory=set)
    statuses: dict[int, int] = field(default_factory=dict)
    sent: int = 0
    transport_errors: int = 0

    async def run(self, stop: asyncio.Event, max_batches: int = 100_000) -> None:
        headers = {"Content-Type": "text/plain", "Origin": ORIGIN, "User-Agent": BROWSER_UA}
        async with httpx.AsyncClient(base_url=self.url, timeout=30, headers=headers) as client:
            await asyncio.gather(*(self._sender(client, n, stop, max_batches) for n in range(self.senders)))

    async def _sender(self, client: httpx.AsyncClient, n: int, stop: asyncio.Event, max_batches: int) -> None:
        while not stop.is_set() and self.sent < max_batches:
            self.sent += 1
            body = make_batch(self.site, f"s{n}", self.events_per_batch)
            try:
                r = await client.post("/e", json=body, headers={"Content-Type": "text/plain"})
            except httpx.TransportError:
                self.transport_errors += 1
                await asyncio.sleep(0.01)
                continue
            self.statuses[r.status_code] = self.statuses.get(r.status_code, 0) + 1
            if r.status_code == 202:
                answer = r.json()
                assert answer["accepted"] == len(body["events"]), answer
                self.acknowledged.update(e["id"] for e in body["events"])


async def load_until(load: Load, condition: Any, timeout: float = 20) -> asyncio.Event:
    """Start `load` and return once `condition()` holds; the load keeps going until set."""
    stop = asyncio.Event()
    task = asyncio.create_task(load.run(stop))
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline and not task.done():
        await asyncio.sleep(0.01)
    load._task = task  # type: ignore[attr-defined]
    return stop


def stored_ids(db: str, site: str) -> list[str]:
    """Every raw event id stored for `site` (with repeats, if the database had any)."""

    async def read() -> list[str]:
        from ctrlens.collector.storage import open_storage

        storage = await open_storage(db, migrate=False)
        try:
            rows = await storage.db.fetch("SELECT event_id FROM events WHERE site = ?", (site,))
            return [row[0] for row in rows]
        finally:
            await storage.close()

    return run_sync(read())


def rollups_and_recount(
    db: str, site: str
) -> tuple[dict[str, tuple[int, int, int]], dict[str, tuple[int, int, int]]]:
    """Element totals from the rollups and recomputed from raw events: they must agree."""

    async def read() -> tuple[dict[str, tuple[int, int, int]], dict[str, tuple[int, int, int]]]:
        from ctrlens.collector.storage import open_storage

        storage = await open_storage(db, migrate=False)
        try:
            rolled = await storage.element_counts(site, 0, 2**40)
            recount = await storage.recount(site)
        finally:
            await storage.close()
        return (
            {r["element"]: (r["impressions"], r["clicks"], r["total_clicks"]) for r in rolled},
            {e: (c["impressions"], c["clicks"], c["total_clicks"]) for e, c in recount.items()},
        )

    return run_sync(read())
