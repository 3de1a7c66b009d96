"""The per-element weekly tables (schema version 14) and the six counts of the per-element rollups
(version 15), on both backends: after a randomised mix of writes through the real write path (page
views with present elements, impressions, clicks, conversions of goals, replays and late events,
over several weeks), every weekly row is the sum of its per-element daily rows over that week,
every per-element daily row the sum of its `rollups_daily` cells, all counts, and none is kept at
zero; the overview's range reads, which take whole weeks from them, equal a plain sum of the hourly
rows and of the per-cell reads. The same holds after retention, after rollup rows are deleted (the
delete triggers cascade), after a site is removed and after rows of the daily tables themselves
are deleted. A database written at version 14 and then migrated holds exactly what one written at
version 15 holds.
"""

from __future__ import annotations

import random
import time
from typing import Any

from ctrlens.collector.events import StoredEvent
from ctrlens.collector.storage import Storage, WriteBatch, open_database, open_storage
from ctrlens.collector.storage.counts import COUNTS
from ctrlens.collector.storage.database import migrations
from harness import Databases, private_loop

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
DAY = 86_400
ELEMENTS = ("hero", "nav", "banner", "footer", "promo")
GOALS = ("signup", "buy")
SITES = ("shop", "gone")

# (weekly table, its daily table, the key besides site and week/day, the counted columns, the
# columns whose zero means an empty row)
TABLES = (
    ("rollups_element_weeks", "rollups_element_days", ("element",), COUNTS, COUNTS),
    ("presence_element_weeks", "presence_element_days", ("element",), ("present",), ("present",)),
    ("goal_element_weeks", "goal_element_days", ("goal", "element"), ("conversions", "assisted", "value"),
     ("conversions", "assisted")),
)


def _event(site: str, event_id: str, type: str, pageview: str, visitor: str, ts: int, **more: Any) -> StoredEvent:
    fields: dict[str, Any] = {
        "site": site, "event_id": event_id, "pageview": pageview, "type": type, "element": "",
        "kind": "cta", "variant": "", "account": "", "page": "/", "url": "https://shop.example/",
        "referrer": "", "source": "(direct)", "device": "desktop", "visitor": visitor, "via_click": False,
        "ts_client": ts - 5, "ts_server": ts,
    }
    return StoredEvent(**{**fields, **more})


def _traffic(rng: random.Random, today: int, tag: str = "", views: int = 700) -> list[list[StoredEvent]]:
    """Waves of events over the last 40 UTC days (six weeks and parts of two more), each sent
    after the one before: page view reports and impressions and clicks; conversions; then late
    impressions and clicks of the same page views (they update daily rows already there). Page
    views (`views` of them) are named after `tag`, so two calls with different tags send different
    events."""
    first: list[StoredEvent] = []
    conversions: list[StoredEvent] = []
    late: list[StoredEvent] = []
    for n in range(views):
        site = rng.choice(SITES)
        day = today - rng.randrange(1, 41)
        ts = day * DAY_MS + rng.randrange(0, 22) * HOUR_MS + rng.randrange(3_000_000)
        visitor, pageview = f"p{rng.randrange(50)}-d{day}", f"{tag}pv{n}"
        variant, page = rng.choice("AB"), rng.choice(("/", "/pricing", "/blog"))
        cell = {"variant": variant, "page": page}
        shown = rng.sample(ELEMENTS, rng.randint(1, 4))
        present = tuple(e for e in ELEMENTS if e in shown or rng.random() < 0.3)
        first.append(_event(site, f"{pageview}-r", "pageview", pageview, visitor, ts, present=present, **cell))
        for element in shown:
            kind = "banner" if element == "banner" else "cta"
            target = first if rng.random() < 0.8 else late
            target.append(_event(site, f"{pageview}-{element}-i", "impression", pageview, visitor, ts + 500,
                                 element=element, kind=kind, **cell))
            if rng.random() < 0.4:
                late.append(_event(site, f"{pageview}-{element}-c", "click", pageview, visitor, ts + 1500,
                                   element=element, kind=kind, **cell))
        for goal in GOALS:
            if rng.random() < 0.3:
                value = rng.choice((None, 12.5, 40.0))
                conversions.append(_event(site, f"{pageview}-{goal}", "conversion", f"{pageview}-g", visitor,
                                          ts + 600_000, goal=goal, value=value, kind="", **cell))
    # Conversions come after the clicks they are credited to.
    return [first, late, conversions]


async def _batches(storage: Storage, rng: random.Random, events: list[StoredEvent]) -> None:
    """Events in random batches, a fifth of them sent twice (replays are duplicates)."""
    events = [*events, *rng.sample(events, len(events) // 5)]
    rng.shuffle(events)
    while events:
        size = rng.randint(1, 60)
        await storage.write(WriteBatch(events[:size]))
        events = events[size:]


def _number(value: Any) -> float:
    return round(float(value), 6)


async def _assert_weeks_sum_days(storage: Storage) -> int:
    """Every weekly row equals its daily rows summed over the week (a plain GROUP BY), and no
    weekly row is all zeros; return the number of weekly rows."""
    rows = 0
    for weekly, daily, keys, columns, counted in TABLES:
        key_list = ", ".join(keys)
        sums = ", ".join(f"SUM({c})" for c in columns)
        nonzero = " OR ".join(f"SUM({c}) <> 0" for c in counted)
        expected = {
            tuple(row[:2 + len(keys)]): tuple(_number(v) for v in row[2 + len(keys):])
            for row in await storage.db.fetch(
                f"SELECT site, (day + 3) / 7, {key_list}, {sums} FROM {daily} "
                f"GROUP BY site, (day + 3) / 7, {key_list} HAVING {nonzero}"
            )
        }
        stored = {
            tuple(row[:2 + len(keys)]): tuple(_number(v) for v in row[2 + len(keys):])
            for row in await storage.db.fetch(f"SELECT site, week, {key_list}, {', '.join(columns)} FROM {weekly}")
        }
        assert stored == expected, weekly
        zero = " AND ".join(f"{c} = 0" for c in counted)
        assert await storage.db.fetch(f"SELECT * FROM {weekly} WHERE {zero}") == [], weekly
        rows += len(stored)
    return rows


async def _assert_element_days_sum_cells(storage: Storage) -> int:
    """Every `rollups_element_days` row equals its `rollups_daily` cells summed over variants and
    pages, every count (a plain GROUP BY), and no row is all zeros; return the number of rows."""
    sums = ", ".join(f"SUM({c})" for c in COUNTS)
    nonzero = " OR ".join(f"SUM({c}) <> 0" for c in COUNTS)
    expected = {
        tuple(row[:3]): tuple(int(v) for v in row[3:])
        for row in await storage.db.fetch(
            f"SELECT site, day, element, {sums} FROM rollups_daily "
            f"GROUP BY site, day, element HAVING {nonzero}"
        )
    }
    stored = {
        tuple(row[:3]): tuple(int(v) for v in row[3:])
        for row in await storage.db.fetch(
            f"SELECT site, day, element, {', '.join(COUNTS)} FROM rollups_element_days"
        )
    }
    assert stored == expected
    zero = " AND ".join(f"{c} = 0" for c in COUNTS)
    assert await storage.db.fetch(f"SELECT * FROM rollups_element_days WHERE {zero}") == []
    return len(stored)


def _ranges(rng: random.Random, today: int) -> list[tuple[int, int]]:
    """Ranges of hours with whole weeks and partial days at either end, like a site-local period."""
    found = [(0, (today + 1) * DAY)]
    for _ in range(8):
        start = (today - rng.randrange(20, 45)) * DAY + rng.randrange(24) * 3600
        found.append((start, start + rng.randrange(8, 31) * DAY + rng.randrange(-12, 12) * 3600))
    return found


async def _assert_reads_equal_hours(storage: Storage, rng: random.Random, today: int) -> None:
    """The overview's per-element reads (whole weeks from the weekly tables) equal plain sums of the
    hourly rollups over the same range."""
    for site in SITES:
        for hour_from, hour_to in _ranges(rng, today):
            hours = (site, hour_from, hour_to)
            where = "site = ? AND hour >= ? AND hour < ?"
            totals = {
                r["element"]: tuple(r[c] for c in COUNTS)
                for r in await storage.element_totals(site, hour_from, hour_to)
            }
            sums = ", ".join(f"SUM({c})" for c in COUNTS)
            assert totals == {
                row[0]: tuple(int(v) for v in row[1:])
                for row in await storage.db.fetch(
                    f"SELECT element, {sums} FROM rollups WHERE {where} "
                    "GROUP BY element HAVING SUM(impressions) > 0", hours)
            }
            banners = await storage.element_totals(site, hour_from, hour_to, kind="banner")
            assert {r["element"] for r in banners} <= {"banner"}
            assert await storage.presence(site, hour_from, hour_to) == {
                (e,): int(p)
                for e, p in await storage.db.fetch(
                    f"SELECT element, SUM(present) FROM presence_rollups WHERE {where} GROUP BY element", hours)
                if p
            }
            for goal in GOALS:
                counts = await storage.goal_counts(site, goal, hour_from, hour_to)
                assert {k: (c, a, _number(v)) for k, (c, a, v) in counts.items()} == {
                    (e,): (int(c), int(a), _number(v))
                    for e, c, a, v in await storage.db.fetch(
                        "SELECT element, SUM(conversions), SUM(assisted), SUM(value) FROM goal_rollups "
                        f"WHERE {where} AND goal = ? GROUP BY element", (*hours, goal))
                    if c or a
                }


def _whole_ranges(rng: random.Random, today: int) -> list[tuple[int, int]]:
    """Ranges of whole weeks (Monday to Monday, `week` = (day + 3) / 7), whole days, and hours
    within one day."""
    monday = ((today + 3) // 7) * 7 - 3
    day = today - rng.randrange(2, 30)
    return [
        ((monday - 35) * DAY, monday * DAY),
        ((monday - 21) * DAY, (monday - 7) * DAY),
        ((day - 9) * DAY, day * DAY),
        (day * DAY + 5 * 3600, day * DAY + 17 * 3600),
    ]


async def _assert_totals_equal_cells(storage: Storage, rng: random.Random, today: int) -> None:
    """`element_totals` (per-element tables) gives, per element and in element order, every count
    of a plain Python sum of `element_cells` (per-cell tables) over the same range: partial days,
    whole days, whole weeks. Kinds are not compared with the cells': an element that changed kind
    within a range may keep another one in the per-element rows. Here none does."""
    ranges = [*_ranges(rng, today), *_whole_ranges(rng, today)]
    assert any(hour_from % DAY for hour_from, _ in ranges) and any(hour_to % DAY for _, hour_to in ranges)
    for site in SITES:
        for hour_from, hour_to in ranges:
            for kind in (None, "banner"):
                expected: dict[str, dict[str, int]] = {}
                for cell in await storage.element_cells(site, hour_from, hour_to, kind=kind):
                    sums = expected.setdefault(cell["element"], dict.fromkeys(COUNTS, 0))
                    for name in COUNTS:
                        sums[name] += cell[name]
                totals = await storage.element_totals(site, hour_from, hour_to, kind=kind)
                assert [(r["element"], {c: r[c] for c in COUNTS}) for r in totals] == sorted(expected.items())
                for r in totals:
                    assert set(r) == {"element", "kind", *COUNTS}
                    assert all(type(r[c]) is int for c in COUNTS)
                    assert r["kind"] == ("banner" if r["element"] == "banner" else "cta")


@private_loop
async def test_weekly_element_tables_equal_their_days_through_writes_and_deletes(fresh_db: str):
    rng = random.Random(14)
    today = int(time.time() * 1000) // DAY_MS
    storage = await open_storage(fresh_db)
    try:
        for site in SITES:
            await storage.add_site(site, site, ["https://shop.example"])
        for wave in _traffic(rng, today):
            await _batches(storage, rng, wave)
        # The mix reached every table over several weeks, with updates of existing rows.
        weeks = await storage.db.fetch("SELECT COUNT(DISTINCT week) FROM goal_element_weeks")
        assert weeks[0][0] >= 5
        rows = await _assert_weeks_sum_days(storage)
        assert rows > 200
        days = await _assert_element_days_sum_cells(storage)
        assert days > 200
        await _assert_reads_equal_hours(storage, rng, today)
        await _assert_totals_equal_cells(storage, rng, today)

        # Retention deletes raw events and ledgers; the rollups, daily and weekly, stay.
        before = {t[0]: await storage.db.fetch(f"SELECT * FROM {t[0]} ORDER BY 1, 2, 3") for t in TABLES}
        await storage.delete_raw_before((today - 20) * DAY_MS + 7 * HOUR_MS)
        assert await storage.db.fetch("SELECT COUNT(*) FROM events WHERE ts_server < ?",
                                      ((today - 20) * DAY_MS,)) == [(0,)]
        assert {t[0]: await storage.db.fetch(f"SELECT * FROM {t[0]} ORDER BY 1, 2, 3") for t in TABLES} == before
        assert await _assert_weeks_sum_days(storage) == rows
        assert await _assert_element_days_sum_cells(storage) == days

        # Hourly rollup rows deleted part-way through a week: the daily triggers take them off
        # the daily tables, and ours off the weeks (emptied weeks go).
        bound = (today - 17) * DAY + 13 * 3600
        for table in ("rollups", "presence_rollups", "goal_rollups"):
            await storage.db.execute(f"DELETE FROM {table} WHERE site = ? AND hour < ?", ("shop", bound))
        assert await storage.db.fetch(
            "SELECT COUNT(*) FROM rollups_element_weeks WHERE site = ? AND week < ?",
            ("shop", (bound // DAY + 3) // 7),
        ) == [(0,)]
        assert 0 < await _assert_weeks_sum_days(storage) < rows
        assert 0 < await _assert_element_days_sum_cells(storage) < days
        await _assert_reads_equal_hours(storage, rng, today)
        await _assert_totals_equal_cells(storage, rng, today)

        # A removed site leaves no weekly rows.
        removed = await storage.remove_site("gone")
        assert removed is not None and "rollups_element_weeks" in removed
        for weekly, *_ in TABLES:
            assert await storage.db.fetch(f"SELECT COUNT(*) FROM {weekly} WHERE site = ?", ("gone",)) == [(0,)]
        await _assert_weeks_sum_days(storage)
        await _assert_element_days_sum_cells(storage)

        # Rows deleted from the daily tables themselves, counts and all (the write path never does,
        # but the delete triggers must carry every count): variant A's cells of the last ten days,
        # then a few per-element days part-way through a week. The hourly rows no longer match, so
        # only the per-element sums are checked.
        days = await _assert_element_days_sum_cells(storage)
        await storage.db.execute("DELETE FROM rollups_daily WHERE site = ? AND variant = ? AND day >= ?",
                                 ("shop", "A", today - 10))
        assert 0 < await _assert_element_days_sum_cells(storage) < days
        await _assert_weeks_sum_days(storage)
        for daily in ("rollups_element_days", "presence_element_days", "goal_element_days"):
            await storage.db.execute(f"DELETE FROM {daily} WHERE site = ? AND day >= ? AND day <= ?",
                                     ("shop", today - 9, today - 6))
        assert await _assert_weeks_sum_days(storage) > 0
    finally:
        await storage.close()


async def _write_and_delete(storage: Storage, waves: list[list[StoredEvent]], today: int) -> None:
    """The same writes and deletes on any database: every wave in seeded random batches, then the
    hourly rollups of one site deleted part-way through a week."""
    rng = random.Random(150)
    for site in SITES:
        await storage.add_site(site, site, ["https://shop.example"])
    for wave in waves:
        await _batches(storage, rng, wave)
    await storage.db.execute("DELETE FROM rollups WHERE site = ? AND hour < ?",
                             ("shop", (today - 17) * DAY + 13 * 3600))


# Every row of the per-element rollups, in key order.
ELEMENT_ROLLUPS = {
    table: f"SELECT site, {period}, element, kind, {', '.join(COUNTS)} FROM {table} "
           f"ORDER BY site, {period}, element"
    for table, period in (("rollups_element_days", "day"), ("rollups_element_weeks", "week"))
}


#: Tables that today's write path writes and version 14 lacks.
LATER_TABLES = ("experiment_moments_total", "experiment_goal_moments_total")


def _later_tables(dialect: str) -> list[str]:
    """The CREATE TABLE statements of LATER_TABLES, from their migration."""
    found = []
    for _, sql in migrations(dialect):
        for statement in sql.split(";"):
            code = "\n".join(line for line in statement.splitlines() if not line.lstrip().startswith("--"))
            if any(f"CREATE TABLE {table} " in code for table in LATER_TABLES):
                found.append(code.strip())
    assert len(found) == len(LATER_TABLES)
    return found


@private_loop
async def test_version_15_fills_the_counts_of_existing_rows(backend: str, databases: Databases):
    """A database written at version 14 and then migrated holds, in its per-element tables, exactly
    what the same writes give at version 15: every count the sum of its cells, the same rows."""
    today = int(time.time() * 1000) // DAY_MS
    waves = _traffic(random.Random(15), today, views=300)
    old_url, new_url = databases.new(backend), databases.new(backend)
    db = await open_database(old_url)
    try:
        assert await db.migrate(upto=14) == 14
        # Today's write path also keeps the moment totals of version 16: the version-14 file gets
        # those tables for these writes and loses them again before it upgrades (16 makes them
        # anew from the daily moments).
        for statement in _later_tables(db.dialect):
            await db.execute(statement)
    finally:
        await db.close()
    old = await open_storage(old_url, migrate=False)
    try:
        await _write_and_delete(old, waves, today)
        assert await old.db.schema_version() == 14
        for table in LATER_TABLES:
            await old.db.execute(f"DROP TABLE {table}")
    finally:
        await old.close()
    new = await open_storage(new_url)
    migrated = await open_storage(old_url)
    try:
        await _write_and_delete(new, waves, today)
        assert await migrated.db.schema_version() == migrations(migrated.dialect)[-1][0] >= 15
        # The new columns were filled: each count has rows where it is not zero.
        sums = ", ".join(f"SUM({c})" for c in COUNTS)
        assert all(int(v) > 0 for v in (await migrated.db.fetch(f"SELECT {sums} FROM rollups_element_days"))[0])
        assert await _assert_element_days_sum_cells(migrated) > 100
        assert await _assert_weeks_sum_days(migrated) > 100
        for table, query in ELEMENT_ROLLUPS.items():
            assert await migrated.db.fetch(query) == await new.db.fetch(query), table
        # And it goes on like one made at version 15.
        more = _traffic(random.Random(16), today, tag="more-", views=150)
        for storage in (migrated, new):
            for wave in more:
                await _batches(storage, random.Random(151), wave)
        await _assert_element_days_sum_cells(migrated)
        await _assert_weeks_sum_days(migrated)
        for table, query in ELEMENT_ROLLUPS.items():
            assert await migrated.db.fetch(query) == await new.db.fetch(query), table
    finally:
        await new.close()
        await migrated.close()
