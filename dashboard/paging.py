"""One page of a long table (docs/design.md §4 "Around the numbers"): which rows it shows and the
links to the pages either side, which keep every other parameter of the URL."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode


@dataclass(frozen=True)
class Paging:
    limit: int
    offset: int
    total: int

    @property
    def first(self) -> int:
        """1-based number of the first row shown (0 when none is)."""
        return self.offset + 1 if self.offset < self.total else 0

    @property
    def last(self) -> int:
        return min(self.offset + self.limit, self.total)

    def json(self) -> dict[str, int]:
        return {"total_rows": self.total, "limit": self.limit, "offset": self.offset}

    def links(self, base_url: str, params: Mapping[str, str]) -> dict[str, str | None]:
        """`previous` and `next` page URLs (None at either end)."""

        def at(offset: int) -> str:
            kept = {k: v for k, v in params.items() if k != "offset" and v}
            if offset:
                kept["offset"] = str(offset)
            return f"{base_url}?{urlencode(kept)}" if kept else base_url

        return {
            "previous": at(max(0, self.offset - self.limit)) if self.offset > 0 else None,
            "next": at(self.offset + self.limit) if self.offset + self.limit < self.total else None,
        }
