"""Rejections: events turned away, counted per site, UTC day and reason, with the last few
rejected payloads kept as samples (docs/design.md §3)."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ctrlens.collector.storage.database import DAY, Connection, Database

MAX_SAMPLES_PER_SITE = 100


@dataclass
class Rejection:
    site: str
    reason: str
    count: int = 1
    sample: str | None = None


async def count_rejections(tx: Connection, rejections: Sequence[Rejection]) -> None:
    """Add rejections to today's counts, inside the write's transaction."""
    now = int(time.time())
    day = now // DAY
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for r in rejections:
        counts[(r.site, r.reason)] += r.count
    rows = sorted((site, day, reason, n) for (site, reason), n in counts.items())
    await tx.add_counts("rejections", ("site", "day", "reason"), ("count",), rows)
    samples = [(r.site, now * 1000, r.reason, r.sample) for r in rejections if r.sample]
    if samples:
        await tx.executemany(
            "INSERT INTO rejected_samples (site, ts, reason, payload) VALUES (?, ?, ?, ?)", samples
        )
        for site in {s[0] for s in samples}:
            await tx.execute(
                "DELETE FROM rejected_samples WHERE site = ? AND id NOT IN "
                "(SELECT id FROM rejected_samples WHERE site = ? ORDER BY id DESC LIMIT ?)",
                (site, site, MAX_SAMPLES_PER_SITE),
            )


class Rejections:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def counts(self, site: str, day_from: int = 0, day_to: int = 2**31) -> dict[str, int]:
        rows = await self.db.fetch(
            "SELECT reason, SUM(count) FROM rejections WHERE site = ? AND day >= ? AND day <= ? "
            "GROUP BY reason ORDER BY reason",
            (site, day_from, day_to),
        )
        return {reason: int(n) for reason, n in rows}

    async def samples(self, site: str, limit: int = 20) -> list[dict[str, Any]]:
        rows = await self.db.fetch(
            "SELECT ts, reason, payload FROM rejected_samples WHERE site = ? ORDER BY id DESC LIMIT ?",
            (site, limit),
        )
        return [{"ts": ts, "reason": reason, "payload": payload} for ts, reason, payload in rows]
