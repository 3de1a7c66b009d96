"""The group-commit writer against a real SQLite file: batching, back-pressure, failures."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from ctrlens.collector.errors import Overloaded
from ctrlens.collector.events import StoredEvent
from ctrlens.collector.storage import Rejection, Storage, WriteBatch, open_storage
from ctrlens.collector.writer import Writer
from harness import private_loop


def event(
    event_id: str | None = None, pageview: str = "pv", element: str = "hero", type: str = "impression"
) -> StoredEvent:
    return StoredEvent(
        site="s", event_id=event_id or uuid.uuid4().hex, pageview=pageview, type=type, element=element,
        kind="cta", variant="", account="", page="/", url="https://shop.example/", referrer="",
        source="(direct)", device="desktop", visitor="v", via_click=False, ts_client=None,
        ts_server=int(time.time() * 1000),
    )


class GatedStorage(Storage):
    """Real storage whose commits wait for the test to open a gate: a slow disk, on demand."""

    def __init__(self, storage: Storage) -> None:
        super().__init__(storage.db)
        self.gate = asyncio.Event()
        self.gate.set()
        self.batches: list[int] = []

    async def write(self, batch: WriteBatch) -> set[tuple[str, str]]:
        await self.gate.wait()
        self.batches.append(len(batch.events))
        return await super().write(batch)


@asynccontextmanager
async def gated_storage(tmp_path: Path) -> AsyncIterator[GatedStorage]:
    store = await open_storage(str(tmp_path / "writer.db"))
    try:
        yield GatedStorage(store)
    finally:
        await store.close()


@private_loop
async def test_concurrent_requests_share_one_commit(tmp_path: Path) -> None:
    async with gated_storage(tmp_path) as gated:
        writer = Writer(gated, window_ms=5)
        writer.start()
        results = await asyncio.gather(*(writer.submit([event(), event()]) for _ in range(50)))
        await writer.close()
        assert all((r.accepted, r.duplicates) == (2, 0) for r in results)
        assert sum(gated.batches) == 100
        assert len(gated.batches) <= 3  # group commit, not 50 transactions


@private_loop
async def test_a_repeated_id_in_one_batch_is_one_event_and_one_duplicate(tmp_path: Path) -> None:
    async with gated_storage(tmp_path) as gated:
        writer = Writer(gated)
        writer.start()
        same = event("same-id")
        first, second = await asyncio.gather(writer.submit([same]), writer.submit([same]))
        await writer.close()
        assert (first.accepted + second.accepted, first.duplicates + second.duplicates) == (1, 1)
        assert len(await gated.raw_events("s")) == 1


@private_loop
async def test_a_full_queue_answers_overloaded_with_retry_after(tmp_path: Path) -> None:
    async with gated_storage(tmp_path) as gated:
        writer = Writer(gated, queue_limit=10)
        writer.start()
        gated.gate.clear()  # the disk stalls
        first = asyncio.create_task(writer.submit([event() for _ in range(6)]))
        await asyncio.sleep(0.05)  # taken by the writer, stuck in its commit
        second = asyncio.create_task(writer.submit([event() for _ in range(8)]))
        await asyncio.sleep(0.01)
        with pytest.raises(Overloaded) as refused:
            await writer.submit([event() for _ in range(3)])  # 8 waiting + 3 > 10
        assert refused.value.status == 503 and refused.value.retry_after >= 1
        gated.gate.set()
        assert (await first).accepted == 6 and (await second).accepted == 8
        await writer.close()


@private_loop
async def test_close_commits_everything_queued_then_refuses(tmp_path: Path) -> None:
    async with gated_storage(tmp_path) as gated:
        writer = Writer(gated, window_ms=50)
        writer.start()
        pending = [asyncio.create_task(writer.submit([event()])) for _ in range(20)]
        await asyncio.sleep(0)
        await writer.close()
        assert sum(r.accepted for r in await asyncio.gather(*pending)) == 20
        assert len(await gated.raw_events("s")) == 20
        with pytest.raises(Overloaded):
            await writer.submit([event()])


@private_loop
async def test_a_database_failure_is_overloaded_and_the_writer_goes_on(tmp_path: Path) -> None:
    async with gated_storage(tmp_path) as gated:
        failures: list[BaseException] = []
        writer = Writer(gated, on_failure=failures.append)
        writer.start()
        await gated.db.execute(  # every write now fails inside SQLite
            "CREATE TRIGGER refuse_all BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"
        )
        with pytest.raises(Overloaded) as refused:
            await writer.submit([event()])
        assert "storage unavailable" in refused.value.message
        assert failures
        await gated.db.execute("DROP TRIGGER refuse_all")
        assert (await writer.submit([event()])).accepted == 1
        await writer.close()


@private_loop
async def test_one_refused_request_does_not_fail_the_others_in_its_batch(tmp_path: Path) -> None:
    async with gated_storage(tmp_path) as gated:
        await gated.db.execute(  # the database refuses one event, as a constraint would
            "CREATE TRIGGER refuse BEFORE INSERT ON events WHEN NEW.element = 'poison' "
            "BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )
        writer = Writer(gated, window_ms=20)
        writer.start()
        good = [writer.submit([event()]) for _ in range(5)]
        bad = writer.submit([event(element="poison")])
        results = await asyncio.gather(*good, bad, return_exceptions=True)
        await writer.close()
        assert [r.accepted for r in results[:5]] == [1] * 5  # type: ignore[union-attr]
        assert isinstance(results[5], Overloaded)
        assert len(await gated.raw_events("s")) == 5


@private_loop
async def test_counts_nobody_waits_for_are_committed_with_the_next_batch(tmp_path: Path) -> None:
    async with gated_storage(tmp_path) as gated:
        writer = Writer(gated)
        writer.start()
        for _ in range(3):
            writer.count("s", "rate_limited", 10)
        for _ in range(100):
            if (await gated.rejection_counts("s")).get("rate_limited"):
                break
            await asyncio.sleep(0.01)
        await writer.submit([], [Rejection("s", "origin", 2)])
        await writer.close()
        assert await gated.rejection_counts("s") == {"origin": 2, "rate_limited": 30}


@private_loop
async def test_post_e_answers_503_with_retry_after_when_the_database_fails(tmp_path: Path) -> None:
    import httpx

    from collector_helpers import ORIGIN, make_batch
    from ctrlens.app import create_app
    from ctrlens.collector.config import Config
    from harness import BROWSER_UA

    store = await open_storage(str(tmp_path / "app.db"))
    await store.add_site("s", "S", [ORIGIN])
    token = "writer-test-token-0123456789abcdef"
    app = create_app(Config(db=str(tmp_path / "app.db"), rate_limit=0, token=token), storage=store)
    headers = {"Content-Type": "text/plain", "Origin": ORIGIN, "User-Agent": BROWSER_UA}
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://c") as client:
                r = await client.post("/e", json=make_batch("s", "f", 3), headers=headers)
                assert r.status_code == 202  # today's salt is read and kept: only the commit is left
                await store.db.execute(  # every write of events now fails inside SQLite
                    "CREATE TRIGGER refuse_all BEFORE INSERT ON events "
                    "BEGIN SELECT RAISE(ABORT, 'disk on fire'); END"
                )
                r = await client.post("/e", json=make_batch("s", "f", 3), headers=headers)
                assert r.status_code == 503 and "retry" in r.json()["error"]
                assert int(r.headers["retry-after"]) >= 1
                metrics = (await client.get("/metrics")).text
                assert "ctrlens_commit_failures_total 1" in metrics
                await store.db.execute("DROP TRIGGER refuse_all")
                r = await client.post("/e", json=make_batch("s", "f", 3), headers=headers)
                assert r.status_code == 202 and r.json()["accepted"] == 3
    finally:
        await store.close()
