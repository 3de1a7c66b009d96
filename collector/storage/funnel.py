"""The element funnel in storage: present -> seen -> clicked -> converted (docs/design.md §1-§3).

Impressions and clicks are the raw events and rollups of storage.py and rollups.py; this module
keeps the two ends of the funnel, in the same transaction (`FunnelWrite`, called by
`Storage.write`), and reads them back (`FunnelReads`):

- `funnel_pageviews`: one row per page view: its visitor of that day, its page and hour (fixed by
  its first event) and the elements present in it, so each counts once, into `presence_rollups` (and
  `presence_daily`, by trigger). An impression or click of an element its page view's report did
  not name marks it present too (docs/design.md §3, "Presence"). A new page view is matched
  against the site's page-path goals. One row per page view, not per element: the write path
  inserts a few rows per request, not one per element present;
- `visitor_clicks`: the click ledger, the last click per visitor-day and element;
- `conversions`: one row per goal per page view with its attribution (attribution.py) and the
  visitor-day of its credited click, into `goal_rollups` (and `goal_daily`, by trigger),
  `goal_accounts` and the goal moments of clustered variance (goal_moments.py).

Page view reports and conversions are not raw events: these ledgers are their record, and
make a repeated report or conversion count once, as a repeated event id does.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ctrlens.collector.events import StoredEvent
from ctrlens.collector.storage import goal_moments
from ctrlens.collector.storage.attribution import Click, Credit, attribute, window_ms
from ctrlens.collector.storage.database import DAY, HOUR, Connection, Database, Row
from ctrlens.collector.storage.goals import Goal, goal_of
from ctrlens.collector.storage.ranges import plan_range

PAGEVIEW_COLUMNS = ("site", "pageview", "visitor", "variant", "page", "account", "hour", "present")
PRESENCE_KEY = ("site", "element", "variant", "page", "hour")
CLICK_KEY = ("site", "visitor", "element")
CLICK_VALUES = ("variant", "page", "account", "ts_server", "ts_client", "hour")
CONVERSION_COLUMNS = (
    "site", "pageview", "goal", "visitor", "value", "element", "assisted", "variant", "page", "account",
    "ts_server", "ts_client", "hour", "click_visitor", "click_day", "click_variant",
)
GOAL_KEY = ("site", "goal", "element", "variant", "page", "hour")
GOAL_COUNTS = ("conversions", "assisted", "value")
GOAL_ACCOUNT_KEY = ("site", "goal", "element", "variant", "day", "account")
GOAL_COLUMNS = ("site", "name", "path", "value", "defined", "created_at")

Cell = tuple[str, str, str, int]  # element, variant, page, hour
# Separates the names of `funnel_pageviews.present`: a control character, which names never hold.
NAMES_SEPARATOR = "\x1f"


def hour_of(ts_ms: int) -> int:
    return ts_ms // 1000 // HOUR * HOUR


@dataclass(slots=True)
class PageviewPresence:
    """What a batch says about one page view: its first event and the elements present."""

    first: StoredEvent
    # The elements present, in order, each with the variant it counts under: the element's own
    # (`data-ctr-variant`) when an impression or click brings it, else the page's.
    names: dict[str, str]
    reports: list[StoredEvent]


@dataclass(slots=True)
class PendingConversion:
    """A conversion the batch brings (an event, or a page view matching a page-path goal)."""

    pageview: str
    goal: str
    value: float | None
    visitor: str
    # The sender's ids today and yesterday: a click before midnight is found under yesterday's.
    lookup: tuple[str, ...]
    variant: str
    page: str
    account: str
    ts_server: int
    ts_client: int | None
    event_id: str = ""  # '' for one found by page path: no event to answer for


@dataclass(frozen=True)
class Source:
    """The tables a range is read from: hourly rows, their sums per UTC day and, for the
    per-element tables, per week (`ranges.week_of`); without a weekly table, whole weeks are read
    as their days."""

    hourly: str
    daily: str
    columns: tuple[str, ...]
    filters: dict[str, str | None]
    weekly: str | None = None


@dataclass(slots=True)
class GoalCounts:
    conversions: int = 0
    assisted: int = 0
    value: float = 0.0


@dataclass
class FunnelWrite:
    """What one batch adds to the funnel; `apply` returns the (site, event id) of its page view
    reports and conversions that counted (the rest are duplicates)."""

    tx: Connection
    events: Sequence[StoredEvent]
    fresh: Sequence[StoredEvent]  # the batch's new impressions and clicks
    accepted: set[tuple[str, str]] = field(default_factory=set)

    async def apply(self) -> set[tuple[str, str]]:
        by_site: dict[str, list[StoredEvent]] = defaultdict(list)
        for e in self.events:
            if e.type in ("pageview", "conversion"):
                by_site[e.site].append(e)
        fresh_by_site: dict[str, list[StoredEvent]] = defaultdict(list)
        for e in self.fresh:
            fresh_by_site[e.site].append(e)
        # Sorted: concurrent writers take the rows of several sites in the same order.
        for site in sorted(by_site.keys() | fresh_by_site.keys()):
            await self._site(site, by_site.get(site, []), fresh_by_site.get(site, []))
        return self.accepted

    async def _site(self, site: str, reports: list[StoredEvent], fresh: list[StoredEvent]) -> None:
        new_pageviews = await self._pageviews(site, [e for e in reports if e.type == "pageview"], fresh)

        pending = [
            PendingConversion(
                e.pageview, e.goal, e.value, e.visitor, (e.visitor, e.previous_visitor), e.variant, e.page,
                e.account, e.ts_server, e.ts_client, e.event_id,
            )
            for e in reports
            if e.type == "conversion"
        ]
        goals: dict[str, Goal] = {}
        if pending or new_pageviews:
            goals = await self._goals(site)
        for e in new_pageviews.values():
            for goal in goals.values():
                if goal.matches(e.page):
                    pending.append(PendingConversion(
                        e.pageview, goal.name, None, e.visitor, (e.visitor, e.previous_visitor), e.variant,
                        e.page, e.account, e.ts_server, e.ts_client,
                    ))
        if pending:
            await self._conversions(site, pending, goals, [e for e in fresh if e.type == "click"])
        await self._clicks(site, [e for e in fresh if e.type == "click"])

    async def _pageviews(
        self, site: str, reports: list[StoredEvent], fresh: list[StoredEvent]
    ) -> dict[str, StoredEvent]:
        """Record the batch's page views and count each element present once per page view, at
        the page view's page and hour, under the element's variant; return the new page views by
        id, with their first event. A report that brings a new page view or a new element counts
        as accepted, any other as a duplicate."""
        views: dict[str, PageviewPresence] = {}
        for e in reports:  # first: a page view's cell is its report's (the page's variant)
            view = views.get(e.pageview)
            if view is None:
                view = views[e.pageview] = PageviewPresence(e, {}, [])
            for name in e.present:
                view.names.setdefault(name, e.variant)
            view.reports.append(e)
        for e in fresh:
            view = views.get(e.pageview)
            if view is None:
                view = views[e.pageview] = PageviewPresence(e, {}, [])
            view.names[e.element] = e.variant
        rows = [
            (site, pv, v.first.visitor, v.first.variant, v.first.page, v.first.account,
             hour_of(v.first.ts_server), NAMES_SEPARATOR.join(v.names))
            for pv, v in views.items()
        ]
        present: dict[Cell, int] = defaultdict(int)
        new: dict[str, StoredEvent] = {}
        for row in await self.tx.insert_new("funnel_pageviews", PAGEVIEW_COLUMNS, 2, rows):
            view = views[row[1]]
            new[row[1]] = view.first
            for name, variant in view.names.items():
                present[(name, variant, row[4], row[6])] += 1
            self.accepted.update((site, e.event_id) for e in view.reports)
        known = [pv for pv in views if pv not in new]
        if known:
            await self._more_present(site, {pv: views[pv] for pv in known}, present)
        await self.tx.add_counts(
            "presence_rollups", PRESENCE_KEY, ("present",),
            [(site, *cell, n) for cell, n in sorted(present.items())],
        )
        return new

    async def _more_present(
        self, site: str, views: dict[str, PageviewPresence], present: dict[Cell, int]
    ) -> None:
        """Page views seen before: count only the elements they did not list yet. A page view's
        later batches seldom bring one (its report listed what was on the page), so each change
        is a compare-and-set of its own: of two writers adding the same element, one counts it."""
        rows = await self.tx.fetch_by_keys(
            "funnel_pageviews", ("site", "pageview"), ("pageview", "page", "hour", "present"),
            sorted((site, pv) for pv in views),
        )
        for pv, page, hour, listed in rows:
            while True:
                known = set(listed.split(NAMES_SEPARATOR)) if listed else set()
                added = [name for name in views[pv].names if name not in known]
                if not added:
                    break
                names = NAMES_SEPARATOR.join([listed, *added] if listed else added)
                changed = await self.tx.fetch(
                    "UPDATE funnel_pageviews SET present = ? WHERE site = ? AND pageview = ? AND present = ? "
                    "RETURNING 1",
                    (names, site, pv, listed),
                )
                if changed:
                    for name in added:
                        present[(name, views[pv].names[name], page, hour)] += 1
                    self.accepted.update((site, e.event_id) for e in views[pv].reports)
                    break
                (listed,), = await self.tx.fetch(
                    "SELECT present FROM funnel_pageviews WHERE site = ? AND pageview = ?", (site, pv)
                )

    async def _goals(self, site: str) -> dict[str, Goal]:
        rows = await self.tx.fetch(
            "SELECT name, path, value, defined, created_at FROM goals WHERE site = ?", (site,)
        )
        return {row[0]: goal_of(row) for row in rows}

    async def _conversions(
        self,
        site: str,
        pending: list[PendingConversion],
        goals: dict[str, Goal],
        batch_clicks: list[StoredEvent],
    ) -> None:
        unique: dict[tuple[str, str], PendingConversion] = {}
        for c in pending:
            unique.setdefault((c.pageview, c.goal), c)
        # A backend's conversion under an older page view's id belongs to that page view's visitor.
        known = await self.tx.fetch_by_keys(
            "funnel_pageviews", ("site", "pageview"), ("pageview", "visitor", "variant", "page", "account"),
            sorted({(site, c.pageview) for c in unique.values()}),
        )
        pageviews = {row[0]: row[1:] for row in known}
        visitors: set[str] = set()
        for c in unique.values():
            if c.pageview in pageviews:
                visitor, variant, page, account = pageviews[c.pageview]
                c.variant, c.page, c.account = variant, page, c.account or account
                if visitor not in c.lookup:  # another sender (a backend): the page view's visitor
                    c.visitor, c.lookup = visitor, (visitor,)
            c.lookup = tuple(v for v in c.lookup if v)
            visitors.update(c.lookup)
        clicks = await self._ledger(site, sorted(visitors))
        clicks += [
            Click(e.visitor, e.element, e.variant, e.page, e.account, e.ts_server, e.ts_client or 0)
            for e in batch_clicks
            if e.visitor in visitors
        ]
        by_visitor: dict[str, list[Click]] = defaultdict(list)
        for click in clicks:
            by_visitor[click.visitor].append(click)
        settings = await self.tx.fetch("SELECT settings FROM sites WHERE key = ?", (site,))
        window = window_ms(json.loads(settings[0][0]) if settings else {})

        credits: dict[tuple[str, str], Credit] = {}
        rows = []
        for key, c in unique.items():
            if c.value is None and c.goal in goals:
                c.value = goals[c.goal].value
            mine = [click for visitor in c.lookup for click in by_visitor.get(visitor, [])]
            credit = credits[key] = attribute(mine, c.ts_server, c.ts_client, window)
            element = credit.credited.element if credit.credited else ""
            clicked = credit.credited
            rows.append((
                site, c.pageview, c.goal, c.visitor, c.value, element, len(credit.assisted), c.variant,
                c.page, c.account, c.ts_server, c.ts_client, hour_of(c.ts_server),
                clicked.visitor if clicked else "", clicked.ts_server // 1000 // DAY if clicked else 0,
                clicked.variant if clicked else "",
            ))
        new = await self.tx.insert_new("conversions", CONVERSION_COLUMNS, 3, rows)
        counts: dict[tuple[Any, ...], GoalCounts] = defaultdict(GoalCounts)  # GOAL_KEY
        accounts: dict[tuple[Any, ...], GoalCounts] = defaultdict(GoalCounts)  # GOAL_ACCOUNT_KEY
        # Credited conversions per visitor-day of their click and goal (goal_moments.py).
        credited: dict[goal_moments.GoalVisitorDay, int] = defaultdict(int)
        for row in new:
            key = (row[1], row[2])
            c, credit = unique[key], credits[key]
            if c.event_id:
                self.accepted.add((site, c.event_id))
            hour, value = hour_of(c.ts_server), c.value or 0.0
            where = credit.credited or c
            cell = counts[(site, c.goal, credit.credited.element if credit.credited else "", where.variant,
                           where.page, hour)]
            cell.conversions += 1
            cell.value += value
            if credit.credited:
                click = credit.credited
                credited[(click.ts_server // 1000 // DAY, click.visitor, click.element, click.variant,
                          c.goal)] += 1
            for click in credit.assisted:
                counts[(site, c.goal, click.element, click.variant, click.page, hour)].assisted += 1
            account = c.account or (credit.credited.account if credit.credited else "")
            if account:
                by_account = accounts[(site, c.goal, credit.credited.element if credit.credited else "",
                                       where.variant, hour // DAY, account)]
                by_account.conversions += 1
                by_account.value += value
        await self.tx.add_counts(
            "goal_rollups", GOAL_KEY, GOAL_COUNTS,
            [(*key, g.conversions, g.assisted, g.value) for key, g in sorted(counts.items())],
        )
        await self.tx.add_counts(
            "goal_accounts", GOAL_ACCOUNT_KEY, ("conversions", "value"),
            [(*key, g.conversions, g.value) for key, g in sorted(accounts.items())],
        )
        await goal_moments.credit(self.tx, site, dict(credited))
        # A conversion under a new goal name lists the goal (docs/design.md §3, "Goals").
        now = int(time.time())
        names = sorted({c.goal for c in unique.values()} - goals.keys())
        await self.tx.insert_new("goals", GOAL_COLUMNS, 2, [(site, name, "", None, 0, now) for name in names])

    async def _ledger(self, site: str, visitors: list[str]) -> list[Click]:
        if not visitors:
            return []
        marks = ", ".join("?" * len(visitors))
        rows = await self.tx.fetch(
            "SELECT visitor, element, variant, page, account, ts_server, ts_client FROM visitor_clicks "
            f"WHERE site = ? AND visitor IN ({marks})",
            (site, *visitors),
        )
        return [Click(*row) for row in rows]

    async def _clicks(self, site: str, clicks: list[StoredEvent]) -> None:
        """The click ledger keeps each visitor's last click per element: by server arrival, then
        (within a batch) by the client's clock."""
        last: dict[tuple[str, str], StoredEvent] = {}
        for e in clicks:
            known = last.get((e.visitor, e.element))
            if known is None or (e.ts_server, e.ts_client or 0) >= (known.ts_server, known.ts_client or 0):
                last[(e.visitor, e.element)] = e
        rows = [
            (site, visitor, element, e.variant, e.page, e.account, e.ts_server, e.ts_client or 0,
             hour_of(e.ts_server))
            for (visitor, element), e in sorted(last.items())
        ]
        await self.tx.add_counts("visitor_clicks", CLICK_KEY, (), rows, set_columns=CLICK_VALUES)


def _picked(keys: Sequence[str], names: Sequence[str], own: Sequence[str], sign: str) -> str:
    """A SELECT list for one source of a UNION: the keys, its own columns (negated with sign '-'),
    0 for the other sources' columns, each named, since a UNION takes its names from its first part."""
    return ", ".join([*keys, *(f"{sign}{c} AS {c}" if c in own else f"0 AS {c}" for c in names)])


class FunnelReads:
    """Presence and conversions over a range of hours, planned like the rollups (ranges.py):
    whole weeks from the weekly tables (per element only), whole UTC days from the daily tables,
    the hours at either end from the hourly ones."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def _ranged(
        self,
        site: str,
        hour_from: int,
        hour_to: int,
        keys: Sequence[str],
        sources: Sequence[Source],
    ) -> list[Row]:
        """SUM of each source's columns per `keys`: whole weeks from its weekly table, whole days
        from its daily table, the hours at either end from its hourly one. Several sources are read
        as one statement, each giving 0 for the columns of the others."""
        plan = plan_range(hour_from, hour_to)
        if plan.empty:
            return []
        names = [c for source in sources for c in source.columns]
        parts: list[str] = []
        params: list[Any] = []
        for source in sources:
            conditions, values = ["site = ?"], [site]
            for column, value in source.filters.items():
                if value is not None:
                    conditions.append(f"{column} = ?")
                    values.append(value)
            where = " AND ".join(conditions)
            days = list(plan.days)
            if plan.weeks and source.weekly:
                picked = _picked(keys, names, source.columns, "")
                parts.append(
                    f"SELECT {picked} FROM {source.weekly} WHERE {where} AND week >= ? AND week <= ?"
                )
                params += [*values, *plan.weeks]
            elif plan.weeks:
                days.append((7 * plan.weeks[0] - 3, 7 * plan.weeks[1] + 3))
            if days:
                ranges = " OR ".join(["(day >= ? AND day <= ?)"] * len(days))
                picked = _picked(keys, names, source.columns, "")
                parts.append(f"SELECT {picked} FROM {source.daily} WHERE {where} AND ({ranges})")
                params += [*values, *(d for r in days for d in r)]
            for hours, sign in ((plan.add, ""), (plan.subtract, "-")):
                if hours:
                    ranges = " OR ".join(["(hour >= ? AND hour < ?)"] * len(hours))
                    picked = _picked(keys, names, source.columns, sign)
                    parts.append(f"SELECT {picked} FROM {source.hourly} WHERE {where} AND ({ranges})")
                    params += [*values, *(h for r in hours for h in r)]
        key_list = ", ".join(keys)
        sums = ", ".join(f"SUM({c})" for c in names)
        return await self.db.fetch(
            f"SELECT {key_list}, {sums} FROM ({' UNION ALL '.join(parts)}) AS ranged GROUP BY {key_list}",
            params,
        )

    def _presence_source(
        self, keys: Sequence[str], element: str | None, variant: str | None, page: str | None
    ) -> Source:
        # Per element only (the overview's default): whole weeks and days from the narrow
        # per-element tables.
        filters = {"element": element, "variant": variant, "page": page}
        if tuple(keys) == ("element",) and variant is None and page is None:
            return Source("presence_rollups", "presence_element_days", ("present",), filters,
                          "presence_element_weeks")
        return Source("presence_rollups", "presence_daily", ("present",), filters)

    def _goal_source(
        self, goal: str, keys: Sequence[str], element: str | None, variant: str | None, page: str | None
    ) -> Source:
        filters = {"goal": goal, "element": element, "variant": variant, "page": page}
        if tuple(keys) == ("element",) and variant is None and page is None:
            return Source("goal_rollups", "goal_element_days", GOAL_COUNTS, filters, "goal_element_weeks")
        return Source("goal_rollups", "goal_daily", GOAL_COUNTS, filters)

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
        """Page views with the element present, per `keys` (element, variant, page)."""
        source = self._presence_source(keys, element, variant, page)
        rows = await self._ranged(site, hour_from, hour_to, keys, [source])
        return {tuple(row[:-1]): int(row[-1]) for row in rows if row[-1]}

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
        """(conversions, assisted, value) of one goal per `keys`; element '' holds the conversions
        credited to no element."""
        source = self._goal_source(goal, keys, element, variant, page)
        rows = await self._ranged(site, hour_from, hour_to, keys, [source])
        return {
            tuple(row[:-3]): (int(row[-3]), int(row[-2]), float(row[-1]))
            for row in rows
            if row[-3] or row[-2]
        }

    async def goal_accounts(
        self,
        site: str,
        goal: str,
        day_from: int,
        day_to: int,
        element: str | None = None,
        variant: str | None = None,
    ) -> dict[tuple[str, str], tuple[int, float]]:
        """(conversions, value) per (element, account) over UTC days [day_from, day_to]."""
        conditions, params = ["site = ?", "goal = ?", "day >= ?", "day <= ?"], [site, goal, day_from, day_to]
        for column, value in (("element", element), ("variant", variant)):
            if value is not None:
                conditions.append(f"{column} = ?")
                params.append(value)
        rows = await self.db.fetch(
            "SELECT element, account, SUM(conversions), SUM(value) FROM goal_accounts "
            f"WHERE {' AND '.join(conditions)} GROUP BY element, account",
            params,
        )
        return {(row[0], row[1]): (int(row[2]), float(row[3])) for row in rows}

    async def kinds(self, site: str, elements: Sequence[str]) -> dict[str, str]:
        """The kind each element was last counted with, for elements present but not seen in a
        range (a page view's report names elements, not their kinds)."""
        if not elements:
            return {}
        marks = ", ".join("?" * len(elements))
        rows = await self.db.fetch(
            f"SELECT element, MAX(kind) FROM rollups_element_days WHERE site = ? AND element IN ({marks}) "
            "GROUP BY element",
            (site, *elements),
        )
        return {row[0]: row[1] for row in rows}

    async def conversions(self, site: str, limit: int = 1000) -> list[dict[str, Any]]:
        """A site's conversions with their attribution, oldest first: for checking the rollups."""
        rows = await self.db.fetch(
            f"SELECT {', '.join(CONVERSION_COLUMNS[1:])} FROM conversions WHERE site = ? "
            "ORDER BY ts_server, pageview, goal LIMIT ?",
            (site, limit),
        )
        return [dict(zip(CONVERSION_COLUMNS[1:], row, strict=True)) for row in rows]
