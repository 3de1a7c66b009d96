"""Storage: one interface (`Storage`) over SQLite or PostgreSQL (`open_storage`).

`storage.py` assembles it from one module per concept: `sites`, `meta`, `salts`, `raw_events`,
`rejections`, `rollups` (the write path's counting), `reads` (the dashboard's queries) with the
pure `ranges` and `counts`, and `retention`. `database.py` says what a driver does; `sqlite.py`
and `postgres.py` (with `partitions.py`, its day partitions) are the two drivers.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from ctrlens.collector.storage.database import Database
from ctrlens.collector.storage.rejections import Rejection
from ctrlens.collector.storage.share_links import ShareLink
from ctrlens.collector.storage.sites import Site
from ctrlens.collector.storage.storage import Storage, WriteBatch
from ctrlens.collector.storage.users import ApiToken, User

__all__ = [
    "ApiToken", "Database", "Rejection", "ShareLink", "Site", "Storage", "User", "WriteBatch",
    "is_postgres_url", "open_database", "open_storage", "redacted",
]


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgres://", "postgresql://"))


def redacted(url: str) -> str:
    """The database for a log line: a postgresql:// URL without its password."""
    if not is_postgres_url(url):
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


async def open_database(url: str) -> Database:
    """The backend driver for `url` (a file path or a postgresql:// URL), opened, not migrated."""
    if is_postgres_url(url):
        from ctrlens.collector.storage.postgres import PostgresDatabase

        return await PostgresDatabase(url).open()
    from ctrlens.collector.storage.sqlite import SQLiteDatabase

    return await SQLiteDatabase(url).open()


async def open_storage(url: str, migrate: bool = True) -> Storage:
    """Open the database at `url` (a file path or a postgresql:// URL) and migrate it."""
    db = await open_database(url)
    if migrate:
        await db.migrate()
    return Storage(db)
