"""Raw events: each accepted event stored once per (site, event_id) (docs/design.md §5), and
read back to check the rollups against, or to see whether a site's tag is sending."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ctrlens.collector.events import STORED_COLUMNS, StoredEvent
from ctrlens.collector.storage.database import Connection, Database, Row


def event_row(e: StoredEvent) -> Row:
    """An event as a row of STORED_COLUMNS."""
    return (
        e.site, e.event_id, e.pageview, e.type, e.element, e.kind, e.variant, e.account, e.page,
        e.url, e.referrer, e.source, e.device, e.visitor, int(e.via_click), e.ts_client,
        e.ts_server,
    )


async def insert_new_events(tx: Connection, events: Sequence[StoredEvent]) -> set[tuple[str, str]]:
    """Store the events whose id is new to their site; return their (site, event_id) pairs."""
    new = await tx.insert_new_events(STORED_COLUMNS, [event_row(e) for e in events])
    return {(row[0], row[1]) for row in new}


class RawEvents:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def recent_count(self, site: str, since_ms: int) -> int:
        """Raw events stored since `since_ms` (server time): "is the tag sending?"."""
        rows = await self.db.fetch(
            "SELECT COUNT(*) FROM events WHERE ts_server >= ? AND site = ?", (since_ms, site)
        )
        return int(rows[0][0])

    async def of_site(self, site: str, limit: int = 100_000) -> list[dict[str, Any]]:
        rows = await self.db.fetch(
            f"SELECT {', '.join(STORED_COLUMNS)} FROM events WHERE site = ? "
            "ORDER BY ts_server, ts_client, event_id LIMIT ?",
            (site, limit),
        )
        return [dict(zip(STORED_COLUMNS, row, strict=True)) for row in rows]

    async def recount(self, site: str) -> dict[str, dict[str, int]]:
        """Element totals recomputed from raw events alone, to check the rollups against."""
        rows = await self.db.fetch(
            "SELECT element, COUNT(*), SUM(clicked), SUM(n_clicks) FROM ("
            "  SELECT element, pageview,"
            "    MAX(CASE WHEN type = 'click' THEN 1 ELSE 0 END) AS clicked,"
            "    SUM(CASE WHEN type = 'click' THEN 1 ELSE 0 END) AS n_clicks"
            "  FROM events WHERE site = ? GROUP BY element, pageview"
            ") per_pageview GROUP BY element",
            (site,),
        )
        return {
            element: {"impressions": int(i), "clicks": int(c), "total_clicks": int(t)}
            for element, i, c, t in rows
        }
