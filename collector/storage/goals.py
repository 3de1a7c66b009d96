"""Goals: the actions a site wants visitors to take (docs/design.md §1, §3).

A goal needs no definition: a conversion under a new name adds it to the site's list
(`defined` false). Defining one adds a page-path pattern, which the server matches against the
paths of reported page views (storage/funnel.py), and a default value for conversions sent
without one.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from functools import lru_cache

from ctrlens.collector.storage.database import Database, Row

_COLUMNS = "name, path, value, defined, created_at"


@dataclass(frozen=True)
class Goal:
    name: str
    path: str = ""  # a page-path pattern, `*` for any characters: '/thank-you*'; '' for none
    value: float | None = None  # the value of a conversion sent without one
    defined: bool = False  # by the site owner, rather than only seen in a conversion
    created_at: int = 0

    def matches(self, page: str) -> bool:
        return bool(self.path) and path_pattern(self.path).fullmatch(page) is not None


@lru_cache(maxsize=1024)
def path_pattern(pattern: str) -> re.Pattern[str]:
    """`*` stands for any characters (none included); everything else is itself."""
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")))


def goal_of(row: Row) -> Goal:
    name, path, value, defined, created_at = row
    return Goal(name, path, None if value is None else float(value), bool(defined), int(created_at))


class Goals:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def all(self, site: str) -> list[Goal]:
        rows = await self.db.fetch(f"SELECT {_COLUMNS} FROM goals WHERE site = ? ORDER BY name", (site,))
        return [goal_of(row) for row in rows]

    async def define(self, site: str, name: str, path: str = "", value: float | None = None) -> Goal:
        """Define (or redefine) a goal; a goal only seen in conversions becomes defined."""
        now = int(time.time())
        await self.db.execute(
            "INSERT INTO goals (site, name, path, value, defined, created_at) VALUES (?, ?, ?, ?, 1, ?) "
            "ON CONFLICT (site, name) DO UPDATE SET path = excluded.path, value = excluded.value, "
            "defined = 1",
            (site, name, path, value, now),
        )
        rows = await self.db.fetch(f"SELECT {_COLUMNS} FROM goals WHERE site = ? AND name = ?", (site, name))
        return goal_of(rows[0])

    async def delete(self, site: str, name: str) -> bool:
        """Forget a goal's definition and its place in the list; its conversions stay counted
        (and a new conversion under its name lists it again)."""
        rows = await self.db.fetch("SELECT 1 FROM goals WHERE site = ? AND name = ?", (site, name))
        if not rows:
            return False
        await self.db.execute("DELETE FROM goals WHERE site = ? AND name = ?", (site, name))
        return True
