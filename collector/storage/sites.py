"""Sites: a key, a display name, the origins whose events it accepts, and its settings."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ctrlens.collector.storage.database import Database, Row

_COLUMNS = "key, name, origins, settings, created_at"


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

    async def get(self, key: str) -> Site | None:
        rows = await self.db.fetch(f"SELECT {_COLUMNS} FROM sites WHERE key = ?", (key,))
        return _site(rows[0]) if rows else None

    async def all(self) -> list[Site]:
        rows = await self.db.fetch(f"SELECT {_COLUMNS} FROM sites ORDER BY key")
        return [_site(row) for row in rows]


def _site(row: Row) -> Site:
    key, name, origins, settings, created_at = row
    return Site(key, name, tuple(json.loads(origins)), json.loads(settings), int(created_at))
