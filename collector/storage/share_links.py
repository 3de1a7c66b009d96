"""Share links: read-only links to one site's dashboard (docs/design.md §4 "Access").

The link's token is never stored, only its SHA-256; an optional password only as the hash
dashboard/share.py makes. Revoking deletes the row, so a revoked link is unknown (404) and an
expired one is still found (410, "expired").
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from ctrlens.collector.storage.database import Database, Row

_COLUMNS = "id, site, label, password, expires_at, created_at"


@dataclass(frozen=True)
class ShareLink:
    id: str
    site: str
    label: str
    password: str  # an argon2id hash, '' for none
    expires_at: int  # epoch seconds
    created_at: int

    def expired(self, now: float) -> bool:
        return now >= self.expires_at


def _link(row: Row) -> ShareLink:
    id_, site, label, password, expires_at, created_at = row
    return ShareLink(id_, site, label, password, int(expires_at), int(created_at))


class ShareLinks:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, site: str, label: str, digest: str, password: str, expires_at: int) -> ShareLink:
        link = ShareLink(secrets.token_hex(8), site, label, password, expires_at, int(time.time()))
        await self.db.execute(
            "INSERT INTO share_links (id, site, label, digest, password, expires_at, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (link.id, site, label, digest, password, expires_at, link.created_at),
        )
        return link

    async def of_site(self, site: str) -> list[ShareLink]:
        rows = await self.db.fetch(
            f"SELECT {_COLUMNS} FROM share_links WHERE site = ? ORDER BY created_at, id", (site,)
        )
        return [_link(row) for row in rows]

    async def by_digest(self, digest: str) -> ShareLink | None:
        rows = await self.db.fetch(f"SELECT {_COLUMNS} FROM share_links WHERE digest = ?", (digest,))
        return _link(rows[0]) if rows else None

    async def revoke(self, site: str, link_id: str) -> bool:
        rows = await self.db.fetch("SELECT 1 FROM share_links WHERE id = ? AND site = ?", (link_id, site))
        await self.db.execute("DELETE FROM share_links WHERE id = ? AND site = ?", (link_id, site))
        return bool(rows)
