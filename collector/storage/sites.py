"""Sites: a key, a display name, the origins whose events it accepts, and its settings."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ctrlens.collector.storage.database import Connection, Database, Row

_COLUMNS = "key, name, origins, settings, created_at"

# Every table that holds a `site` column, read from the catalog when a site is removed, so a table
# added by a later schema version is emptied too. The catalog is the one thing the dialects name
# differently; PostgreSQL's day partitions go with their parent table.
_SITE_TABLES = {
    "sqlite": "SELECT m.name FROM sqlite_master m JOIN pragma_table_info(m.name) c "
    "WHERE m.type = 'table' AND c.name = 'site' ORDER BY m.name",
    "postgres": "SELECT c.relname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid "
    "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE a.attname = 'site' AND NOT a.attisdropped "
    "AND c.relkind IN ('r', 'p') AND NOT c.relispartition AND n.nspname = current_schema() "
    "ORDER BY c.relname",
}


@dataclass(frozen=True)
class Site:
    key: str
    name: str
    origins: tuple[str, ...]
    settings: dict[str, Any]
    created_at: int

    def allows_origin(self, origin: str) -> bool:
        return origin.rstrip("/").lower() in {o.rstrip("/").lower() for o in self.origins}


class Sites:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(
        self, key: str, name: str, origins: Sequence[str], settings: dict[str, Any] | None = None
    ) -> Site:
        site = Site(key, name, tuple(origins), dict(settings or {}), int(time.time()))
        await self.db.execute(
            f"INSERT INTO sites ({_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
            (key, name, json.dumps(list(origins)), json.dumps(site.settings), site.created_at),
        )
        return site

    async def update(
        self,
        key: str,
        *,
        name: str | None = None,
        origins: Sequence[str] | None = None,
        settings: dict[str, Any] | None = None,
    ) -> Site | None:
        current = await self.get(key)
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
        return await self.get(key)

    async def remove(self, key: str) -> dict[str, int] | None:
        """Delete the site and every row of every table keyed by it, in one transaction; return
        the tables emptied of it, or None for an unknown site."""

        async def work(tx: Connection) -> dict[str, int] | None:
            if not await tx.fetch("SELECT 1 FROM sites WHERE key = ?", (key,)):
                return None
            tables = [str(row[0]) for row in await tx.fetch(_SITE_TABLES[self.db.dialect])]
            counts: dict[str, int] = {}
            for table in tables:
                # Names come from the catalog, never from a request; quoted all the same.
                quoted = '"' + table.replace('"', '""') + '"'
                rows = await tx.fetch(f"SELECT COUNT(*) FROM {quoted} WHERE site = ?", (key,))
                await tx.execute(f"DELETE FROM {quoted} WHERE site = ?", (key,))
                counts[table] = int(rows[0][0])
            await tx.execute("DELETE FROM sites WHERE key = ?", (key,))
            return counts

        return await self.db.atomic(work)

    async def get(self, key: str) -> Site | None:
        rows = await self.db.fetch(f"SELECT {_COLUMNS} FROM sites WHERE key = ?", (key,))
        return _site(rows[0]) if rows else None

    async def all(self) -> list[Site]:
        rows = await self.db.fetch(f"SELECT {_COLUMNS} FROM sites ORDER BY key")
        return [_site(row) for row in rows]


def _site(row: Row) -> Site:
    key, name, origins, settings, created_at = row
    return Site(key, name, tuple(json.loads(origins)), json.loads(settings), int(created_at))
