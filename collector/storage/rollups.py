"""Rollups: what a batch's freshly stored events add to the ledgers and to the rollups.

In the write's transaction (storage.py), this module keeps
- the ledgers, which remember what was counted already: `pageviews` (one row per page view),
  `pageview_elements` (one per element in a page view: at most one impression and one click
  counted per page view) and `visitor_elements` (one per visitor-day and element cell: distinct
  viewers and clickers);
- the rollups the dashboard reads: `rollups` (per site, element, variant, page and UTC hour),
  `breakdowns` (per UTC day and source, device or account), `segments` (per UTC day and every
  filter at once: segments.py) and `pageview_rollups`.

The other rollup tables are kept by database TRIGGERS, in the same transaction, never by Python:
triggers on `rollups` keep `rollups_daily` (schema/*/002_daily_rollups.sql), and triggers on
`rollups_daily` keep `rollups_weekly` (004_weekly_rollups.sql) and `rollups_element_days`
(005_element_days.sql), and triggers on the per-element daily tables keep their weekly sums
(`rollups_element_weeks`, `presence_element_weeks`, `goal_element_weeks`: 014_element_weeks.sql;
the triggers of `rollups_element_days` and `rollups_element_weeks` carry every count of a cell
since 015_element_counts.sql).

Every "first time" decision (first impression of an element in a page view, first click,
first view by a visitor that day) is made by the database (`insert_new`, `set_flags`), so
concurrent writers (several PostgreSQL collectors) can never count the same thing twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from ctrlens.collector.events import DEFAULT_KIND, StoredEvent
from ctrlens.collector.storage import moments
from ctrlens.collector.storage.counts import COUNTS, RollupCounts
from ctrlens.collector.storage.database import DAY, HOUR, Connection
from ctrlens.collector.storage.segments import BatchSegments, campaign_of

PAGEVIEW_COLUMNS = ("site", "pageview", "variant", "page", "hour")
CELL_KEY = ("site", "pageview", "element")
CELL_COLUMNS = (
    *CELL_KEY, "kind", "variant", "page", "account", "source", "device", "visitor", "hour", "clicked",
    "campaign",
)
VISITOR_KEY = ("site", "day", "visitor", "element", "variant", "page")
ROLLUP_KEY = ("site", "element", "variant", "page", "hour")
BREAKDOWN_KEY = ("site", "element", "variant", "day", "dimension", "value")
BREAKDOWN_COUNTS = ("impressions", "clicks", "total_clicks")
PAGEVIEW_ROLLUP_KEY = ("site", "variant", "page", "hour")

RollupKey = tuple[str, str, str, str, int]  # ROLLUP_KEY
BreakdownKey = tuple[str, str, str, int, str, str]  # BREAKDOWN_KEY
ElementInPageView = tuple[str, str]  # (pageview, element)


class Cell(NamedTuple):
    """One pageview_elements row: where an impression and its clicks are counted."""

    kind: str
    variant: str
    page: str
    account: str
    source: str
    device: str
    campaign: str  # utm_campaign of the landing URL (segments.py)
    hour: int
    visitor: str  # last: a cell without it (`cell[:-1]`) is what rollups and breakdowns sum over


def cell_of(e: StoredEvent) -> Cell:
    """The cell a page view's element lands in, fixed by its first event."""
    return Cell(e.kind, e.variant, e.page, e.account, e.source, e.device, campaign_of(e.url),
                e.ts_server // 1000 // HOUR * HOUR, e.visitor)


@dataclass(slots=True)
class ElementView:
    """One element in one page view, as a batch brings it."""

    first: StoredEvent  # fixes the cell
    impression: StoredEvent | None = None  # the first impression, if any
    clicks: int = 0


@dataclass(slots=True)
class BreakdownCounts:
    impressions: int = 0
    clicks: int = 0
    total_clicks: int = 0


class BatchRollup:
    """Turns one batch's freshly inserted events into ledger rows and rollup increments."""

    def __init__(self, tx: Connection, events: Sequence[StoredEvent]) -> None:
        self.tx = tx
        self.events = events
        self.rollups: dict[RollupKey, RollupCounts] = defaultdict(RollupCounts)
        self.kinds: dict[RollupKey, str] = {}
        self.breakdowns: dict[BreakdownKey, BreakdownCounts] = defaultdict(BreakdownCounts)
        self.pageviews: dict[tuple[str, str, str, int], int] = defaultdict(int)  # PAGEVIEW_ROLLUP_KEY
        self.segments = BatchSegments()

    async def apply(self) -> None:
        by_site: dict[str, list[StoredEvent]] = defaultdict(list)
        for e in self.events:
            by_site[e.site].append(e)
        for site, events in by_site.items():
            await self._site(site, events)
        await self._flush()

    async def _site(self, site: str, events: list[StoredEvent]) -> None:
        await self._pageviews(site, events)
        # Page view reports (`pageview` events) count for the page views above, nothing else.
        events = [e for e in events if e.type != "pageview"]
        if not events:
            return
        views: dict[ElementInPageView, ElementView] = {}
        for e in events:
            view = views.get((e.pageview, e.element))
            if view is None:
                view = views[(e.pageview, e.element)] = ElementView(e)
            if e.type == "click":
                view.clicks += 1
            elif view.impression is None:
                view.impression = e
        clicked = {key for key, view in views.items() if view.clicks}

        # A cell this batch creates is inserted with its click already marked and its values
        # known, so only cells that existed before are read back and updated: in the usual
        # batch, where a page view's impression and click arrive together, that is none.
        proposed = {key: cell_of(view.first) for key, view in views.items()}
        new_cells = await self._insert_cells(site, proposed, clicked)
        old_keys = [key for key in views if key not in new_cells]
        cells = {key: proposed[key] for key in new_cells}
        cells.update(await self._cells(site, old_keys))
        newly_clicked = (new_cells & clicked) | await self._mark_clicked(
            site, [key for key in old_keys if key in clicked]
        )

        first_views: list[tuple[ElementInPageView, Cell]] = []
        first_clicks: list[tuple[ElementInPageView, Cell]] = []
        # Counts per element and cell without its visitor: a batch's many page views add up
        # to a few rows here before they reach the rollup and breakdown dictionaries.
        sums: dict[tuple[str, str, str, str, str, str, str, str, int], RollupCounts] = defaultdict(
            RollupCounts
        )
        for key, view in views.items():
            cell = cells[key]
            counts = sums[(key[1], *cell[:-1])]
            if key in new_cells:
                counts.impressions += 1
                counts.via_click += view.impression is None or view.impression.via_click
                first_views.append((key, cell))
            if key in newly_clicked:
                counts.clicks += 1
                first_clicks.append((key, cell))
            counts.total_clicks += view.clicks
        for (element, kind, variant, page, account, source, device, campaign, hour), counts in sums.items():
            rollup_key = (site, element, variant, page, hour)
            self.kinds[rollup_key] = kind
            self.rollups[rollup_key].add(counts)
            day = hour // DAY
            dimensions = [("source", source), ("device", device)]
            if account:  # a page view without an account has no account breakdown
                dimensions.append(("account", account))
            for dimension, value in dimensions:
                breakdown = self.breakdowns[(site, element, variant, day, dimension, value)]
                breakdown.impressions += counts.impressions
                breakdown.clicks += counts.clicks
                breakdown.total_clicks += counts.total_clicks
            self.segments.add(
                (site, day, element, variant, page, source, campaign, device), kind,
                counts.impressions, counts.clicks, counts.total_clicks,
            )
        await self._visitors(site, first_views, first_clicks)
        # Visitor-day moments for clustered variance (docs/design.md §5), from the same counts.
        await moments.apply(self.tx, site, first_views, first_clicks)

    async def _pageviews(self, site: str, events: list[StoredEvent]) -> None:
        """Count each page view once, in the cell of its first event: an impression or click, or
        its report when it brought only presence (storage.py passes the reports last), so the
        split check sees page views whose elements were never seen (docs/design.md §4)."""
        first: dict[str, StoredEvent] = {}
        for e in events:
            first.setdefault(e.pageview, e)
        rows = [(site, pv, e.variant, e.page, e.ts_server // 1000 // HOUR * HOUR) for pv, e in first.items()]
        for _, _, variant, page, hour in await self.tx.insert_new("pageviews", PAGEVIEW_COLUMNS, 2, rows):
            self.pageviews[(site, variant, page, hour)] += 1

    async def _insert_cells(
        self, site: str, proposed: dict[ElementInPageView, Cell], clicked: set[ElementInPageView]
    ) -> set[ElementInPageView]:
        rows = [
            (site, pageview, element, c.kind, c.variant, c.page, c.account, c.source, c.device,
             c.visitor, c.hour, 1 if (pageview, element) in clicked else 0, c.campaign)
            for (pageview, element), c in proposed.items()
        ]
        new = await self.tx.insert_new("pageview_elements", CELL_COLUMNS, len(CELL_KEY), rows)
        return {(row[1], row[2]) for row in new}

    async def _cells(self, site: str, keys: list[ElementInPageView]) -> dict[ElementInPageView, Cell]:
        rows = await self.tx.fetch_by_keys(
            "pageview_elements", CELL_KEY, ("pageview", "element", *Cell._fields),
            [(site, *key) for key in keys],
        )
        return {(row[0], row[1]): Cell(*row[2:]) for row in rows}

    async def _mark_clicked(self, site: str, keys: list[ElementInPageView]) -> set[ElementInPageView]:
        marked = await self.tx.set_flags(
            "pageview_elements", CELL_KEY, "clicked", [(site, *key) for key in keys]
        )
        return {(row[1], row[2]) for row in marked}

    async def _visitors(
        self,
        site: str,
        views: list[tuple[ElementInPageView, Cell]],
        clicks: list[tuple[ElementInPageView, Cell]],
    ) -> None:
        def key(element: str, cell: Cell) -> tuple[int, str, str, str, str]:
            return (cell.hour // DAY, cell.visitor, element, cell.variant, cell.page)

        click_hours: dict[tuple[int, str, str, str, str], int] = {}
        for (_, element), cell in clicks:
            click_hours.setdefault(key(element, cell), cell.hour)
        hours: dict[tuple[int, str, str, str, str], int] = {}
        rows = []
        for (_, element), cell in views:
            k = key(element, cell)
            if k not in hours:
                hours[k] = cell.hour
                rows.append((site, *k, 1 if k in click_hours else 0))
        # As with cells: a visitor row this batch creates carries its click from the start.
        to_update = dict(click_hours)
        columns = (*VISITOR_KEY, "clicked")
        for row in await self.tx.insert_new("visitor_elements", columns, len(VISITOR_KEY), rows):
            k = row[1:6]
            _, visitor, element, variant, page = k
            self.rollups[(site, element, variant, page, hours[k])].viewers += 1
            if k in to_update:
                self.rollups[(site, element, variant, page, to_update.pop(k))].clickers += 1

        marked = await self.tx.set_flags(
            "visitor_elements", VISITOR_KEY, "clicked", [(site, *k) for k in to_update]
        )
        for _, day, visitor, element, variant, page in marked:
            hour = to_update[(day, visitor, element, variant, page)]
            self.rollups[(site, element, variant, page, hour)].clickers += 1

    async def _flush(self) -> None:
        # Sorted keys: concurrent writers lock rollup rows in the same order, so they cannot deadlock.
        rollups = [
            (*key, self.kinds.get(key, DEFAULT_KIND), *counts.values())
            for key, counts in ((key, self.rollups[key]) for key in sorted(self.rollups))
            if any(counts.values())
        ]
        await self.tx.add_counts("rollups", ROLLUP_KEY, COUNTS, rollups, set_columns=("kind",))
        breakdowns = [
            (*key, b.impressions, b.clicks, b.total_clicks)
            for key, b in ((key, self.breakdowns[key]) for key in sorted(self.breakdowns))
            if b.impressions or b.clicks or b.total_clicks
        ]
        await self.tx.add_counts("breakdowns", BREAKDOWN_KEY, BREAKDOWN_COUNTS, breakdowns)
        await self.segments.flush(self.tx)
        pageviews = [(*key, n) for key, n in sorted(self.pageviews.items())]
        await self.tx.add_counts("pageview_rollups", PAGEVIEW_ROLLUP_KEY, ("pageviews",), pageviews)
