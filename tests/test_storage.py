"""The storage interface, on both backends: what a batch write stores and counts (docs/design.md §5).

Each test gets a fresh, migrated database of the current backend (`storage` fixture); the
suite runs every test once on SQLite and once on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import random
import re
import sqlite3
import time
from pathlib import Path
from typing import Any

from ctrlens.collector.events import StoredEvent
from ctrlens.collector.storage import Rejection, Storage, WriteBatch, open_storage
from ctrlens.collector.storage.database import Connection
from harness import opened, private_loop

DAY_MS = 86_400_000
NOW_MS = int(time.time() * 1000)


def event(
    event_id: str,
    type: str = "impression",
    element: str = "hero",
    pageview: str = "pv1",
    site: str = "shop",
    ts_server: int = NOW_MS,
    **fields: Any,
) -> StoredEvent:
    values: dict[str, Any] = dict(
        site=site, event_id=event_id, pageview=pageview, type=type, element=element, kind="cta",
        variant="A", account="", page="/pricing", url="https://shop.example/pricing",
        referrer="", source="(direct)", device="desktop", visitor="visitor-1", via_click=False,
        ts_client=ts_server - 5, ts_server=ts_server,
    )
    values.update(fields)
    return StoredEvent(**values)


async def totals(storage: Storage, site: str = "shop") -> dict[str, dict[str, int]]:
    """Rollup totals per element, in the shape of `recount`."""
    rows = await storage.element_counts(site, 0, 2**40)
    return {
        r["element"]: {k: r[k] for k in ("impressions", "clicks", "total_clicks")} for r in rows
    }


@private_loop
async def test_a_batch_is_stored_and_rolled_up_in_one_write(fresh_db: str):
    async with opened(fresh_db) as storage:
        new = await storage.write(WriteBatch([
            event("e1"), event("e2", "click"), event("e3", "click"),
            event("e4", element="nav"), event("e5", pageview="pv2"),
        ]))
        assert new == {("shop", f"e{i}") for i in range(1, 6)}
        assert len(await storage.raw_events("shop")) == 5
        counts = (await storage.element_counts("shop", 0, 2**40))
        hero = next(r for r in counts if r["element"] == "hero")
        # Two page views saw hero; one clicked it, twice.
        assert (hero["impressions"], hero["clicks"], hero["total_clicks"]) == (2, 1, 2)
        assert (hero["viewers"], hero["clickers"]) == (1, 1)
        assert await totals(storage) == await storage.recount("shop")


@private_loop
async def test_a_repeated_event_id_is_a_duplicate_not_a_second_row(fresh_db: str):
    async with opened(fresh_db) as storage:
        assert await storage.write(WriteBatch([event("e1"), event("e2", "click")])) == {
            ("shop", "e1"), ("shop", "e2"),
        }
        # The retry arrives later (a later server time) and mixed with a new event.
        later = NOW_MS + 60_000
        new = await storage.write(WriteBatch([
            event("e1", ts_server=later), event("e2", "click", ts_server=later), event("e3", "click"),
        ]))
        assert new == {("shop", "e3")}
        assert sorted(e["event_id"] for e in await storage.raw_events("shop")) == ["e1", "e2", "e3"]
        assert await totals(storage) == {"hero": {"impressions": 1, "clicks": 1, "total_clicks": 2}}


@private_loop
async def test_event_ids_are_unique_per_site_only(fresh_db: str):
    async with opened(fresh_db) as storage:
        new = await storage.write(WriteBatch([event("same", site="shop"), event("same", site="blog")]))
        assert new == {("shop", "same"), ("blog", "same")}


@private_loop
async def test_a_click_without_an_impression_counts_one_via_click(fresh_db: str):
    async with opened(fresh_db) as storage:
        await storage.write(WriteBatch([event("c1", "click", pageview="pv9")]))
        [row] = await storage.element_counts("shop", 0, 2**40)
        assert (row["impressions"], row["via_click"], row["clicks"]) == (1, 1, 1)


@private_loop
async def test_rejections_are_counted_with_samples(fresh_db: str):
    async with opened(fresh_db) as storage:
        await storage.write(WriteBatch(rejections=[
            Rejection("shop", "invalid", 2, '{"events": [1, 2]}'), Rejection("shop", "bot", 3),
        ]))
        await storage.write(WriteBatch(rejections=[Rejection("shop", "bot", 1)]))
        assert await storage.rejection_counts("shop") == {"bot": 4, "invalid": 2}
        [sample] = await storage.rejected_samples("shop")
        assert sample["reason"] == "invalid" and sample["payload"] == '{"events": [1, 2]}'


@private_loop
async def test_meta_and_sites(fresh_db: str):
    async with opened(fresh_db) as storage:
        assert await storage.meta_default("k", "first") == "first"
        assert await storage.meta_default("k", "second") == "first"
        await storage.set_meta("k", "third")
        assert await storage.get_meta("k") == "third"
        await storage.add_site("shop", "Shop", ["https://shop.example"], {"timezone": "Europe/Paris"})
        site = await storage.update_site("shop", name="The Shop")
        assert site is not None and site.name == "The Shop" and site.settings["timezone"] == "Europe/Paris"
        assert [s.key for s in await storage.list_sites()] == ["shop"]


@private_loop
async def test_salts_are_shared_by_every_process_and_expire_after_two_days(fresh_db: str):
    # Two Storage objects on one database stand for two collector processes.
    first, second = await open_storage(fresh_db), await open_storage(fresh_db)
    try:
        day = NOW_MS // DAY_MS
        salts = await asyncio.gather(first.salt(day), second.salt(day))
        assert salts[0] == salts[1] and len(salts[0]) == 64
        await first.salt(day + 1)
        assert await second.salt_days() == [day, day + 1]
        await second.salt(day + 2)
        assert await first.salt_days() == [day + 1, day + 2]
    finally:
        await first.close()
        await second.close()


@private_loop
async def test_retention_drops_old_raw_events_and_keeps_rollups(fresh_db: str):
    async with opened(fresh_db) as storage:
        old, recent = NOW_MS - 10 * DAY_MS, NOW_MS
        await storage.write(WriteBatch([
            event("old1", ts_server=old, pageview="a"), event("old2", "click", ts_server=old, pageview="a"),
            event("new1", ts_server=recent, pageview="b"),
        ]))
        before = await totals(storage)
        dropped = await storage.delete_raw_before(NOW_MS - 5 * DAY_MS)
        assert dropped == 2
        assert [e["event_id"] for e in await storage.raw_events("shop")] == ["new1"]
        assert await totals(storage) == before  # rollups outlive raw events


@private_loop
async def test_retention_deletes_in_chunks_until_nothing_old_is_left(fresh_db: str, monkeypatch: Any):
    import ctrlens.collector.storage.sqlite as sqlite_driver

    monkeypatch.setattr(sqlite_driver, "RETENTION_CHUNK", 3)  # SQLite: 3 rows per transaction
    async with opened(fresh_db) as storage:
        old = NOW_MS - 10 * DAY_MS
        await storage.write(WriteBatch(
            [event(f"old{i}", ts_server=old, pageview=f"pv{i // 2}", element=f"e{i % 3}") for i in range(10)]
            + [event("new1", ts_server=NOW_MS, pageview="fresh")]
        ))
        before = await totals(storage)
        assert await storage.delete_raw_before(NOW_MS - 5 * DAY_MS) == 10
        assert [e["event_id"] for e in await storage.raw_events("shop")] == ["new1"]
        for table, left in (("pageview_elements", 1), ("pageviews", 1), ("visitor_elements", 1)):
            assert (await storage.db.fetch(f"SELECT COUNT(*) FROM {table}"))[0][0] == left, table
        assert await totals(storage) == before


@private_loop
async def test_concurrent_writers_count_everything_exactly_once(fresh_db: str):
    """Four writers (as four collector processes would) share page views, elements and
    duplicate ids; the rollups must still equal a recount from the raw events."""
    writers = [await open_storage(fresh_db) for _ in range(4)]
    rng = random.Random(7)
    events = []
    for n in range(1200):
        pageview = f"pv{rng.randrange(60)}"
        element = rng.choice(["hero", "nav", "banner", "footer"])
        kind = rng.choice(["impression", "impression", "click"])
        events.append(event(f"id{n}", kind, element, pageview, visitor=f"v{rng.randrange(20)}",
                            ts_server=NOW_MS + rng.randrange(-3, 3) * 3_600_000))
    # Every event is sent twice, to two different writers, in shuffled batches.
    sends: list[list[StoredEvent]] = [[] for _ in writers]
    for e in events:
        for w in rng.sample(range(len(writers)), 2):
            sends[w].append(e)
    for batch in sends:
        rng.shuffle(batch)

    async def run(storage: Storage, batch: list[StoredEvent]) -> set[tuple[str, str]]:
        new: set[tuple[str, str]] = set()
        for start in range(0, len(batch), 37):
            new |= await storage.write(WriteBatch(batch[start:start + 37]))
        return new

    try:
        results = await asyncio.gather(*(run(w, b) for w, b in zip(writers, sends, strict=True)))
        stored = [r for result in results for r in result]
        assert len(stored) == len(events) == len(set(stored))  # each id new exactly once
        raw = await writers[0].raw_events("shop")
        assert len(raw) == len(events)
        assert await totals(writers[0]) == await writers[0].recount("shop")
    finally:
        for w in writers:
            await w.close()


# Rows a whole key names, per table the write path looks up.
LEDGER_KEYS = {"events": 2, "pageviews": 2, "pageview_elements": 3, "visitor_elements": 6}


@private_loop
async def test_sqlite_write_path_finds_every_row_by_its_whole_key(tmp_path: Path):
    """No statement of a write scans a table, or all of a site's rows: that would cost the
    whole ledger on every batch, and batches come many times a second."""
    path = str(tmp_path / "plans.db")
    statements: list[str] = []
    async with opened(path) as storage:
        storage.db.trace_batches(statements.append)
        # Impressions; then, in later batches, their clicks (cells and visitor rows exist by
        # then), a retried event, and a second visitor.
        await storage.write(WriteBatch([
            event("i1"), event("i2", element="nav"), event("i3", pageview="pv2"),
        ]))
        await storage.write(WriteBatch([
            event("c1", "click"), event("c2", "click", pageview="pv2"), event("i1"),
        ]))
        await storage.write(WriteBatch([event("c3", "click", element="nav", visitor="visitor-2"),
                                        event("i4", pageview="pv3", visitor="visitor-2")]))
        storage.db.trace_batches(None)
    verbs = ("SELECT", "UPDATE", "DELETE", "INSERT")
    statements = [s for s in statements if s.lstrip().upper().startswith(verbs)]
    for table in ("pageview_elements", "visitor_elements"):
        assert any(s.startswith(f"UPDATE {table}") for s in statements), "the later-click path did not run"
    plain = sqlite3.connect(path)
    for sql in statements:
        for *_, step in plain.execute("EXPLAIN QUERY PLAN " + sql).fetchall():
            if step.startswith("SCAN ") and "CONSTANT ROW" not in step and step != "SCAN keys":
                raise AssertionError(f"{step!r} in {sql[:200]}")
            searched = re.match(r"SEARCH (\w+) USING .*\((.*)\)$", step)
            if searched and searched.group(1) in LEDGER_KEYS:
                assert searched.group(2).count("=?") == LEDGER_KEYS[searched.group(1)], (step, sql[:200])
    plain.close()


@private_loop
async def test_the_drivers_bulk_operations_decide_in_the_database(fresh_db: str):
    """What both drivers promise the write path (database.py), on a real table."""
    async with opened(fresh_db) as storage:
        await storage.write(WriteBatch([event("old", pageview="pv0")]))  # the page view pv0 is stored

        async def work(tx: Connection) -> list[Any]:
            columns = ("site", "pageview", "variant", "page", "hour")
            new = await tx.insert_new("pageviews", columns, 2, [
                ("shop", "pv0", "B", "/", 0), ("shop", "pv1", "A", "/", 0), ("shop", "pv1", "B", "/", 0),
                ("shop", "pv2", "A", "/", 3600),
            ])
            key = ("site", "variant", "page", "hour")
            await tx.add_counts("pageview_rollups", key, ("pageviews",), [("shop", "A", "/x", 0, 2)])
            await tx.add_counts("pageview_rollups", key, ("pageviews",), [("shop", "A", "/x", 0, 3)])
            keys = [("shop", "pv1"), ("shop", "nope")]
            found = await tx.fetch_by_keys("pageviews", ("site", "pageview"), ("pageview", "variant"), keys)
            cell_key, cell = ("site", "pageview", "element"), ("shop", "pv0", "hero")
            flagged = [await tx.set_flags("pageview_elements", cell_key, "clicked", [cell]) for _ in range(2)]
            return [new, found, flagged]

        new, found, flagged = await storage.db.atomic(work)
        # New rows come back in order; of a key given twice, the first row is the one stored.
        assert new == [("shop", "pv1", "A", "/", 0), ("shop", "pv2", "A", "/", 3600)]
        assert found == [("pv1", "A")]
        assert flagged == [[("shop", "pv0", "hero")], []]  # a flag turns once
        assert await storage.pageview_counts("shop", 0, 3600) == {("A", "/x"): 5}


@private_loop
async def test_sqlite_runs_a_bulk_insert_as_power_of_two_statements(tmp_path: Path):
    """A statement per size would be parsed and planned afresh for every batch size."""
    statements: list[str] = []
    async with opened(str(tmp_path / "sizes.db")) as storage:

        async def work(tx: Connection) -> list[Any]:
            rows = [("shop", f"pv{i}", "A", "/", 0) for i in range(11)]
            return await tx.insert_new("pageviews", ("site", "pageview", "variant", "page", "hour"), 2, rows)

        storage.db.trace_batches(statements.append)
        new = await storage.db.atomic(work)
        storage.db.trace_batches(None)
    inserts = [s for s in statements if s.startswith("INSERT")]
    assert [s.count("),(") + 1 for s in inserts] == [8, 2, 1]
    assert [row[1] for row in new] == [f"pv{i}" for i in range(11)]
