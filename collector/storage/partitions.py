"""PostgreSQL's raw events, partitioned by UTC day (schema/postgres/003_partitioned_events.sql).

Used by the PostgreSQL driver (postgres.py) only; SQLite keeps raw events in one table. Each
UTC day of `events` is a partition, made a week ahead of the writes, so retention drops whole
days instead of deleting rows. A partitioned table's unique key must include its partition
key, which a retried event (a later `ts_server`) would escape, so event ids are kept unique in
the unpartitioned `event_ids` instead, in the same transaction as the events.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence

from ctrlens.collector.storage.database import DAY_MS, Connection, Row, Statements

log = logging.getLogger("ctrlens.storage")

# Partitions are made this many days ahead of the days being written.
PARTITIONS_AHEAD = 7
EVENT_ID_COLUMNS = ("site", "event_id", "day")


class DayPartitions:
    """The day partitions of `events` on one database."""

    def __init__(self, db: Statements) -> None:
        self.db = db
        self._made: set[int] = set()  # days known to have a partition, and the days ahead

    async def ensure(self, days: Collection[int]) -> None:
        """Make the partitions of `days` and of the days ahead of them, outside the write's
        transaction: making one locks the default partition, which every writer needs."""
        for day in sorted(set(days) - self._made):
            try:
                for ahead in range(day, day + PARTITIONS_AHEAD + 1):
                    await self.db.execute("SELECT ctrlens_event_partition(?)", (ahead,))
            except Exception:
                # The write goes on: its rows wait in the default partition until a later
                # attempt makes their day's partition and moves them there.
                log.warning("could not make the raw-event partition of day %d", day, exc_info=True)
                continue
            self._made.add(day)

    async def drop_before(self, ts_ms: int) -> int:
        """Drop the partitions (and ids) of the days before the one holding `ts_ms`; return the
        number of raw events they held."""
        rows = await self.db.fetch("SELECT ctrlens_drop_event_partitions(?)", (ts_ms // DAY_MS,))
        return int(rows[0][0])


async def insert_new_events(tx: Connection, columns: Sequence[str], rows: Sequence[Row]) -> list[Row]:
    """The raw events among `rows` whose (site, event_id) is new, stored; return them.

    The ids go into `event_ids` first (insert-if-new: the database decides which collector's
    copy is new), then only the new events are copied into `events`.
    """
    if not rows:
        return []
    ts_server = list(columns).index("ts_server")
    # Sorted: concurrent collectors take the id rows' locks in the same order.
    ids = sorted(((row[0], row[1], row[ts_server] // DAY_MS) for row in rows), key=lambda id_: id_[:2])
    new_ids = {row[:2] for row in await tx.insert_new("event_ids", EVENT_ID_COLUMNS, 2, ids)}
    fresh: list[Row] = []
    for row in rows:
        if row[:2] in new_ids:
            new_ids.discard(row[:2])
            fresh.append(row)
    await tx.insert_rows("events", columns, fresh)
    return fresh
