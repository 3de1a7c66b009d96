"""Names seen: the cap on new element, variant, page and account names per site per UTC day
(docs/design.md §3).

A name is *new* on a day when the site did not use it that day or the day before; each site
admits at most its cap of new names per dimension per day, and an event that would bring one
more is turned away as `cardinality` while the rest of its batch is kept. A name in use (seen
today, or yesterday and again today) is always admitted, so a steady site never meets the cap.

The check runs inside the write path's transaction, so its count and its inserts are one
decision. SQLite's write lock makes that exact across processes; on PostgreSQL two collector
processes committing at the same moment may each admit their own batch's new names, so a site
can end a day over its cap by at most one batch of names per extra process. Each process keeps
the names it knows are registered today, so the common batch, made of names already in use,
costs no query at all.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ctrlens.collector.events import StoredEvent
from ctrlens.collector.storage.database import DAY_MS, Connection
from ctrlens.collector.storage.rejections import Rejection

DIMENSIONS = ("element", "variant", "page", "account")
DEFAULT_CAPS = {"element": 1_000, "variant": 100, "page": 1_000, "account": 10_000}
# The site setting holding each dimension's cap: max_new_elements_per_day, and so on.
CAP_SETTINGS = {dimension: f"max_new_{dimension}s_per_day" for dimension in DIMENSIONS}
MAX_CAP = 1_000_000
# The most names a process remembers before it starts over (it then asks the database again).
MAX_REMEMBERED = 2_000_000

_COLUMNS = ("site", "day", "dimension", "name", "fresh")
_KEY = ("site", "day", "dimension", "name")


@dataclass(frozen=True)
class NameCaps:
    """A site's caps on new names per UTC day, one per dimension."""

    caps: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_CAPS))

    @classmethod
    def of(cls, settings: Mapping[str, Any]) -> NameCaps:
        """The caps a site's settings say, the defaults for those it does not set."""
        return cls({d: int(settings.get(CAP_SETTINGS[d], DEFAULT_CAPS[d])) for d in DIMENSIONS})

    def of_dimension(self, dimension: str) -> int:
        return self.caps.get(dimension, DEFAULT_CAPS[dimension])


def cardinality_reason(dimension: str, cap: int) -> str:
    """The 202's reason for an event turned away by the cap on `dimension`."""
    return (
        f"cardinality: more than {cap:,} new {dimension} names today for this site "
        f"(site setting {CAP_SETTINGS[dimension]})"
    )


def event_names(event: StoredEvent) -> Iterator[tuple[str, str]]:
    """(dimension, name) of every name an event brings; '' is no name."""
    if event.element:
        yield "element", event.element
    for name in event.present:
        yield "element", name
    if event.variant:
        yield "variant", event.variant
    if event.page:
        yield "page", event.page
    if event.account:
        yield "account", event.account


@dataclass
class Admission:
    """What one write's check decided; `NamesSeen.remember` learns from it once committed."""

    kept: list[StoredEvent]
    # (site, event_id) of each event turned away, with the 202's reason.
    capped: dict[tuple[str, str], str] = field(default_factory=dict)
    rejections: list[Rejection] = field(default_factory=list)
    registered: list[tuple[str, str, int, str]] = field(default_factory=list)  # site, dimension, day, name


class NamesSeen:
    """The cap's check and this process's memory of the names registered today."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, str, int], set[str]] = {}
        self._remembered = 0

    def _is_known(self, site: str, dimension: str, day: int, name: str) -> bool:
        known = self._known.get((site, dimension, day))
        return known is not None and name in known

    async def admit(
        self, tx: Connection, events: Sequence[StoredEvent], caps: Mapping[str, NameCaps]
    ) -> Admission:
        """Keep the events whose names fit their site's caps; register their names.

        Sites absent from `caps` are not capped (the demo's and the tests' direct writes).
        """
        unknown: dict[tuple[str, str, int], set[str]] = defaultdict(set)
        for e in events:
            if e.site not in caps:
                continue
            day = e.ts_server // DAY_MS
            for dimension, name in event_names(e):
                if not self._is_known(e.site, dimension, day, name):
                    unknown[(e.site, dimension, day)].add(name)
        if not unknown:
            return Admission(list(events))

        admission = Admission([])
        # Per (site, dimension, day): names registered today, names of yesterday, today's count.
        today: dict[tuple[str, str, int], set[str]] = {}
        yesterday: dict[tuple[str, str, int], set[str]] = {}
        fresh_count: dict[tuple[str, str, int], int] = {}
        for group, names in sorted(unknown.items()):
            site, dimension, day = group
            keys = [(site, d, dimension, n) for n in sorted(names) for d in (day, day - 1)]
            rows = await tx.fetch_by_keys("names_seen", _KEY, ("day", "name"), keys)
            today[group] = {n for d, n in rows if d == day}
            yesterday[group] = {n for d, n in rows if d != day}
            if names - today[group] - yesterday[group]:
                counted = await tx.fetch(
                    "SELECT COUNT(*) FROM names_seen WHERE site = ? AND day = ? AND dimension = ? "
                    "AND fresh = 1",
                    (site, day, dimension),
                )
                fresh_count[group] = int(counted[0][0])

        inserts: list[tuple[str, int, str, str, int]] = []
        capped_per_site: dict[str, int] = defaultdict(int)
        for e in events:
            if e.site not in caps:
                admission.kept.append(e)
                continue
            day = e.ts_server // DAY_MS
            brings: dict[tuple[str, str, int], set[str]] = defaultdict(set)
            for dimension, name in event_names(e):
                group = (e.site, dimension, day)
                if group in today and name not in today[group] and not self._is_known(*group, name):
                    brings[group].add(name)
            over = next(
                (
                    group for group, names in brings.items()
                    if fresh_count.get(group, 0) + len(names - yesterday[group])
                    > caps[e.site].of_dimension(group[1])
                ),
                None,
            )
            if over is not None:
                dimension = over[1]
                admission.capped[(e.site, e.event_id)] = cardinality_reason(
                    dimension, caps[e.site].of_dimension(dimension)
                )
                capped_per_site[e.site] += 1
                continue
            for group, names in brings.items():
                site, dimension, day = group
                for name in sorted(names):
                    fresh = name not in yesterday[group]
                    inserts.append((site, day, dimension, name, int(fresh)))
                    fresh_count[group] = fresh_count.get(group, 0) + int(fresh)
                    today[group].add(name)
            admission.kept.append(e)
        if inserts:
            await tx.insert_new("names_seen", _COLUMNS, len(_KEY), inserts)
        admission.rejections = [Rejection(site, "cardinality", n) for site, n in capped_per_site.items()]
        # Everything now registered today is known, found there or inserted just now.
        admission.registered = [
            (site, dimension, day, name)
            for (site, dimension, day), names in today.items()
            for name in names
        ]
        return admission

    def remember(self, admission: Admission) -> None:
        """After the commit: the names registered today need no query again."""
        if not admission.registered:
            return
        if self._remembered + len(admission.registered) > MAX_REMEMBERED:
            self._known.clear()
            self._remembered = 0
        newest = max(day for _, _, day, _ in admission.registered)
        for key in [k for k in self._known if k[2] < newest - 1]:
            self._remembered -= len(self._known.pop(key))
        for site, dimension, day, name in admission.registered:
            known = self._known.setdefault((site, dimension, day), set())
            if name not in known:
                known.add(name)
                self._remembered += 1
