"""Meta: the database's own key/value settings (the admin token's digest, the session secret)."""

from __future__ import annotations

from ctrlens.collector.storage.database import Database


class Meta:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, key: str) -> str | None:
        rows = await self.db.fetch("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    async def set(self, key: str, value: str) -> None:
        await self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    async def default(self, key: str, value: str) -> str:
        """Store `value` under `key` unless one is there; return the stored value."""
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                (key, value),
            )
            rows = await tx.fetch("SELECT value FROM meta WHERE key = ?", (key,))
        return str(rows[0][0])
