"""The all-time moments of clustered variance (schema version 16), on both backends: after a
randomised mix of writes through the real write path (impressions, clicks, conversions of goals
credited to clicks, impressions of visitor-days that already converted, replays and late events,
over six weeks and two sites, by test_element_weeks.py's traffic), every row of
`experiment_moments_total` and `experiment_goal_moments_total` is the sum of its daily rows, every
column, and the two tables have exactly the keys of the daily rows: a total exists where days do
and nowhere else, so one of all zeros could only sum daily rows of all zeros, which the write path
never writes (checked too). The reads over a range covering every day with moments come from them
and equal plain sums of the daily rows; any other range reads the daily and weekly rows. The same
holds after retention and after a site is removed; a database holding moments at version 15 and
then migrated holds the totals the same writes give at version 16.
"""

from __future__ import annotations

import random
import time
from typing import Any

from test_element_weeks import DAY_MS, ELEMENTS, GOALS, SITES, _batches, _traffic

from ctrlens.collector.events import StoredEvent
from ctrlens.collector.storage import Storage, open_database, open_storage
from ctrlens.collector.storage.database import migrations
from ctrlens.collector.storage.goal_moments import MOMENTS as GOAL_MOMENTS
from ctrlens.collector.storage.goal_moments import GoalMoments
from ctrlens.collector.storage.moments import MOMENTS, VariantMoments
from harness import Databases, private_loop

# (all-time table, its daily table, the key besides site and day, the summed columns)
TABLES = (
    ("experiment_moments_total", "experiment_moments", ("element", "variant"), MOMENTS),
    ("experiment_goal_moments_total", "experiment_goal_moments", ("goal", "element", "variant"), GOAL_MOMENTS),
)

Daily = list[tuple[int, str, str, tuple[int, ...]]]  # (day, element, variant, sums)

# Every all-time row, in key order.
TOTALS = {
    total: f"SELECT site, {', '.join(keys)}, {', '.join(columns)} FROM {total} ORDER BY site, {', '.join(keys)}"
    for total, _, keys, columns in TABLES
}


async def _write(storage: Storage, rng: random.Random, waves: list[list[StoredEvent]]) -> None:
    """Each wave in random batches with replays, after the one before. One writer: on PostgreSQL,
    concurrent writers of the same visitors deadlock often enough to exhaust `atomic`'s retries
    now and then, a matter of the write path's lock order, not of these sums."""
    for wave in waves:
        await _batches(storage, rng, wave)


def _traffic_twice(today: int, seed: int, views: int) -> list[list[StoredEvent]]:
    """Two rounds of traffic by the same visitors on the same days: the second round's impressions
    raise N of visitor-days that converted in the first (goal_moments.raise_impressions)."""
    rng = random.Random(seed)
    return [*_traffic(rng, today, views=views), *_traffic(rng, today, tag="again-", views=views)]


async def _assert_totals_sum_days(storage: Storage) -> dict[str, int]:
    """Every all-time row equals its daily rows summed (a plain GROUP BY, every column), with the
    same keys; no daily or all-time row is all zeros. Return the rows per all-time table."""
    found = {}
    for total, daily, keys, columns in TABLES:
        key_list = ", ".join(("site", *keys))
        sums = ", ".join(f"SUM({c})" for c in columns)
        expected = {
            tuple(row[:1 + len(keys)]): tuple(int(v) for v in row[1 + len(keys):])
            for row in await storage.db.fetch(f"SELECT {key_list}, {sums} FROM {daily} GROUP BY {key_list}")
        }
        stored = {
            tuple(row[:1 + len(keys)]): tuple(int(v) for v in row[1 + len(keys):])
            for row in await storage.db.fetch(f"SELECT {key_list}, {', '.join(columns)} FROM {total}")
        }
        assert stored == expected, total
        zero = " AND ".join(f"{c} = 0" for c in columns)
        for table in (total, daily):
            assert await storage.db.fetch(f"SELECT COUNT(*) FROM {table} WHERE {zero}") == [(0,)], table
        found[total] = len(stored)
    return found


async def _daily(storage: Storage, site: str, goal: str | None = None) -> Daily:
    """A site's daily moments rows, or a goal's."""
    if goal is None:
        rows = await storage.db.fetch(
            f"SELECT day, element, variant, {', '.join(MOMENTS)} FROM experiment_moments WHERE site = ?", (site,))
    else:
        rows = await storage.db.fetch(
            f"SELECT day, element, variant, {', '.join(GOAL_MOMENTS)} FROM experiment_goal_moments "
            "WHERE site = ? AND goal = ?", (site, goal))
    return [(int(d), e, v, tuple(int(x) for x in rest)) for d, e, v, *rest in rows]


def _summed(daily: Daily, day_from: int, day_to: int, element: str | None, by_variant: bool) -> list[Any]:
    """`of_days`' answer as a plain Python sum of the daily rows: per (element, variant), or per
    element with variant '', sorted."""
    sums: dict[tuple[str, str], list[int]] = {}
    for day, e, v, m in daily:
        if day_from <= day <= day_to and element in (None, e):
            key = (e, v if by_variant else "")
            sums[key] = [a + b for a, b in zip(sums.get(key, [0] * len(m)), m, strict=True)]
    return sorted(sums.items())


def _moments(daily: Daily, day_from: int, day_to: int, element: str | None = None,
             by_variant: bool = True) -> list[VariantMoments]:
    # Impressions are the second moment: arms without any are left out, as `of_days` does.
    return [VariantMoments(e, v, *m) for (e, v), m in _summed(daily, day_from, day_to, element, by_variant)
            if m[1] > 0]


def _goal_moments(daily: Daily, day_from: int, day_to: int, element: str | None = None) -> list[GoalMoments]:
    return [GoalMoments(e, v, *m) for (e, v), m in _summed(daily, day_from, day_to, element, True)]


async def _sql_moments(storage: Storage, site: str, day_from: int, day_to: int, element: str | None,
                       by_variant: bool) -> list[VariantMoments]:
    """The ranged answer straight from the daily rows, by one GROUP BY."""
    grouped = "element, variant" if by_variant else "element"
    picked = grouped if by_variant else "element, ''"
    only = " AND element = ?" if element is not None else ""
    rows = await storage.db.fetch(
        f"SELECT {picked}, {', '.join(f'SUM({m})' for m in MOMENTS)} FROM experiment_moments "
        f"WHERE site = ? AND day >= ? AND day <= ?{only} "
        f"GROUP BY {grouped} HAVING SUM(impressions) > 0 ORDER BY {grouped}",
        [site, day_from, day_to, *([element] if element is not None else [])],
    )
    return [VariantMoments(e, v, *(int(x) for x in rest)) for e, v, *rest in rows]


async def _sql_goal_moments(storage: Storage, site: str, goal: str, day_from: int, day_to: int,
                            element: str | None) -> list[GoalMoments]:
    only = " AND element = ?" if element is not None else ""
    rows = await storage.db.fetch(
        f"SELECT element, variant, {', '.join(f'SUM({m})' for m in GOAL_MOMENTS)} FROM experiment_goal_moments "
        f"WHERE site = ? AND goal = ? AND day >= ? AND day <= ?{only} "
        "GROUP BY element, variant ORDER BY element, variant",
        [site, goal, day_from, day_to, *([element] if element is not None else [])],
    )
    return [GoalMoments(e, v, *(int(x) for x in rest)) for e, v, *rest in rows]


def _span(daily: Daily) -> tuple[int, int]:
    days = [day for day, *_ in daily]
    return min(days), max(days)


def _covering(first: int, last: int) -> list[tuple[int, int]]:
    return [(first, last), (first - 1, last), (first, last + 2), (first - 40, last + 40), (0, 2**31)]


def _partial(rng: random.Random, first: int, last: int) -> list[tuple[int, int]]:
    """Ranges that miss the first or the last day with moments, or both."""
    middle = rng.randrange(first + 1, last)
    return [(first, last - 1), (first + 1, last), (first - 5, last - 3), (first + 2, last + 5),
            (middle - 9, middle + 9), (middle, middle), (first - 10, first - 1), (last + 1, last + 30)]


async def _assert_reads_equal_sums(storage: Storage, rng: random.Random) -> None:
    """`variant_moments` and `variant_goal_moments`, over ranges that cover every day with moments
    (read from the all-time rows) and ranges that do not (weekly and daily rows), with and without
    an element, per variant and per element: a plain Python sum of the daily rows, and for the
    covering ranges the same as one GROUP BY of the daily rows."""
    for site in SITES:
        daily = await _daily(storage, site)
        first, last = _span(daily)
        assert last - first >= 30
        covering = _covering(first, last)
        for day_from, day_to in [*covering, *_partial(rng, first, last)]:
            for element in (None, *ELEMENTS, "absent"):
                for by_variant in (True, False):
                    read = await storage.variant_moments(site, day_from, day_to, element, by_variant)
                    assert read == _moments(daily, day_from, day_to, element, by_variant), (day_from, day_to)
                    assert all(type(x) is int for m in read for x in m[2:])
                    if (day_from, day_to) in covering:
                        ranged = await _sql_moments(storage, site, day_from, day_to, element, by_variant)
                        assert read == ranged
        assert await storage.variant_moments(site, last, first) == []
        for goal in GOALS:
            goal_daily = await _daily(storage, site, goal)
            first, last = _span(goal_daily)
            covering = _covering(first, last)
            for day_from, day_to in [*covering, *_partial(rng, first, last)]:
                for element in (None, *ELEMENTS, "absent"):
                    read_goal = await storage.variant_goal_moments(site, goal, day_from, day_to, element)
                    assert read_goal == _goal_moments(goal_daily, day_from, day_to, element), (day_from, day_to)
                    assert all(type(x) is int for m in read_goal for x in m[2:])
                    if (day_from, day_to) in covering:
                        assert read_goal == await _sql_goal_moments(storage, site, goal, day_from, day_to, element)
            assert await storage.variant_goal_moments(site, goal, last, first) == []


async def _assert_covering_reads_take_totals(storage: Storage, rng: random.Random) -> None:
    """Which rows each read takes: with every all-time row of one site raised by a mark, a covering
    range answers with the mark, any other range without it; the mark is then taken off."""
    site = SITES[0]
    mark = 1_000_000

    async def shift(by: int) -> None:
        await storage.db.execute(
            "UPDATE experiment_moments_total SET clicks = clicks + ? WHERE site = ?", (by, site))
        await storage.db.execute(
            "UPDATE experiment_goal_moments_total SET conversions = conversions + ? WHERE site = ?", (by, site))

    daily = await _daily(storage, site)
    first, last = _span(daily)
    goal_daily = await _daily(storage, site, GOALS[0])
    goal_first, goal_last = _span(goal_daily)
    await shift(mark)
    try:
        for day_from, day_to in _covering(first, last):
            expected = _moments(daily, day_from, day_to)
            assert await storage.variant_moments(site, day_from, day_to) == [
                m._replace(clicks=m.clicks + mark) for m in expected]
        for day_from, day_to in _partial(rng, first, last):
            assert await storage.variant_moments(site, day_from, day_to) == _moments(daily, day_from, day_to)
        for day_from, day_to in _covering(goal_first, goal_last):
            expected_goal = _goal_moments(goal_daily, day_from, day_to)
            assert await storage.variant_goal_moments(site, GOALS[0], day_from, day_to) == [
                m._replace(conversions=m.conversions + mark) for m in expected_goal]
        for day_from, day_to in _partial(rng, goal_first, goal_last):
            assert await storage.variant_goal_moments(site, GOALS[0], day_from, day_to) == _goal_moments(
                goal_daily, day_from, day_to)
    finally:
        await shift(-mark)


@private_loop
async def test_totals_equal_their_days_through_writes_retention_and_site_removal(fresh_db: str):
    rng = random.Random(16)
    today = int(time.time() * 1000) // DAY_MS
    storage = await open_storage(fresh_db)
    try:
        for site in SITES:
            await storage.add_site(site, site, ["https://shop.example"])
        await _write(storage, rng, _traffic_twice(today, 160, views=500))
        rows = await _assert_totals_sum_days(storage)
        assert rows["experiment_moments_total"] == len(SITES) * len(ELEMENTS) * 2
        assert rows["experiment_goal_moments_total"] >= 30
        # Conversions were credited, and the second round's impressions of the visitor-days
        # they marked went through goal_moments.raise_impressions.
        assert await storage.db.fetch("SELECT COUNT(*) FROM experiment_visitors WHERE converted = 1") != [(0,)]
        await _assert_reads_equal_sums(storage, rng)
        await _assert_covering_reads_take_totals(storage, rng)

        # Retention deletes the ledgers, never the moments: the totals stay, and writes go on.
        before = {total: await storage.db.fetch(query) for total, query in TOTALS.items()}
        await storage.delete_raw_before((today - 20) * DAY_MS)
        assert {total: await storage.db.fetch(query) for total, query in TOTALS.items()} == before
        await _write(storage, rng, _traffic(rng, today, tag="late-", views=200))
        await _assert_totals_sum_days(storage)
        await _assert_reads_equal_sums(storage, rng)

        # A removed site leaves no all-time rows; the other site's are untouched.
        kept = {total: [r for r in await storage.db.fetch(query) if r[0] == SITES[0]]
                for total, query in TOTALS.items()}
        removed = await storage.remove_site(SITES[1])
        assert removed is not None
        for total, *_ in TABLES:
            assert removed[total] > 0
            assert await storage.db.fetch(f"SELECT COUNT(*) FROM {total} WHERE site = ?", (SITES[1],)) == [(0,)]
        assert {total: await storage.db.fetch(query) for total, query in TOTALS.items()} == kept
        await _assert_totals_sum_days(storage)
        assert await storage.variant_moments(SITES[1], 0, 2**31) == []
        assert await storage.variant_goal_moments(SITES[1], GOALS[0], 0, 2**31) == []
    finally:
        await storage.close()


# What a database at version 15 holds of the sites and their moments: the same tables at 16.
COPIED = ("sites", "experiment_visitors", "experiment_goal_visitors", "experiment_moments",
          "experiment_moments_weekly", "experiment_goal_moments")


@private_loop
async def test_version_16_sums_the_moments_of_existing_days(backend: str, databases: Databases):
    """A database holding moments at version 15 and then migrated holds, in its all-time tables,
    exactly what the same writes give at version 16, and goes on keeping them. The write path of
    version 16 needs its tables, so the old database gets the rows of a new one's sites and
    moments, table by table, as test_migrations.py builds its version-1 database."""
    today = int(time.time() * 1000) // DAY_MS
    old_url, new_url = databases.new(backend), databases.new(backend)
    new = await open_storage(new_url)
    try:
        for site in SITES:
            await new.add_site(site, site, ["https://shop.example"])
        await _write(new, random.Random(162), _traffic_twice(today, 161, views=250))
        db = await open_database(old_url)
        try:
            assert await db.migrate(upto=15) == 15
            for table in COPIED:
                rows = await new.db.fetch(f"SELECT * FROM {table}")
                assert rows, table
                await db.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(rows[0]))})", rows)
            assert await db.schema_version() == 15
        finally:
            await db.close()
        migrated = await open_storage(old_url)
        try:
            assert await migrated.db.schema_version() == migrations(migrated.dialect)[-1][0] >= 16
            rows = await _assert_totals_sum_days(migrated)
            assert rows["experiment_moments_total"] > 10 and rows["experiment_goal_moments_total"] > 10
            for total, query in TOTALS.items():
                assert await migrated.db.fetch(query) == await new.db.fetch(query), total
            await _assert_reads_equal_sums(migrated, random.Random(163))
            # And it goes on keeping them.
            await _write(migrated, random.Random(165), _traffic(random.Random(164), today, tag="more-", views=150))
            await _assert_totals_sum_days(migrated)
            await _assert_reads_equal_sums(migrated, random.Random(166))
        finally:
            await migrated.close()
    finally:
        await new.close()
