"""What only PostgreSQL has: placeholders, day partitions of raw events, retried transactions,
migrations under an advisory lock, and `ctrlens serve --workers N`."""

from __future__ import annotations

import asyncio
import subprocess

import asyncpg
import pytest
from test_storage import DAY_MS, NOW_MS, event, totals

from ctrlens.collector.storage import Storage, WriteBatch, open_storage, redacted
from ctrlens.collector.storage.database import Connection, migrations
from ctrlens.collector.storage.postgres import PostgresDatabase, translate, unnest
from harness import CTRLENS, ROOT, Databases, Server, opened, private_loop

TODAY = NOW_MS // DAY_MS


@pytest.fixture
def pg_url(databases: Databases) -> str:
    return databases.new("postgres")


async def partitions(storage: Storage) -> dict[str, int]:
    """Partition name -> rows, for the `events` table."""
    rows = await storage.db.fetch(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = CAST('events' AS regclass) ORDER BY c.relname"
    )
    counts = {}
    for (name,) in rows:
        counts[name] = (await storage.db.fetch(f'SELECT count(*) FROM "{name}"'))[0][0]
    return counts


def partition_name(day: int) -> str:
    import datetime

    return "events_" + (datetime.date(1970, 1, 1) + datetime.timedelta(days=day)).strftime("%Y%m%d")


# -- the driver -------------------------------------------------------------------------------

def test_placeholders_become_numbered_outside_quotes():
    assert translate("SELECT ? , ?") == "SELECT $1 , $2"
    assert translate("SELECT '?', \"a?\", ? WHERE x = 'it''s ?'") == (
        "SELECT '?', \"a?\", $1 WHERE x = 'it''s ?'"
    )
    assert translate("VALUES (?,?),(?,?)") == "VALUES ($1,$2),($3,$4)"


def test_bulk_rows_are_sent_as_one_array_per_column():
    assert unnest(["text", "bigint"]) == "SELECT * FROM unnest(CAST($1 AS text[]), CAST($2 AS bigint[]))"


@private_loop
async def test_a_bulk_insert_is_one_statement_whatever_its_size(pg_url: str):
    """70,000 rows of 5 columns: far past the 65,535 parameters a VALUES list could have."""
    async with opened(pg_url) as pg:
        rows = [("shop", f"pv{i}", "A", "/", 3600 * (i % 24)) for i in range(70_000)]

        async def work(tx: Connection) -> int:
            columns = ("site", "pageview", "variant", "page", "hour")
            return len(await tx.insert_new("pageviews", columns, 2, rows))

        assert await pg.db.atomic(work) == 70_000
        assert await pg.db.atomic(work) == 0


def test_a_url_is_logged_without_its_password():
    assert redacted("postgresql://ctrlens:s3cret@db:5432/ctrlens") == "postgresql://ctrlens:***@db:5432/ctrlens"
    assert redacted("/var/lib/ctrlens/ctrlens.db") == "/var/lib/ctrlens/ctrlens.db"


@private_loop
async def test_sums_come_back_as_python_numbers_like_sqlite(pg_url: str):
    async with opened(pg_url) as pg:
        [(total, mean)] = await pg.db.fetch(
            "SELECT SUM(x), AVG(x) FROM (VALUES (CAST(1 AS BIGINT)), (2)) AS t(x)"
        )
        assert (total, mean) == (3, 1.5) and type(total) is int and type(mean) is float


@private_loop
async def test_a_deadlocked_transaction_runs_again(pg_url: str):
    """Two writers lock two rows in opposite orders; PostgreSQL aborts one, which reruns."""
    async with opened(pg_url) as pg:
        await pg.set_meta("a", "0")
        await pg.set_meta("b", "0")
        barrier = asyncio.Barrier(2)
        attempts = {"a": 0, "b": 0}

        def writer(first: str, second: str):
            async def work(tx):
                attempts[first] += 1
                await tx.execute("UPDATE meta SET value = value || ? WHERE key = ?", (first, first))
                if attempts[first] == 1:
                    await barrier.wait()  # both hold their first row now
                await tx.execute("UPDATE meta SET value = value || ? WHERE key = ?", (first, second))

            return work

        await asyncio.gather(pg.db.atomic(writer("a", "b")), pg.db.atomic(writer("b", "a")))
        assert sorted(attempts.values()) == [1, 2]
        # Each transaction's effect is there exactly once, the rerun one's after the other's.
        values = {await pg.get_meta("a"), await pg.get_meta("b")}
        assert values in ({"0ab"}, {"0ba"})


@private_loop
async def test_migrations_run_once_when_collectors_start_together(pg_url: str):
    dbs = [PostgresDatabase(pg_url) for _ in range(4)]
    try:
        await asyncio.gather(*(db.open() for db in dbs))
        versions = await asyncio.gather(*(db.migrate() for db in dbs))
        latest = migrations("postgres")[-1][0]
        assert versions == [latest] * 4
        rows = await dbs[0].fetch("SELECT version FROM schema_migrations ORDER BY version")
        assert [v for (v,) in rows] == [v for v, _ in migrations("postgres")]
    finally:
        for db in dbs:
            await db.close()


# -- raw events partitioned by day --------------------------------------------------------------

@private_loop
async def test_writes_make_day_partitions_ahead(pg_url: str):
    async with opened(pg_url) as pg:
        await pg.write(WriteBatch([event("e1"), event("e2", ts_server=NOW_MS - 3 * DAY_MS)]))
        parts = await partitions(pg)
        for day in [TODAY - 3, TODAY, TODAY + 7]:
            assert partition_name(day) in parts
        assert parts[partition_name(TODAY)] == 1 and parts[partition_name(TODAY - 3)] == 1
        assert parts["events_default"] == 0


@private_loop
async def test_rows_caught_by_the_default_partition_move_into_their_day(pg_url: str):
    async with opened(pg_url) as pg:
        far = TODAY + 400
        row = event("stray", ts_server=far * DAY_MS + 5)
        await pg.db.execute(
            "INSERT INTO events (site, event_id, pageview, type, element, kind, variant, account, page, "
            "url, referrer, source, device, visitor, via_click, ts_client, ts_server) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*[getattr(row, f) for f in row.__struct_fields__[:14]], 0, row.ts_client, row.ts_server),
        )
        assert (await partitions(pg))["events_default"] == 1
        [(made,)] = await pg.db.fetch("SELECT ctrlens_event_partition(?)", (far,))
        assert made is True
        parts = await partitions(pg)
        assert parts["events_default"] == 0 and parts[partition_name(far)] == 1
        [(again,)] = await pg.db.fetch("SELECT ctrlens_event_partition(?)", (far,))
        assert again is False


@private_loop
async def test_retention_drops_whole_days_and_their_ids(pg_url: str):
    async with opened(pg_url) as pg:
        await pg.write(WriteBatch([
            event("d10", ts_server=NOW_MS - 10 * DAY_MS, pageview="a"),
            event("d9", "click", ts_server=NOW_MS - 9 * DAY_MS, pageview="a"),
            event("d0", ts_server=NOW_MS, pageview="b"),
        ]))
        rollups = await totals(pg)
        dropped = await pg.delete_raw_before((TODAY - 9) * DAY_MS + 1)  # keeps day -9 (whole days)
        assert dropped == 1
        parts = await partitions(pg)
        assert partition_name(TODAY - 10) not in parts and parts[partition_name(TODAY - 9)] == 1
        ids = await pg.db.fetch("SELECT event_id FROM event_ids ORDER BY event_id")
        assert [i for (i,) in ids] == ["d0", "d9"]
        assert await totals(pg) == rollups


@private_loop
async def test_concurrent_partition_makers_agree(pg_url: str):
    stores = [await open_storage(pg_url) for _ in range(4)]
    try:
        day = TODAY + 100
        made = await asyncio.gather(
            *(s.db.fetch("SELECT ctrlens_event_partition(?)", (day,)) for s in stores)
        )
        assert sorted(rows[0][0] for rows in made) == [False, False, False, True]
    finally:
        for s in stores:
            await s.close()


# -- ctrlens serve --workers N ------------------------------------------------------------------

def test_serve_with_two_workers_on_postgres(databases: Databases):
    server = Server(databases.new("postgres"), extra_args=["--workers", "2"]).start()
    try:
        site = server.new_site(["https://shop.example"])
        pids = set()
        for n in range(20):
            body = {"site": site, "pageview": f"pv{n}", "url": "https://shop.example/",
                    "events": [{"id": f"e{n}", "type": "impression", "element": "hero"}]}
            r = server.post(body, "https://shop.example")
            assert r.status_code == 202, r.text
            assert r.json()["accepted"] == 1
        assert server.elements(site)["hero"]["impressions"] == 20
        children = subprocess.run(
            ["pgrep", "-P", str(server.process.pid)], capture_output=True, text=True
        ).stdout.split()
        pids.update(children)
        assert len(pids) >= 2  # uvicorn's worker processes
    finally:
        server.stop()


def test_sqlite_refuses_more_than_one_worker(tmp_path):
    result = subprocess.run(
        [*CTRLENS, "serve", "--db", str(tmp_path / "x.db"), "--workers", "2"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "SQLite has a single writer" in result.stderr


@private_loop
async def test_a_bad_url_fails_with_the_servers_answer(pg_url: str):
    with pytest.raises((OSError, asyncpg.PostgresError)):
        await open_storage(pg_url.replace("ctrlens_test_", "no_such_db_"))
