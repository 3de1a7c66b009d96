"""Every SQL statement ctrlens runs, over any `Database` backend.

The write path turns a batch of accepted events into raw rows plus rollups inside one
transaction; the read path answers the dashboard from rollups only.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ctrlens.collector.events import STORED_COLUMNS, StoredEvent
from ctrlens.collector.storage.database import (
    Connection, Database, chunks, flatten, keys_in, placeholders, transact,
)
from ctrlens.collector.storage.reads import ReadQueries

log = logging.getLogger("ctrlens.storage")

HOUR = 3600
DAY = 86400
DAY_MS = DAY * 1000
# PostgreSQL: day partitions of raw events are made this many days ahead of the writes.
PARTITIONS_AHEAD = 7
MAX_SAMPLES_PER_SITE = 100
# SQLite retention: rows deleted per transaction.
RETENTION_CHUNK = 10_000


@dataclass(frozen=True)
class Site:
    key: str
    name: str
    origins: tuple[str, ...]
    settings: dict[str, Any]
    created_at: int

    def allows_origin(self, origin: str) -> bool:
        return origin.rstrip("/").lower() in {o.rstrip("/").lower() for o in self.origins}


@dataclass
class Rejection:
    site: str
    reason: str
    count: int = 1
    sample: str | None = None


@dataclass
class WriteBatch:
    events: list[StoredEvent] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)


_CELL_KEY = ("site", "pageview", "element")
_CELL_COLUMNS = (
    *_CELL_KEY, "kind", "variant", "page", "account", "source", "device", "visitor", "hour", "clicked",
)
_VISITOR_KEY = ("site", "day", "visitor", "element", "variant", "page")


class _Cell(NamedTuple):
    """One pageview_elements row: where an impression and its clicks are counted."""

    kind: str
    variant: str
    page: str
    account: str
    source: str
    device: str
    hour: int
    visitor: str  # last: a cell without it (`cell[:-1]`) is what rollups and breakdowns sum over


# PostgreSQL partitions `events` by day, so ids are kept unique in `event_ids` (schema 003);
# arrays keep this one statement whatever the batch size.
_EVENT_ID_INSERT = (
    "INSERT INTO event_ids (site, event_id, day) "
    "SELECT * FROM unnest(CAST(? AS TEXT[]), CAST(? AS TEXT[]), CAST(? AS BIGINT[])) "
    "ON CONFLICT (site, event_id) DO NOTHING RETURNING site, event_id"
)


class Storage(ReadQueries):
    def __init__(self, db: Database) -> None:
        self.db = db
        self._partition_days: set[int] = set()  # PostgreSQL: days known to have a partition

    @property
    def dialect(self) -> str:
        return self.db.dialect

    async def close(self) -> None:
        await self.db.close()

    # -- meta -------------------------------------------------------------------------------

    async def get_meta(self, key: str) -> str | None:
        rows = await self.db.fetch("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    async def set_meta(self, key: str, value: str) -> None:
        await self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    async def meta_default(self, key: str, value: str) -> str:
        """Store `value` under `key` unless one is there; return the stored value."""
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                (key, value),
            )
            rows = await tx.fetch("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0]

    # -- sites ------------------------------------------------------------------------------

    async def add_site(
        self, key: str, name: str, origins: Sequence[str], settings: dict[str, Any] | None = None
    ) -> Site:
        site = Site(key, name, tuple(origins), dict(settings or {}), int(time.time()))
        await self.db.execute(
            "INSERT INTO sites (key, name, origins, settings, created_at) VALUES (?, ?, ?, ?, ?)",
            (key, name, json.dumps(list(origins)), json.dumps(site.settings), site.created_at),
        )
        return site

    async def update_site(
        self,
        key: str,
        *,
        name: str | None = None,
        origins: Sequence[str] | None = None,
        settings: dict[str, Any] | None = None,
    ) -> Site | None:
        current = await self.get_site(key)
        if current is None:
            return None
        await self.db.execute(
            "UPDATE sites SET name = ?, origins = ?, settings = ? WHERE key = ?",
            (
                name if name is not None else current.name,
                json.dumps(list(origins if origins is not None else current.origins)),
                json.dumps(settings if settings is not None else current.settings),
                key,
            ),
        )
        return await self.get_site(key)

    async def get_site(self, key: str) -> Site | None:
        rows = await self.db.fetch(
            "SELECT key, name, origins, settings, created_at FROM sites WHERE key = ?", (key,)
        )
        return _site(rows[0]) if rows else None

    async def list_sites(self) -> list[Site]:
        rows = await self.db.fetch(
            "SELECT key, name, origins, settings, created_at FROM sites ORDER BY key"
        )
        return [_site(row) for row in rows]

    # -- salts ------------------------------------------------------------------------------

    async def salt(self, day: int) -> str:
        """The salt of `day`, created on first use; salts older than yesterday are deleted."""
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO salts (day, salt) VALUES (?, ?) ON CONFLICT (day) DO NOTHING",
                (day, secrets.token_hex(32)),
            )
            await tx.execute("DELETE FROM salts WHERE day < ?", (day - 1,))
            rows = await tx.fetch("SELECT salt FROM salts WHERE day = ?", (day,))
        return rows[0][0]

    async def salt_days(self) -> list[int]:
        return [row[0] for row in await self.db.fetch("SELECT day FROM salts ORDER BY day")]

    # -- the write path ---------------------------------------------------------------------

    async def write(self, batch: WriteBatch) -> set[tuple[str, str]]:
        """Store a batch in one transaction; return the (site, event_id) pairs that were new."""
        if self.dialect == "postgres":
            await self._ensure_partitions(batch.events)

        async def work(tx: Connection) -> set[tuple[str, str]]:
            inserted = await self._insert_events(tx, batch.events)
            fresh = [e for e in batch.events if (e.site, e.event_id) in inserted]
            if fresh:
                await _Rollup(tx, fresh).apply()
            if batch.rejections:
                await self._count_rejections(tx, batch.rejections)
            return inserted

        atomic = getattr(self.db, "atomic", None)
        if atomic is not None:  # SQLite: the whole transaction in one trip to its thread
            return await atomic(work)  # type: ignore[no-any-return]
        # Run again from the start if PostgreSQL aborts it for a concurrent collector's sake.
        return await transact(self.db, work)

    async def _ensure_partitions(self, events: Sequence[StoredEvent]) -> None:
        days = {e.ts_server // DAY_MS for e in events} - self._partition_days
        for day in sorted(days):
            try:
                for ahead in range(day, day + PARTITIONS_AHEAD + 1):
                    await self.db.execute("SELECT ctrlens_event_partition(?)", (ahead,))
            except Exception:
                # The write goes on: its rows wait in the default partition until a later
                # attempt makes their day's partition and moves them there.
                log.warning("could not make the raw-event partition of day %d", day, exc_info=True)
                continue
            self._partition_days.add(day)

    async def _insert_events(
        self, tx: Connection, events: Sequence[StoredEvent]
    ) -> set[tuple[str, str]]:
        if self.dialect == "postgres":
            return await self._insert_partitioned_events(tx, events)
        rows = [_event_row(e) for e in events]
        new = await _insert_new(tx, "events", STORED_COLUMNS, 2, rows)
        return {(row[0], row[1]) for row in new}

    async def _insert_partitioned_events(
        self, tx: Connection, events: Sequence[StoredEvent]
    ) -> set[tuple[str, str]]:
        if not events:
            return set()
        # Sorted: concurrent collectors take the id rows' locks in the same order.
        ordered = sorted(events, key=lambda e: (e.site, e.event_id))
        rows = await tx.fetch(
            _EVENT_ID_INSERT,
            (
                [e.site for e in ordered],
                [e.event_id for e in ordered],
                [e.ts_server // DAY_MS for e in ordered],
            ),
        )
        inserted = {(site, event_id) for site, event_id in rows}
        fresh = [_event_row(e) for e in events if (e.site, e.event_id) in inserted]
        await tx.copy("events", STORED_COLUMNS, fresh)  # type: ignore[attr-defined]
        return inserted

    async def _count_rejections(self, tx: Connection, rejections: Sequence[Rejection]) -> None:
        now = int(time.time())
        day = now // DAY
        counts: dict[tuple[str, str], int] = defaultdict(int)
        for r in rejections:
            counts[(r.site, r.reason)] += r.count
        rows = sorted((site, day, reason, n) for (site, reason), n in counts.items())
        await tx.execute(
            f"INSERT INTO rejections (site, day, reason, count) VALUES {placeholders(len(rows), 4)} "
            "ON CONFLICT (site, day, reason) DO UPDATE SET count = rejections.count + excluded.count",
            flatten(rows),
        )
        samples = [(r.site, now * 1000, r.reason, r.sample) for r in rejections if r.sample]
        if samples:
            await tx.executemany(
                "INSERT INTO rejected_samples (site, ts, reason, payload) VALUES (?, ?, ?, ?)",
                samples,
            )
            for site in {s[0] for s in samples}:
                await tx.execute(
                    "DELETE FROM rejected_samples WHERE site = ? AND id NOT IN "
                    "(SELECT id FROM rejected_samples WHERE site = ? ORDER BY id DESC LIMIT ?)",
                    (site, site, MAX_SAMPLES_PER_SITE),
                )

    async def delete_raw_before(self, ts_ms: int) -> int:
        """Retention: drop raw events and per-page-view ledgers older than `ts_ms`; keep rollups.

        PostgreSQL drops whole days: the partitions of the days before the one holding `ts_ms`.
        Returns the number of raw events dropped.
        """
        old = _older_than(ts_ms)
        if self.dialect != "postgres":
            return await self._delete_in_chunks(old)
        # Partitions are dropped, not emptied row by row (schema/postgres/003).
        rows = await self.db.fetch("SELECT ctrlens_drop_event_partitions(?)", (ts_ms // DAY_MS,))
        async with self.db.transaction() as tx:
            for table, condition, bound in old[1:]:  # the ledgers; events went with their partitions
                await tx.execute(f"DELETE FROM {table} WHERE {condition}", (bound,))
        return int(rows[0][0])

    async def _delete_in_chunks(self, old: list[tuple[str, str, int]]) -> int:
        """SQLite has one writer: a transaction per RETENTION_CHUNK rows lets the group commit
        in between, where one transaction for a first pass over months of events would hold
        up every batch for as long as it takes. Returns the raw events deleted."""
        dropped = 0
        for table, condition, bound in old:
            while True:
                async with self.db.transaction() as tx:
                    deleted = len(await tx.fetch(
                        f"DELETE FROM {table} WHERE rowid IN "
                        f"(SELECT rowid FROM {table} WHERE {condition} LIMIT ?) RETURNING 1",
                        (bound, RETENTION_CHUNK),
                    ))
                dropped += deleted if table == "events" else 0
                if deleted < RETENTION_CHUNK:
                    break
        return dropped


def _older_than(ts_ms: int) -> list[tuple[str, str, int]]:
    """(table, condition, bound) of what retention deletes: raw events first, then the ledgers."""
    hour = ts_ms // 1000 // HOUR * HOUR
    return [
        ("events", "ts_server < ?", ts_ms),
        ("pageview_elements", "hour < ?", hour),
        ("pageviews", "hour < ?", hour),
        ("visitor_elements", "day < ?", hour // DAY),
    ]


async def _insert_new(
    tx: Connection, table: str, columns: Sequence[str], key: int, rows: Sequence[tuple[Any, ...]]
) -> list[tuple[Any, ...]]:
    """Insert the rows whose key (their first `key` columns) `table` does not hold yet; return them.

    The database decides (ON CONFLICT DO NOTHING RETURNING), so concurrent writers cannot both
    count the same row as new. A key twice in `rows`: the first row is the one stored.
    """
    names = ", ".join(columns[:key])
    new: list[tuple[Any, ...]] = []
    for part in chunks(rows):
        inserted = {
            tuple(row)
            for row in await tx.fetch(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
                f"{placeholders(len(part), len(columns))} ON CONFLICT ({names}) "
                f"DO NOTHING RETURNING {names}",
                flatten(part),
            )
        }
        for row in part:
            if row[:key] in inserted:
                inserted.discard(row[:key])
                new.append(row)
    return new


def _site(row: tuple[Any, ...]) -> Site:
    key, name, origins, settings, created_at = row
    return Site(key, name, tuple(json.loads(origins)), json.loads(settings), int(created_at))


def _event_row(e: StoredEvent) -> tuple[Any, ...]:
    return (
        e.site, e.event_id, e.pageview, e.type, e.element, e.kind, e.variant, e.account, e.page,
        e.url, e.referrer, e.source, e.device, e.visitor, int(e.via_click), e.ts_client,
        e.ts_server,
    )


class _Rollup:
    """Turns freshly inserted events into ledger rows and rollup increments.

    Every "first time" decision (first impression of an element in a page view, first click,
    first view by a visitor that day) is made by the database with ON CONFLICT DO NOTHING /
    UPDATE ... WHERE clicked = 0 RETURNING, so concurrent writers (several PostgreSQL
    collectors) can never count the same thing twice.
    """

    def __init__(self, tx: Connection, events: Sequence[StoredEvent]) -> None:
        self.tx = tx
        self.events = events
        self.rollups: dict[tuple[str, str, str, str, int], list[int]] = defaultdict(
            lambda: [0, 0, 0, 0, 0, 0]  # impressions, via_click, clicks, total_clicks, viewers, clickers
        )
        self.kinds: dict[tuple[str, str, str, str, int], str] = {}
        self.breakdowns: dict[tuple[str, str, str, int, str, str], list[int]] = defaultdict(
            lambda: [0, 0, 0]  # impressions, clicks, total_clicks
        )
        self.pageviews: dict[tuple[str, str, str, int], int] = defaultdict(int)

    async def apply(self) -> None:
        by_site: dict[str, list[StoredEvent]] = defaultdict(list)
        for e in self.events:
            by_site[e.site].append(e)
        for site, events in by_site.items():
            await self._site(site, events)
        await self._flush()

    async def _site(self, site: str, events: list[StoredEvent]) -> None:
        await self._pageviews(site, events)
        # Per (page view, element): its first event (which fixes the cell), its first
        # impression, and its number of clicks.
        groups: dict[tuple[str, str], list[Any]] = {}
        for e in events:
            group = groups.get((e.pageview, e.element))
            if group is None:
                group = groups[(e.pageview, e.element)] = [e, None, 0]
            if e.type == "click":
                group[2] += 1
            elif group[1] is None:
                group[1] = e
        clicked = {key for key, group in groups.items() if group[2]}

        # A cell this batch creates is inserted with its click already marked and its values
        # known, so only cells that existed before are read back and updated: in the usual
        # batch, where a page view's impression and click arrive together, that is none.
        proposed = {key: _cell(group[0]) for key, group in groups.items()}
        new_cells = await self._insert_cells(site, proposed, clicked)
        old_keys = [key for key in groups if key not in new_cells]
        cells = {key: proposed[key] for key in new_cells}
        cells.update(await self._cells(site, old_keys))
        newly_clicked = (new_cells & clicked) | await self._mark_clicked(
            site, [key for key in old_keys if key in clicked]
        )

        first_views: list[tuple[tuple[str, str], _Cell]] = []
        first_clicks: list[tuple[tuple[str, str], _Cell]] = []
        # Counts per element and cell without its visitor: a batch's many page views add up
        # to a few rows here before they reach the rollup and breakdown dictionaries.
        sums: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        for key, (_, impression, n_clicks) in groups.items():
            cell = cells[key]
            counts = sums[(key[1], *cell[:-1])]
            if key in new_cells:
                counts[0] += 1
                counts[1] += impression is None or impression.via_click
                first_views.append((key, cell))
            if key in newly_clicked:
                counts[2] += 1
                first_clicks.append((key, cell))
            counts[3] += n_clicks
        for (element, kind, variant, page, account, source, device, hour), counts in sums.items():
            views, via_click, clicks, total_clicks = counts
            rollup_key = (site, element, variant, page, hour)
            self.kinds[rollup_key] = kind
            roll = self.rollups[rollup_key]
            roll[0] += views
            roll[1] += via_click
            roll[2] += clicks
            roll[3] += total_clicks
            day = hour // DAY
            dimensions = [("source", source), ("device", device)]
            if account:  # a page view without an account has no account breakdown
                dimensions.append(("account", account))
            for dimension, value in dimensions:
                breakdown = self.breakdowns[(site, element, variant, day, dimension, value)]
                breakdown[0] += views
                breakdown[1] += clicks
                breakdown[2] += total_clicks
        await self._visitors(site, first_views, first_clicks)

    async def _pageviews(self, site: str, events: list[StoredEvent]) -> None:
        first: dict[str, StoredEvent] = {}
        for e in events:
            first.setdefault(e.pageview, e)
        rows = [(site, pv, e.variant, e.page, e.ts_server // 1000 // HOUR * HOUR) for pv, e in first.items()]
        columns = ("site", "pageview", "variant", "page", "hour")
        for _, _, variant, page, hour in await _insert_new(self.tx, "pageviews", columns, 2, rows):
            self.pageviews[(site, variant, page, hour)] += 1

    async def _insert_cells(
        self, site: str, proposed: dict[tuple[str, str], _Cell], clicked: set[tuple[str, str]]
    ) -> set[tuple[str, str]]:
        rows = [
            (site, pageview, element, c.kind, c.variant, c.page, c.account, c.source, c.device,
             c.visitor, c.hour, 1 if (pageview, element) in clicked else 0)
            for (pageview, element), c in proposed.items()
        ]
        new = await _insert_new(self.tx, "pageview_elements", _CELL_COLUMNS, 3, rows)
        return {(row[1], row[2]) for row in new}

    # Lookups by key name the whole primary key, site included, in the row values (keys_in):
    # with a separate `site = ?`, PostgreSQL may trust a stale estimate of the site's rows (a
    # new site looks tiny until the next ANALYZE) and scan all of them for every value.

    async def _cells(self, site: str, keys: list[tuple[str, str]]) -> dict[tuple[str, str], _Cell]:
        cells: dict[tuple[str, str], _Cell] = {}
        for part in chunks(keys):
            where, params = keys_in(_CELL_KEY, [(site, *key) for key in part])
            for row in await self.tx.fetch(
                f"SELECT pageview, element, {', '.join(_Cell._fields)} FROM pageview_elements "
                f"WHERE {where}",
                params,
            ):
                cells[(row[0], row[1])] = _Cell(*row[2:])
        return cells

    async def _mark_clicked(self, site: str, keys: list[tuple[str, str]]) -> set[tuple[str, str]]:
        marked: set[tuple[str, str]] = set()
        for part in chunks(keys):
            where, params = keys_in(_CELL_KEY, [(site, *key) for key in part])
            for pageview, element in await self.tx.fetch(
                f"UPDATE pageview_elements SET clicked = 1 WHERE clicked = 0 AND {where} "
                "RETURNING pageview, element",
                params,
            ):
                marked.add((pageview, element))
        return marked

    async def _visitors(
        self,
        site: str,
        views: list[tuple[tuple[str, str], _Cell]],
        clicks: list[tuple[tuple[str, str], _Cell]],
    ) -> None:
        def key(element: str, cell: _Cell) -> tuple[Any, ...]:
            return (cell.hour // DAY, cell.visitor, element, cell.variant, cell.page)

        click_hours: dict[tuple[Any, ...], int] = {}
        for (_, element), cell in clicks:
            click_hours.setdefault(key(element, cell), cell.hour)
        hours: dict[tuple[Any, ...], int] = {}
        rows = []
        for (_, element), cell in views:
            k = key(element, cell)
            if k not in hours:
                hours[k] = cell.hour
                rows.append((site, *k, 1 if k in click_hours else 0))
        # As with cells: a visitor row this batch creates carries its click from the start.
        to_update = dict(click_hours)
        columns = (*_VISITOR_KEY, "clicked")
        for row in await _insert_new(self.tx, "visitor_elements", columns, 6, rows):
            k = row[1:6]
            _, visitor, element, variant, page = k
            self.rollups[(site, element, variant, page, hours[k])][4] += 1
            if k in to_update:
                self.rollups[(site, element, variant, page, to_update.pop(k))][5] += 1

        click_keys = list(to_update)
        # PostgreSQL types a bare `?` in VALUES as text; the cast keeps `day` a number on both.
        typed = "(?,CAST(? AS BIGINT),?,?,?,?)"
        for part in chunks(click_keys):
            where, params = keys_in(_VISITOR_KEY, [(site, *key) for key in part], typed)
            for day, visitor, element, variant, page in await self.tx.fetch(
                f"UPDATE visitor_elements SET clicked = 1 WHERE clicked = 0 AND {where} "
                "RETURNING day, visitor, element, variant, page",
                params,
            ):
                hour = to_update[(day, visitor, element, variant, page)]
                self.rollups[(site, element, variant, page, hour)][5] += 1

    async def _flush(self) -> None:
        # Sorted keys: concurrent writers lock rollup rows in the same order, so they cannot deadlock.
        rows = [
            (*key, self.kinds.get(key, "banner"), *counts)
            for key, counts in sorted(self.rollups.items())
            if any(counts)
        ]
        for part in chunks(rows):
            await self.tx.execute(
                "INSERT INTO rollups (site, element, variant, page, hour, kind, impressions, "
                "via_click, clicks, total_clicks, viewers, clickers) VALUES "
                f"{placeholders(len(part), 12)} ON CONFLICT (site, element, variant, page, hour) "
                "DO UPDATE SET kind = excluded.kind, "
                "impressions = rollups.impressions + excluded.impressions, "
                "via_click = rollups.via_click + excluded.via_click, "
                "clicks = rollups.clicks + excluded.clicks, "
                "total_clicks = rollups.total_clicks + excluded.total_clicks, "
                "viewers = rollups.viewers + excluded.viewers, "
                "clickers = rollups.clickers + excluded.clickers",
                flatten(part),
            )
        rows = [(*key, *counts) for key, counts in sorted(self.breakdowns.items()) if any(counts)]
        for part in chunks(rows):
            await self.tx.execute(
                "INSERT INTO breakdowns (site, element, variant, day, dimension, value, "
                f"impressions, clicks, total_clicks) VALUES {placeholders(len(part), 9)} "
                "ON CONFLICT (site, element, variant, day, dimension, value) DO UPDATE SET "
                "impressions = breakdowns.impressions + excluded.impressions, "
                "clicks = breakdowns.clicks + excluded.clicks, "
                "total_clicks = breakdowns.total_clicks + excluded.total_clicks",
                flatten(part),
            )
        rows = [(*key, n) for key, n in sorted(self.pageviews.items())]
        for part in chunks(rows):
            await self.tx.execute(
                "INSERT INTO pageview_rollups (site, variant, page, hour, pageviews) VALUES "
                f"{placeholders(len(part), 5)} ON CONFLICT (site, variant, page, hour) DO UPDATE "
                "SET pageviews = pageview_rollups.pageviews + excluded.pageviews",
                flatten(part),
            )


def _cell(e: StoredEvent) -> _Cell:
    """The cell a page view's element lands in, fixed by its first event."""
    return _Cell(e.kind, e.variant, e.page, e.account, e.source, e.device,
                 e.ts_server // 1000 // HOUR * HOUR, e.visitor)
