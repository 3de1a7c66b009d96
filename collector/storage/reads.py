"""The read path: every query the dashboard, the API and the CLI run. Rollups only, except
`raw_events` and `recount`, which exist to check the rollups against the raw events."""

from __future__ import annotations

from typing import Any

from collector.events import STORED_COLUMNS
from collector.storage.database import Database


class ReadQueries:
    db: Database

    # -- the read path ----------------------------------------------------------------------

    async def element_counts(
        self,
        site: str,
        hour_from: int,
        hour_to: int,
        group: str = "none",
        kind: str | None = None,
        variant: str | None = None,
        page: str | None = None,
    ) -> list[dict[str, Any]]:
        """Counts per element (and per variant or page when grouped) over [hour_from, hour_to)."""
        extra = {"none": [], "variant": ["variant"], "page": ["page"]}[group]
        where = ["site = ?", "hour >= ?", "hour < ?"]
        params: list[Any] = [site, hour_from, hour_to]
        for column, value in (("kind", kind), ("variant", variant), ("page", page)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        keys = ", ".join(["element", *extra])
        rows = await self.db.fetch(
            f"SELECT {keys}, MAX(kind), SUM(impressions), SUM(clicks), SUM(total_clicks), "
            f"SUM(viewers), SUM(clickers), SUM(via_click) FROM rollups "
            f"WHERE {' AND '.join(where)} GROUP BY {keys} ORDER BY {keys}",
            params,
        )
        names = ["element", *extra, "kind", "impressions", "clicks", "total_clicks", "viewers",
                 "clickers", "via_click"]
        return [
            {name: (int(v) if name not in ("element", "variant", "page", "kind") else v)
             for name, v in zip(names, row)}
            for row in rows
        ]

    async def raw_events(self, site: str, limit: int = 100_000) -> list[dict[str, Any]]:
        rows = await self.db.fetch(
            f"SELECT {', '.join(STORED_COLUMNS)} FROM events WHERE site = ? "
            "ORDER BY ts_server, ts_client, event_id LIMIT ?",
            (site, limit),
        )
        return [dict(zip(STORED_COLUMNS, row)) for row in rows]

    async def rejection_counts(self, site: str, day_from: int = 0, day_to: int = 2**31) -> dict[str, int]:
        rows = await self.db.fetch(
            "SELECT reason, SUM(count) FROM rejections WHERE site = ? AND day >= ? AND day <= ? "
            "GROUP BY reason ORDER BY reason",
            (site, day_from, day_to),
        )
        return {reason: int(n) for reason, n in rows}

    async def rejected_samples(self, site: str, limit: int = 20) -> list[dict[str, Any]]:
        rows = await self.db.fetch(
            "SELECT ts, reason, payload FROM rejected_samples WHERE site = ? ORDER BY id DESC LIMIT ?",
            (site, limit),
        )
        return [{"ts": ts, "reason": reason, "payload": payload} for ts, reason, payload in rows]

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

