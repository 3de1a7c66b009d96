"""Storage: one interface (`Storage`) over SQLite or PostgreSQL (`open_storage`)."""

from __future__ import annotations

from collector.storage.storage import Rejection, Site, Storage, WriteBatch

__all__ = ["Rejection", "Site", "Storage", "WriteBatch", "open_storage", "is_postgres_url"]


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgres://", "postgresql://"))


async def open_storage(url: str, migrate: bool = True) -> Storage:
    """Open the database at `url` (a file path or a postgresql:// URL) and migrate it."""
    if is_postgres_url(url):
        from collector.storage.postgres import PostgresDatabase

        db = await PostgresDatabase(url).open()
    else:
        from collector.storage.sqlite import SQLiteDatabase

        db = await SQLiteDatabase(url).open()
    if migrate:
        await db.migrate()
    return Storage(db)
