"""Annotations: short notes pinned to a moment of a site's charts (docs/design.md §4 "Around the
numbers"), such as a deploy announced by a hook.

A note sits at an instant (`at`, UTC epoch seconds) or on a whole calendar day (`day`,
'YYYY-MM-DD', which the dashboard reads in the site's time zone). The table is keyed by `site`,
so removing a site (sites.py) empties it of the site's notes with every other such table.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from ctrlens.collector.storage.database import Connection, Database, Row

TABLE = "annotations"
_COLUMNS = "id, site, at, day, text, url, created_at"


@dataclass(frozen=True)
class Annotation:
    id: int
    site: str
    at: int  # UTC epoch seconds; for a whole-day note, its date's UTC midnight (for ordering)
    day: str  # 'YYYY-MM-DD' for a whole-day note, '' for a note at an instant
    text: str
    url: str = ""
    created_at: int = 0


def annotation_of(row: Row) -> Annotation:
    id_, site, at, day, text, url, created_at = row
    return Annotation(int(id_), site, int(at), day, text, url, int(created_at))


class Annotations:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, site: str, at: int, day: str, text: str, url: str = "") -> Annotation:
        now = int(time.time())

        async def insert(tx: Connection) -> list[Row]:
            return await tx.fetch(
                f"INSERT INTO {TABLE} (site, at, day, text, url, created_at) VALUES (?, ?, ?, ?, ?, ?) "
                f"RETURNING {_COLUMNS}",
                (site, at, day, text, url, now),
            )

        return annotation_of((await self.db.atomic(insert))[0])

    async def of_site(self, site: str, limit: int) -> list[Annotation]:
        """The newest `limit` notes, newest first."""
        rows = await self.db.fetch(
            f"SELECT {_COLUMNS} FROM {TABLE} WHERE site = ? ORDER BY at DESC, id DESC LIMIT ?", (site, limit)
        )
        return [annotation_of(row) for row in rows]

    async def between(
        self, site: str, at_from: int, at_to: int, first_day: str, last_day: str, limit: int
    ) -> list[Annotation]:
        """Notes at an instant in [at_from, at_to) and whole-day notes on a date in
        [first_day, last_day] ('YYYY-MM-DD' sorts as text), oldest first, at most `limit`."""
        rows = await self.db.fetch(
            f"SELECT {_COLUMNS} FROM {TABLE} WHERE site = ? AND ("
            "(day = '' AND at >= ? AND at < ?) OR (day <> '' AND day >= ? AND day <= ?)"
            ") ORDER BY at, id LIMIT ?",
            (site, at_from, at_to, first_day, last_day, limit),
        )
        return [annotation_of(row) for row in rows]

    async def count(self, site: str) -> int:
        rows = await self.db.fetch(f"SELECT COUNT(*) FROM {TABLE} WHERE site = ?", (site,))
        return int(rows[0][0])

    async def delete(self, site: str, id_: int) -> bool:
        async def remove(tx: Connection) -> list[Row]:
            return await tx.fetch(f"DELETE FROM {TABLE} WHERE site = ? AND id = ? RETURNING id", (site, id_))

        return bool(await self.db.atomic(remove))
