"""A 202 means committed: a real `ctrlens serve` killed or stopped under load loses nothing it
acknowledged, and replayed batches are stored once (docs/design.md §3, §5). Runs on both backends."""

from __future__ import annotations

import asyncio
import random
import signal
from typing import Any

import httpx

from collector_helpers import ORIGIN, Load, make_batch, rollups_and_recount, stored_ids
from harness import BROWSER_UA, Server, run_sync


def _assert_everything_acknowledged_is_stored(db: str, site: str, load: Load) -> None:
    ids = stored_ids(db, site)
    assert len(ids) == len(set(ids)), "an event id is stored twice"
    missing = load.acknowledged - set(ids)
    assert not missing, f"{len(missing)} acknowledged events are missing, e.g. {sorted(missing)[:3]}"
    rolled, recount = rollups_and_recount(db, site)
    assert rolled == recount


def _load_then(server: Server, load: Load, acknowledged: int, action: Any) -> None:
    """Run the load until `acknowledged` events got their 202, do `action` while requests are
    in flight, and let the senders run on a little against the stopped server."""

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(load.run(stop))
        while len(load.acknowledged) < acknowledged and not task.done():
            await asyncio.sleep(0.005)
        assert not task.done(), "the load stopped early"
        await asyncio.get_running_loop().run_in_executor(None, action)
        await asyncio.sleep(0.2)
        stop.set()
        await task

    run_sync(scenario())


def test_kill_9_under_load_loses_no_acknowledged_event(fresh_db: str) -> None:
    server = Server(fresh_db).start()
    site = server.new_site([ORIGIN])
    load = Load(server.url, site, senders=12)
    process = server.process
    assert process is not None

    def kill() -> None:
        process.kill()  # SIGKILL: no shutdown code runs at all
        process.wait()

    try:
        _load_then(server, load, 3000, kill)
    finally:
        server.process = None
    assert process.returncode == -signal.SIGKILL
    # Requests were in flight when it died: those got no answer, so no promise was broken.
    assert load.transport_errors > 0
    assert set(load.statuses) == {202}, load.statuses

    restarted = Server(fresh_db).start()  # recovery (WAL replay / PostgreSQL's own) on start
    try:
        _assert_everything_acknowledged_is_stored(fresh_db, site, load)
        # The snippet resends what got no answer: stored once, the rest counted as duplicates.
        again = restarted.post(make_batch(site, "after", 5), ORIGIN)
        assert again.status_code == 202 and again.json()["accepted"] == 5
    finally:
        restarted.stop()


def test_sigterm_under_load_drains_the_queue(fresh_db: str) -> None:
    server = Server(fresh_db).start()
    site = server.new_site([ORIGIN])
    load = Load(server.url, site, senders=12)
    process = server.process
    assert process is not None

    def terminate() -> None:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)

    try:
        _load_then(server, load, 3000, terminate)
    finally:
        server.process = None
    log = server.log_path.read_text()
    # uvicorn finishes its graceful shutdown, then exits by the signal it caught.
    assert process.returncode in (0, -signal.SIGTERM), log[-2000:]
    assert "shutting down: committing" in log and "Application shutdown complete" in log
    # Requests in flight at SIGTERM were answered (202) before the process exited; none 5xx.
    assert all(code in (202, 503) for code in load.statuses), load.statuses
    _assert_everything_acknowledged_is_stored(fresh_db, site, load)


def test_replaying_1000_batches_three_times_stores_each_event_once(server: Server) -> None:
    site = server.new_site([ORIGIN])
    batches = [make_batch(site, f"r{i}", 4) for i in range(1000)]
    sends = [b for b in batches for _ in range(3)]
    random.Random(7).shuffle(sends)  # copies of a batch race each other, often in one commit
    totals = {"accepted": 0, "duplicates": 0, "rejected": 0}

    async def send_all() -> None:
        headers = {"Content-Type": "text/plain", "Origin": ORIGIN, "User-Agent": BROWSER_UA}
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        for body in sends:
            queue.put_nowait(body)

        async def sender(client: httpx.AsyncClient) -> None:
            while not queue.empty():
                body = queue.get_nowait()
                r = await client.post("/e", json=body, headers=headers)
                assert r.status_code == 202, r.text
                answer = r.json()
                totals["accepted"] += answer["accepted"]
                totals["duplicates"] += answer["duplicates"]
                totals["rejected"] += len(answer["rejected"])

        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            await asyncio.gather(*(sender(client) for _ in range(16)))

    run_sync(send_all())
    assert totals == {"accepted": 4000, "duplicates": 8000, "rejected": 0}
    ids = stored_ids(server.db, site)
    assert len(ids) == len(set(ids)) == 4000
    rolled, recount = rollups_and_recount(server.db, site)
    assert rolled == recount
    # One impression per (page view, element), however often the batch came.
    assert sum(impressions for impressions, _, _ in rolled.values()) == 1000 * 4
