"""`Storage`: the one object the rest of ctrlens stores and reads through, over any backend.

It holds one object per concept (sites.py, meta.py, salts.py, raw_events.py, rejections.py,
reads.py) on its `Database` and hands each call to the one that owns it. Its own work is the
write path (docs/design.md §5): a batch of accepted events becomes raw rows, ledger rows and
rollups (rollups.py) in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ctrlens.collector.events import ELEMENT_TYPES, StoredEvent
from ctrlens.collector.storage.database import DAY_MS, Connection, Database
from ctrlens.collector.storage.funnel import FunnelReads, FunnelWrite
from ctrlens.collector.storage.goals import Goal, Goals
from ctrlens.collector.storage.meta import Meta
from ctrlens.collector.storage.moments import Moments, VariantMoments
from ctrlens.collector.storage.raw_events import RawEvents, insert_new_events
from ctrlens.collector.storage.reads import Reads
from ctrlens.collector.storage.rejections import Rejection, Rejections, count_rejections
from ctrlens.collector.storage.retention import delete_raw_before
from ctrlens.collector.storage.rollups import BatchRollup
from ctrlens.collector.storage.salts import Salts
from ctrlens.collector.storage.sites import Site, Sites


@dataclass
class WriteBatch:
    events: list[StoredEvent] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)


class Storage:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._meta = Meta(db)
        self._sites = Sites(db)
        self._salts = Salts(db)
        self._raw_events = RawEvents(db)
        self._rejections = Rejections(db)
        self._reads = Reads(db)
        self._moments = Moments(db)
        self._goals = Goals(db)
        self._funnel = FunnelReads(db)

    @property
    def dialect(self) -> str:
        return self.db.dialect

    async def close(self) -> None:
        await self.db.close()

    # -- the write path ---------------------------------------------------------------------

    async def write(self, batch: WriteBatch) -> set[tuple[str, str]]:
        """Store a batch in one transaction; return the (site, event_id) pairs that were new."""
        await self.db.prepare_event_days({e.ts_server // DAY_MS for e in batch.events})

        # Page view reports and conversions are not raw events: the funnel keeps them (funnel.py).
        element_events = [e for e in batch.events if e.type in ELEMENT_TYPES]

        async def work(tx: Connection) -> set[tuple[str, str]]:
            inserted = await insert_new_events(tx, element_events)
            fresh = [e for e in element_events if (e.site, e.event_id) in inserted]
            if fresh:
                await BatchRollup(tx, fresh).apply()
            # The funnel's two ends: presence, page-path goals, conversions and their attribution.
            inserted |= await FunnelWrite(tx, batch.events, fresh).apply()
            if batch.rejections:
                await count_rejections(tx, batch.rejections)
            return inserted

        return await self.db.atomic(work)

    async def delete_raw_before(self, ts_ms: int) -> int:
        """Retention: drop raw events and per-page-view ledgers older than `ts_ms`; keep rollups.

        PostgreSQL drops whole days: the partitions of the days before the one holding `ts_ms`.
        Returns the number of raw events dropped.
        """
        return await delete_raw_before(self.db, ts_ms)

    # -- meta, sites, salts -----------------------------------------------------------------

    async def get_meta(self, key: str) -> str | None:
        return await self._meta.get(key)

    async def set_meta(self, key: str, value: str) -> None:
        await self._meta.set(key, value)

    async def meta_default(self, key: str, value: str) -> str:
        """Store `value` under `key` unless one is there; return the stored value."""
        return await self._meta.default(key, value)

    async def add_site(
        self, key: str, name: str, origins: Sequence[str], settings: dict[str, Any] | None = None
    ) -> Site:
        return await self._sites.add(key, name, origins, settings)

    async def update_site(
        self,
        key: str,
        *,
        name: str | None = None,
        origins: Sequence[str] | None = None,
        settings: dict[str, Any] | None = None,
    ) -> Site | None:
        return await self._sites.update(key, name=name, origins=origins, settings=settings)

    async def get_site(self, key: str) -> Site | None:
        return await self._sites.get(key)

    async def list_sites(self) -> list[Site]:
        return await self._sites.all()

    async def salt(self, day: int) -> str:
        """The salt of `day`, created on first use; salts older than yesterday are deleted."""
        return await self._salts.of_day(day)

    async def salt_days(self) -> list[int]:
        return await self._salts.days()

    # -- the read path: rollups -------------------------------------------------------------

    async def element_cells(
        self, site: str, hour_from: int, hour_to: int, kind: str | None = None, element: str | None = None
    ) -> list[dict[str, Any]]:
        """Counts per (element, variant, page) over [hour_from, hour_to): the overview's raw material."""
        return await self._reads.element_cells(site, hour_from, hour_to, kind, element)

    async def element_totals(
        self, site: str, hour_from: int, hour_to: int, kind: str | None = None
    ) -> list[dict[str, Any]]:
        """Impressions and clicks per element over [hour_from, hour_to), summed over variants and pages."""
        return await self._reads.element_totals(site, hour_from, hour_to, kind)

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
        return await self._reads.element_counts(site, hour_from, hour_to, group, kind, variant, page)

    async def element_days(
        self,
        site: str,
        day_from: int,
        day_to: int,
        kind: str | None = None,
        variant: str | None = None,
        page: str | None = None,
    ) -> list[tuple[str, int, int, int]]:
        """(element, UTC day, impressions, clicks) for [day_from, day_to], in no particular order."""
        return await self._reads.element_days(site, day_from, day_to, kind, variant, page)

    async def element_weeks(
        self,
        site: str,
        week_from: int,
        week_to: int,
        kind: str | None = None,
        variant: str | None = None,
        page: str | None = None,
    ) -> list[tuple[str, int, int, int]]:
        """(element, week, impressions, clicks) for weeks [week_from, week_to]."""
        return await self._reads.element_weeks(site, week_from, week_to, kind, variant, page)

    async def element_hours(
        self,
        site: str,
        element: str,
        hour_from: int,
        hour_to: int,
        variant: str | None = None,
        page: str | None = None,
    ) -> list[dict[str, int]]:
        """One element's counts per UTC hour with any activity."""
        return await self._reads.element_hours(site, element, hour_from, hour_to, variant, page)

    async def breakdown_counts(
        self,
        site: str,
        element: str,
        dimension: str,
        day_from: int,
        day_to: int,
        variant: str | None = None,
    ) -> list[dict[str, Any]]:
        """One element's counts per value of `dimension` (source, device, account) over UTC days."""
        return await self._reads.breakdown_counts(site, element, dimension, day_from, day_to, variant)

    async def account_counts(
        self,
        site: str,
        day_from: int,
        day_to: int,
        element: str | None = None,
        variant: str | None = None,
    ) -> list[dict[str, Any]]:
        """Counts per (element, account) over UTC days [day_from, day_to]."""
        return await self._reads.account_counts(site, day_from, day_to, element, variant)

    async def pageview_counts(self, site: str, hour_from: int, hour_to: int) -> dict[tuple[str, str], int]:
        """Page views per (variant, page) over [hour_from, hour_to)."""
        return await self._reads.pageview_counts(site, hour_from, hour_to)

    async def variant_moments(
        self, site: str, day_from: int, day_to: int, element: str | None = None
    ) -> list[VariantMoments]:
        """Per (element, variant): visitor-day moments over UTC days [day_from, day_to] (moments.py)."""
        return await self._moments.of_days(site, day_from, day_to, element)

    async def first_moments_day(self, site: str) -> int | None:
        """The first UTC day with visitor-day moments, if any."""
        return await self._moments.first_day(site)

    async def experiment_pageviews(self, site: str, day_from: int, day_to: int) -> dict[tuple[str, str], int]:
        """Page views per (variant, page) over UTC days [day_from, day_to] (moments.py)."""
        return await self._moments.pageviews_of_days(site, day_from, day_to)

    async def last_active_hour(self, site: str) -> int | None:
        return await self._reads.last_active_hour(site)

    # -- rejections and raw events ----------------------------------------------------------

    async def rejection_counts(self, site: str, day_from: int = 0, day_to: int = 2**31) -> dict[str, int]:
        return await self._rejections.counts(site, day_from, day_to)

    async def rejected_samples(self, site: str, limit: int = 20) -> list[dict[str, Any]]:
        return await self._rejections.samples(site, limit)

    async def recent_event_count(self, site: str, since_ms: int) -> int:
        """Raw events stored since `since_ms` (server time): "is the tag sending?"."""
        return await self._raw_events.recent_count(site, since_ms)

    async def raw_events(self, site: str, limit: int = 100_000) -> list[dict[str, Any]]:
        """A site's raw events, oldest first: for checking the rollups against them."""
        return await self._raw_events.of_site(site, limit)

    async def recount(self, site: str) -> dict[str, dict[str, int]]:
        """Element totals recomputed from raw events alone, to check the rollups against."""
        return await self._raw_events.recount(site)

    # -- the funnel: presence, goals, conversions (funnel.py, goals.py) -----------------------

    async def goals(self, site: str) -> list[Goal]:
        """The site's goals: those defined and those only seen in conversions, by name."""
        return await self._goals.all(site)

    async def define_goal(self, site: str, name: str, path: str = "", value: float | None = None) -> Goal:
        return await self._goals.define(site, name, path, value)

    async def delete_goal(self, site: str, name: str) -> bool:
        return await self._goals.delete(site, name)

    async def presence(
        self,
        site: str,
        hour_from: int,
        hour_to: int,
        keys: Sequence[str] = ("element",),
        element: str | None = None,
        variant: str | None = None,
        page: str | None = None,
    ) -> dict[tuple[str, ...], int]:
        """Page views with the element present over [hour_from, hour_to), per `keys`."""
        return await self._funnel.presence(site, hour_from, hour_to, keys, element, variant, page)

    async def goal_counts(
        self,
        site: str,
        goal: str,
        hour_from: int,
        hour_to: int,
        keys: Sequence[str] = ("element",),
        element: str | None = None,
        variant: str | None = None,
        page: str | None = None,
    ) -> dict[tuple[str, ...], tuple[int, int, float]]:
        """(conversions, assisted, value) of `goal` per `keys` (element '' = credited to none):
        per element and variant, what the variants' comparison needs."""
        return await self._funnel.goal_counts(site, goal, hour_from, hour_to, keys, element, variant, page)

    async def goal_accounts(
        self, site: str, goal: str, day_from: int, day_to: int, element: str | None = None,
        variant: str | None = None,
    ) -> dict[tuple[str, str], tuple[int, float]]:
        """(conversions, value) of `goal` per (element, account) over UTC days."""
        return await self._funnel.goal_accounts(site, goal, day_from, day_to, element, variant)

    async def element_kinds(self, site: str, elements: Sequence[str]) -> dict[str, str]:
        return await self._funnel.kinds(site, elements)

    async def conversions(self, site: str, limit: int = 1000) -> list[dict[str, Any]]:
        """A site's conversions with their attribution, oldest first."""
        return await self._funnel.conversions(site, limit)
