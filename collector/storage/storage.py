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
from ctrlens.collector.storage.alerts import AlertChannels, AlertKey, AlertRecord, Alerts
from ctrlens.collector.storage.annotations import Annotation, Annotations
from ctrlens.collector.storage.counts import COUNTS
from ctrlens.collector.storage.database import DAY_MS, Connection, Database
from ctrlens.collector.storage.funnel import FunnelReads, FunnelWrite
from ctrlens.collector.storage.goal_moments import GoalMoments, GoalMomentsReads
from ctrlens.collector.storage.goals import Goal, Goals
from ctrlens.collector.storage.meta import Meta
from ctrlens.collector.storage.moments import Moments, VariantMoments
from ctrlens.collector.storage.names import Admission, NameCaps, NamesSeen
from ctrlens.collector.storage.raw_events import RawEvents, insert_new_events
from ctrlens.collector.storage.reads import Reads
from ctrlens.collector.storage.rejections import Rejection, Rejections, count_rejections
from ctrlens.collector.storage.retention import delete_old_names, delete_raw_before
from ctrlens.collector.storage.rollups import BatchRollup
from ctrlens.collector.storage.salts import Salts
from ctrlens.collector.storage.segments import ANY_SEGMENT, Segment, Segments
from ctrlens.collector.storage.share_links import ShareLink, ShareLinks
from ctrlens.collector.storage.sites import Site, Sites
from ctrlens.collector.storage.users import ApiToken, User, Users


@dataclass
class WriteBatch:
    events: list[StoredEvent] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    # The caps on new names of each site to check (names.py); a site absent here is not capped.
    caps: dict[str, NameCaps] = field(default_factory=dict)
    # Filled by `Storage.write`: the (site, event_id) of the events those caps turned away, with
    # the reason for the sender; they are counted as `cardinality`, not stored.
    capped: dict[tuple[str, str], str] = field(default_factory=dict)


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
        self._goal_moments = GoalMomentsReads(db)
        self._goals = Goals(db)
        self._funnel = FunnelReads(db)
        self._users = Users(db)
        self._share_links = ShareLinks(db)
        self._segments = Segments(db)
        self._alerts = Alerts(db)
        self._names = NamesSeen()
        self._annotations = Annotations(db)

    @property
    def dialect(self) -> str:
        return self.db.dialect

    async def close(self) -> None:
        await self.db.close()

    # -- the write path ---------------------------------------------------------------------

    async def write(self, batch: WriteBatch) -> set[tuple[str, str]]:
        """Store a batch in one transaction; return the (site, event_id) pairs that were new.

        The caps on new names of `batch.caps` are checked in the same transaction (names.py); the
        events they turn away are left in `batch.capped`.
        """
        await self.db.prepare_event_days({e.ts_server // DAY_MS for e in batch.events})

        async def work(tx: Connection) -> tuple[set[tuple[str, str]], Admission]:
            admission = await self._names.admit(tx, batch.events, batch.caps)
            # Page view reports and conversions are not raw events: the funnel keeps them (funnel.py).
            element_events = [e for e in admission.kept if e.type in ELEMENT_TYPES]
            inserted = await insert_new_events(tx, element_events)
            fresh = [e for e in element_events if (e.site, e.event_id) in inserted]
            # Page view reports after the element events: they count page views (rollups.py).
            reports = [e for e in admission.kept if e.type == "pageview"]
            if fresh or reports:
                await BatchRollup(tx, [*fresh, *reports]).apply()
            # The funnel's two ends: presence, page-path goals, conversions and their attribution.
            inserted |= await FunnelWrite(tx, admission.kept, fresh).apply()
            if batch.rejections or admission.rejections:
                await count_rejections(tx, [*batch.rejections, *admission.rejections])
            return inserted, admission

        inserted, admission = await self.db.atomic(work)
        self._names.remember(admission)
        batch.capped = admission.capped
        return inserted

    async def forget_old_names(self) -> int:
        """The caps' record of names seen keeps two days, with or without retention of raw events."""
        return await delete_old_names(self.db)

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

    async def remove_site(self, key: str) -> dict[str, int] | None:
        """Delete a site and all its data in one transaction: rows removed per table, None if unknown."""
        return await self._sites.remove(key)

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

    async def element_pages(
        self, site: str, day_from: int, day_to: int, elements: Sequence[str] | None = None
    ) -> list[tuple[str, str, str]]:
        """(element, page, kind) of every element seen on a page over UTC days [day_from, day_to]."""
        return await self._reads.element_pages(site, day_from, day_to, elements)

    async def element_totals(
        self,
        site: str,
        hour_from: int,
        hour_to: int,
        kind: str | None = None,
        counts: Sequence[str] = COUNTS,
    ) -> list[dict[str, Any]]:
        """`counts` (by default every one of counts.COUNTS) and MAX(kind) per element over
        [hour_from, hour_to), summed over variants and pages, in element order: the keys of
        `element_counts`' rows, read from the narrow per-element tables."""
        return await self._reads.element_totals(site, hour_from, hour_to, kind, counts)

    async def cell_keys(
        self, site: str, hour_from: int, hour_to: int, kind: str | None = None
    ) -> list[tuple[str, str, str]]:
        """The (element, variant, page) cells with impressions in [hour_from, hour_to)."""
        return await self._reads.cell_keys(site, hour_from, hour_to, kind)

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
        elements: Sequence[str] | None = None,
    ) -> list[tuple[str, int, int, int]]:
        """(element, UTC day, impressions, clicks) for [day_from, day_to], in no particular order;
        of `elements` only, when given."""
        return await self._reads.element_days(site, day_from, day_to, kind, variant, page, elements)

    async def element_weeks(
        self,
        site: str,
        week_from: int,
        week_to: int,
        kind: str | None = None,
        variant: str | None = None,
        page: str | None = None,
        elements: Sequence[str] | None = None,
    ) -> list[tuple[str, int, int, int]]:
        """(element, week, impressions, clicks) for weeks [week_from, week_to]; of `elements` only,
        when given."""
        return await self._reads.element_weeks(site, week_from, week_to, kind, variant, page, elements)

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

    async def segment_cells(
        self,
        site: str,
        day_from: int,
        day_to: int,
        segment: Segment,
        kind: str | None = None,
        element: str | None = None,
    ) -> list[dict[str, Any]]:
        """Counts per (element, variant, page) within a segment over UTC days (segments.py)."""
        return await self._segments.cells(site, day_from, day_to, segment, kind, element)

    async def segment_days(
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
        """(element, UTC day, impressions, clicks) within a segment for [day_from, day_to]."""
        return await self._segments.days(site, day_from, day_to, segment, kind, variant, page, elements)

    async def segment_element_days(
        self,
        site: str,
        element: str,
        day_from: int,
        day_to: int,
        segment: Segment,
        variant: str | None = None,
        page: str | None = None,
    ) -> list[tuple[int, int, int, int]]:
        """One element's (UTC day, impressions, clicks, total clicks) within a segment."""
        return await self._segments.element_days(site, element, day_from, day_to, segment, variant, page)

    async def segment_values(
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
        """One element's counts per source, campaign or device within a segment over UTC days."""
        return await self._segments.values(site, element, dimension, day_from, day_to, segment, variant, page)

    async def pageview_counts(self, site: str, hour_from: int, hour_to: int) -> dict[tuple[str, str], int]:
        """Page views per (variant, page) over [hour_from, hour_to)."""
        return await self._reads.pageview_counts(site, hour_from, hour_to)

    async def variant_moments(
        self, site: str, day_from: int, day_to: int, element: str | None = None, by_variant: bool = True
    ) -> list[VariantMoments]:
        """Per (element, variant), or per element without `by_variant`: visitor-day moments over
        UTC days [day_from, day_to] (moments.py)."""
        return await self._moments.of_days(site, day_from, day_to, element, by_variant)

    async def variant_goal_moments(
        self, site: str, goal: str, day_from: int, day_to: int, element: str | None = None
    ) -> list[GoalMoments]:
        """Per (element, variant): a goal's visitor-day moments over UTC days [day_from, day_to]
        (goal_moments.py)."""
        return await self._goal_moments.of_days(site, goal, day_from, day_to, element)

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

    # -- annotations (annotations.py) ---------------------------------------------------------

    async def add_annotation(self, site: str, at: int, day: str, text: str, url: str = "") -> Annotation:
        return await self._annotations.add(site, at, day, text, url)

    async def annotations(self, site: str, limit: int = 1000) -> list[Annotation]:
        """The site's newest notes, newest first."""
        return await self._annotations.of_site(site, limit)

    async def annotations_between(
        self, site: str, at_from: int, at_to: int, first_day: str, last_day: str, limit: int = 200
    ) -> list[Annotation]:
        """Notes at an instant in [at_from, at_to) or on a date in [first_day, last_day], oldest first."""
        return await self._annotations.between(site, at_from, at_to, first_day, last_day, limit)

    async def annotation_count(self, site: str) -> int:
        return await self._annotations.count(site)

    async def delete_annotation(self, site: str, id_: int) -> bool:
        return await self._annotations.delete(site, id_)

    # -- alerts (alerts.py) -------------------------------------------------------------------

    async def alert_channels(self, site: str) -> AlertChannels:
        """Where the site's alerts go (defaults when never set)."""
        return await self._alerts.channels(site)

    async def save_alert_channels(self, site: str, channels: AlertChannels) -> None:
        await self._alerts.save_channels(site, channels)

    async def alert_records(self, site: str) -> dict[AlertKey, AlertRecord]:
        """The alerts of the site that were sent (or partly sent) and have not cleared since."""
        return await self._alerts.records(site)

    async def record_alert(self, site: str, key: AlertKey, record: AlertRecord) -> None:
        await self._alerts.record(site, key, record)

    async def rearm_alerts(self, site: str, keys: list[AlertKey]) -> None:
        await self._alerts.rearm(site, keys)

    async def claim_alert_round(self, now: int, interval: int) -> bool:
        """True for the one process that runs the periodic alert check due at `now` (seconds)."""
        return await self._alerts.claim_round(now, interval)

    # -- users, personal API tokens and share links (users.py, share_links.py) ------------------

    async def add_user(self, name: str, role: str, password_hash: str) -> User | None:
        """The new user, or None if the name is taken."""
        return await self._users.add(name, role, password_hash)

    async def get_user(self, user_id: str) -> User | None:
        return await self._users.get(user_id)

    async def user_named(self, name: str) -> User | None:
        return await self._users.named(name)

    async def list_users(self) -> list[User]:
        return await self._users.all()

    async def remove_user(self, user_id: str) -> bool:
        return await self._users.remove(user_id)

    async def set_user_password(self, user_id: str, password_hash: str) -> None:
        """Also ends every session of the user (a new generation)."""
        await self._users.set_password(user_id, password_hash)

    async def end_user_sessions(self, user_id: str) -> None:
        await self._users.new_generation(user_id)

    async def add_api_token(self, user_id: str, name: str, digest: str) -> ApiToken:
        return await self._users.add_token(user_id, name, digest)

    async def api_tokens(self, user_id: str) -> list[ApiToken]:
        return await self._users.tokens(user_id)

    async def revoke_api_token(self, user_id: str, token_id: str) -> bool:
        return await self._users.revoke_token(user_id, token_id)

    async def api_token_user(self, digest: str) -> tuple[User, ApiToken] | None:
        return await self._users.by_token(digest)

    async def api_token_used(self, token_id: str, now: int) -> None:
        await self._users.token_used(token_id, now)

    async def add_share_link(
        self, site: str, label: str, digest: str, password_hash: str, expires_at: int
    ) -> ShareLink:
        return await self._share_links.add(site, label, digest, password_hash, expires_at)

    async def share_links(self, site: str) -> list[ShareLink]:
        return await self._share_links.of_site(site)

    async def share_link(self, digest: str) -> ShareLink | None:
        return await self._share_links.by_digest(digest)

    async def revoke_share_link(self, site: str, link_id: str) -> bool:
        return await self._share_links.revoke(site, link_id)
