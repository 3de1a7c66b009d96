"""Salts: one random salt per UTC day for the visitor hash (docs/design.md §5), shared by every
collector process through the database, deleted after two days. A salt alone is not the hash's
key: collector/privacy.py keys it with a secret that is never stored here."""

from __future__ import annotations

import secrets

from ctrlens.collector.storage.database import Database


class Salts:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def of_day(self, day: int) -> str:
        """The salt of `day`, created on first use; salts older than yesterday are deleted."""
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO salts (day, salt) VALUES (?, ?) ON CONFLICT (day) DO NOTHING",
                (day, secrets.token_hex(32)),
            )
            await tx.execute("DELETE FROM salts WHERE day < ?", (day - 1,))
            rows = await tx.fetch("SELECT salt FROM salts WHERE day = ?", (day,))
        return str(rows[0][0])

    async def days(self) -> list[int]:
        return [row[0] for row in await self.db.fetch("SELECT day FROM salts ORDER BY day")]
