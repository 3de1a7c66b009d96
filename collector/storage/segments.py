"""Segments: element counts per UTC day and every value the overview filters by at once (traffic
source, `utm_campaign`, device class, with variant and page), docs/design.md §4 "Around the
numbers".

`breakdowns` keeps one dimension per row, so it cannot answer "source = news AND device =
mobile". `segments` keeps them all in one key, per (site, UTC day, element, variant, page,
source, campaign, device), with the three counts a page view gives: an impression, a click,
every click. It is written in the write's transaction next to `breakdowns` (rollups.py hands
each batch's sums to `BatchSegments`). Distinct visitors and the funnel are not kept per
segment: the dashboard shows those columns as not available while such a filter is on.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ctrlens.collector.storage.counts import CELL_KEYS, COUNTS
from ctrlens.collector.storage.database import Connection, Database
from ctrlens.collector.storage.reads import filtered

SEGMENT_KEY = ("site", "day", "element", "variant", "page", "source", "campaign", "device")
SEGMENT_COUNTS = ("impressions", "clicks", "total_clicks")
#: The values a segment filter narrows by, beyond variant and page (which the rollups answer).
SEGMENT_FILTERS = ("source", "campaign", "device")
MAX_CAMPAIGN = 128

SegmentKey = tuple[str, int, str, str, str, str, str, str]  # SEGMENT_KEY


def campaign_of(url: str) -> str:
    """The landing URL's `utm_campaign`, trimmed and lower-cased as `utm_source` is
    (privacy.traffic_source); '' without one."""
    if "utm_campaign" not in url:
        return ""
    values = parse_qs(urlsplit(url).query).get("utm_campaign")
    return values[0].strip()[:MAX_CAMPAIGN].lower() if values else ""


@dataclass(frozen=True)
class Segment:
    """The segment filters of a read: None is "any"; '' is "none recorded" (a campaign)."""

    source: str | None = None
    campaign: str | None = None
    device: str | None = None

    @property
    def active(self) -> bool:
        return any(value is not None for value in (self.source, self.campaign, self.device))

    def items(self) -> list[tuple[str, str | None]]:
        return [("source", self.source), ("campaign", self.campaign), ("device", self.device)]


ANY_SEGMENT = Segment()


class BatchSegments:
    """What one batch adds to `segments`."""

    def __init__(self) -> None:
        self.counts: dict[SegmentKey, list[int]] = defaultdict(lambda: [0, 0, 0])
        self.kinds: dict[SegmentKey, str] = {}

    def add(self, key: SegmentKey, kind: str, impressions: int, clicks: int, total_clicks: int) -> None:
        counts = self.counts[key]
        counts[0] += impressions
        counts[1] += clicks
        counts[2] += total_clicks
        self.kinds[key] = kind

    async def flush(self, tx: Connection) -> None:
        # Sorted keys, as for every rollup: concurrent writers lock rows in one order.
        rows = [
            (*key, self.kinds[key], *self.counts[key]) for key in sorted(self.counts) if any(self.counts[key])
        ]
        await tx.add_counts("segments", SEGMENT_KEY, SEGMENT_COUNTS, rows, set_columns=("kind",))


def _where(
    site: str,
    day_from: int,
    day_to: int,
    filters: Sequence[tuple[str, str | None]],
    elements: Sequence[str] | None = None,
) -> tuple[str, list[Any]]:
    # Column names come from SEGMENT_KEY, never a request.
    conditions, params = filtered(
        ["site = ?", "day >= ?", "day <= ?"], [site, day_from, day_to], filters, elements
    )
    return " AND ".join(conditions), params


class Segments:
    """The overview's reads when a segment filter is on, over UTC days [day_from, day_to]."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def cells(
        self,
        site: str,
        day_from: int,
        day_to: int,
        segment: Segment,
        kind: str | None = None,
        element: str | None = None,
    ) -> list[dict[str, Any]]:
        """Counts per (element, variant, page) like `Reads.element_cells`; the counts segments do
        not keep (via_click, viewers, clickers) are 0."""
        where, params = _where(
            site, day_from, day_to, [*segment.items(), ("kind", kind), ("element", element)]
        )
        rows = await self.db.fetch(
            "SELECT element, variant, page, MAX(kind), SUM(impressions), SUM(clicks), SUM(total_clicks) "
            f"FROM segments WHERE {where} GROUP BY element, variant, page "
            "HAVING SUM(impressions) > 0 ORDER BY element, variant, page",
            params,
        )
        cells = []
        for element_, variant, page, kind_, impressions, clicks, total_clicks in rows:
            cell: dict[str, Any] = dict(
                zip((*CELL_KEYS, "kind"), (element_, variant, page, kind_), strict=True)
            )
            cell.update(dict.fromkeys(COUNTS, 0))
            cell.update(impressions=int(impressions), clicks=int(clicks), total_clicks=int(total_clicks))
            cells.append(cell)
        return cells

    async def days(
        self,
        site: str,
        day_from: int,
        day_to: int,
        segment: Segment,
        kind: str | None = None,
        variant: str | None = None,
        page: str | None = None,
        elements: Sequence[str] | None = None,
    ) -> list[tuple[str, int, int, int]]:
        """(element, UTC day, impressions, clicks) for [day_from, day_to]: sparklines (of
        `elements` only, when given)."""
        where, params = _where(
            site, day_from, day_to,
            [*segment.items(), ("kind", kind), ("variant", variant), ("page", page)], elements,
        )
        rows = await self.db.fetch(
            f"SELECT element, day, SUM(impressions), SUM(clicks) FROM segments WHERE {where} "
            "GROUP BY day, element",
            params,
        )
        return [(element, int(day), int(i), int(c)) for element, day, i, c in rows]

    async def element_days(
        self,
        site: str,
        element: str,
        day_from: int,
        day_to: int,
        segment: Segment,
        variant: str | None = None,
        page: str | None = None,
    ) -> list[tuple[int, int, int, int]]:
        """One element's (UTC day, impressions, clicks, total clicks) within the segment, by day:
        the element page's time chart under a segment filter."""
        where, params = _where(
            site, day_from, day_to,
            [*segment.items(), ("element", element), ("variant", variant), ("page", page)],
        )
        rows = await self.db.fetch(
            f"SELECT day, SUM(impressions), SUM(clicks), SUM(total_clicks) FROM segments WHERE {where} "
            "GROUP BY day ORDER BY day",
            params,
        )
        return [(int(day), int(i), int(c), int(t)) for day, i, c, t in rows]

    async def values(
        self,
        site: str,
        element: str,
        dimension: str,
        day_from: int,
        day_to: int,
        segment: Segment = ANY_SEGMENT,
        variant: str | None = None,
        page: str | None = None,
    ) -> list[dict[str, Any]]:
        """One element's counts per value of `dimension` (one of SEGMENT_FILTERS), within the
        segment: the element page's campaign breakdown, and any breakdown under a segment filter."""
        if dimension not in SEGMENT_FILTERS:
            raise ValueError(f"not a segment dimension: {dimension!r}")
        where, params = _where(
            site, day_from, day_to,
            [*segment.items(), ("element", element), ("variant", variant), ("page", page)],
        )
        rows = await self.db.fetch(
            f"SELECT {dimension}, SUM(impressions), SUM(clicks), SUM(total_clicks) FROM segments "
            f"WHERE {where} GROUP BY {dimension} ORDER BY {dimension}",
            params,
        )
        return [
            {"value": value, "impressions": int(i), "clicks": int(c), "total_clicks": int(t)}
            for value, i, c, t in rows
        ]
