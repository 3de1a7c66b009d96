"""Moments: what visitor-clustered variance needs, per site, element, variant and UTC day.

docs/design.md §4 tests variants with the delta-method variance of CTR clustered by visitor-day.
It needs, per arm, the visitor-days with an impression (clusters) and, over them, ΣN, ΣC, ΣN²,
ΣC² and ΣN·C, where a visitor-day has N impressions and C clicks of the element in the variant
(counted as the rollups count them: page views with an impression, page views with a click).

Kept in the write's transaction (schema/*/006_experiment_moments.sql has the tables):
- `experiment_visitors`, the ledger: N and C of each visitor-day;
- `experiment_moments` (per day), `experiment_moments_weekly` and `experiment_moments_total` (all
  days, schema/*/016_moments_totals.sql): when a visitor-day goes from (n, c) to (n′, c′), they
  gain n′ − n, c′ − c, n′² − n², c′² − c², n′c′ − nc, and one cluster when n goes from 0 to 1 or
  more. Each is written once per batch, in that order and in key order, so concurrent writers
  lock their rows in one order.
The ledger is updated by one INSERT … ON CONFLICT DO UPDATE … RETURNING per batch: the database
adds this batch's counts to the row under its lock and returns the new values, and the old ones
are the new minus what was added. Two concurrent writers on the same visitor-day therefore see
(n₀ → n₁) and (n₁ → n₂): the differences add up, nothing is counted twice.

The same statement returns whether the visitor-day has conversions (`converted`, set by
goal_moments.py): only then does a rise of n cost a read of the goal ledger, for ΣN·K.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NamedTuple, Protocol

from ctrlens.collector.storage import goal_moments
from ctrlens.collector.storage.database import DAY, Connection, Database
from ctrlens.collector.storage.ranges import split_days, week_of

LEDGER_KEY = ("site", "day", "visitor", "element", "variant")
MOMENTS_KEY = ("site", "day", "element", "variant")
WEEKLY_KEY = ("site", "week", "element", "variant")
TOTAL_KEY = ("site", "element", "variant")
MOMENTS = ("clusters", "impressions", "clicks", "impressions_sq", "clicks_sq", "cross_products")
#: Most ledger rows per statement: 7 parameters each stays far below both backends' limits.
CHUNK = 512

VisitorDay = tuple[int, str, str, str]  # (UTC day, visitor, element, variant)


class CountedCell(Protocol):
    """Where a page view's element is counted (rollups.Cell): its hour, visitor and variant."""

    @property
    def hour(self) -> int: ...

    @property
    def visitor(self) -> str: ...

    @property
    def variant(self) -> str: ...


class VariantMoments(NamedTuple):
    """One element's variant over a range of days: the sums of docs/design.md §4's clustered variance."""

    element: str
    variant: str
    clusters: int  # visitor-days with an impression
    impressions: int  # ΣN
    clicks: int  # ΣC
    impressions_sq: int  # ΣN²
    clicks_sq: int  # ΣC²
    cross_products: int  # ΣN·C


def _visitor_day(element: str, cell: CountedCell) -> VisitorDay:
    return (cell.hour // DAY, cell.visitor, element, cell.variant)


async def apply(
    tx: Connection,
    site: str,
    impressions: Iterable[tuple[tuple[str, str], CountedCell]],
    clicks: Iterable[tuple[tuple[str, str], CountedCell]],
) -> None:
    """Add a batch's first impressions and first clicks (each `((pageview, element), cell)`, as
    rollups.py counts them) to the ledger and the moments, in the write's transaction."""
    added: dict[VisitorDay, list[int]] = defaultdict(lambda: [0, 0])
    for (_, element), cell in impressions:
        added[_visitor_day(element, cell)][0] += 1
    for (_, element), cell in clicks:
        added[_visitor_day(element, cell)][1] += 1
    if not added:
        return
    keys = sorted(added)  # concurrent writers lock ledger rows in the same order
    moments: dict[tuple[int, str, str], list[int]] = defaultdict(lambda: [0] * len(MOMENTS))
    converted: dict[VisitorDay, int] = {}  # visitor-days with conversions whose N rose, by how much
    for chunk in _power_of_two_chunks(keys):
        for day, visitor, element, variant, n1, c1, had in await _add_to_ledger(tx, site, chunk, added):
            dn, dc = added[(day, visitor, element, variant)]
            if had and dn:
                converted[(day, visitor, element, variant)] = dn
            n0, c0 = n1 - dn, c1 - dc
            m = moments[(day, element, variant)]
            m[0] += 1 if n0 == 0 and n1 > 0 else 0
            m[1] += dn
            m[2] += dc
            m[3] += n1 * n1 - n0 * n0
            m[4] += c1 * c1 - c0 * c0
            m[5] += n1 * c1 - n0 * c0
    rows = [(site, *key, *m) for key, m in sorted(moments.items())]
    await tx.add_counts("experiment_moments", MOMENTS_KEY, MOMENTS, rows)
    weekly = _summed(site, moments, lambda day, element, variant: (week_of(day), element, variant))
    await tx.add_counts("experiment_moments_weekly", WEEKLY_KEY, MOMENTS, weekly)
    # Every key of the daily rows gets its total row, so a total exists exactly where days do.
    totals = _summed(site, moments, lambda day, element, variant: (element, variant))
    await tx.add_counts("experiment_moments_total", TOTAL_KEY, MOMENTS, totals)
    await goal_moments.raise_impressions(tx, site, converted)


def _summed(
    site: str, moments: dict[tuple[int, str, str], list[int]], key: Callable[[int, str, str], tuple[Any, ...]]
) -> list[tuple[Any, ...]]:
    """The daily moments added up per `key` of (day, element, variant): rows for `add_counts`,
    `site` first, sorted by key."""
    summed: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0] * len(MOMENTS))
    for (day, element, variant), m in moments.items():
        sums = summed[key(day, element, variant)]
        sums[:] = [a + b for a, b in zip(sums, m, strict=True)]
    return [(site, *k, *m) for k, m in sorted(summed.items())]


def _power_of_two_chunks(keys: list[VisitorDay]) -> list[list[VisitorDay]]:
    """`keys` in chunks of power-of-two sizes up to CHUNK: few distinct statements, which the
    drivers' statement caches keep prepared."""
    chunks, start = [], 0
    size = CHUNK
    while start < len(keys):
        while size > len(keys) - start:
            size //= 2
        chunks.append(keys[start : start + size])
        start += size
    return chunks


async def _add_to_ledger(
    tx: Connection, site: str, keys: Sequence[VisitorDay], added: dict[VisitorDay, list[int]]
) -> list[tuple[int, str, str, str, int, int, int]]:
    """Add each visitor-day's counts to its ledger row; return the rows' new counts and whether
    the visitor-day has conversions."""
    values = ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * len(keys))
    params = [value for key in keys for value in (site, *key, *added[key])]
    rows = await tx.fetch(
        f"INSERT INTO experiment_visitors ({', '.join(LEDGER_KEY)}, impressions, clicks) "
        f"VALUES {values} ON CONFLICT ({', '.join(LEDGER_KEY)}) DO UPDATE SET "
        "impressions = experiment_visitors.impressions + excluded.impressions, "
        "clicks = experiment_visitors.clicks + excluded.clicks "
        "RETURNING day, visitor, element, variant, impressions, clicks, converted",
        params,
    )
    return [(int(d), v, e, var, int(n), int(c), int(k)) for d, v, e, var, n, c, k in rows]


class Moments:
    """The reads: moments summed over a range of UTC days, without any raw event."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def of_days(
        self, site: str, day_from: int, day_to: int, element: str | None = None, by_variant: bool = True
    ) -> list[VariantMoments]:
        """Per (element, variant) with impressions over UTC days [day_from, day_to], sorted. A range
        that covers every day with moments of the site is read from the all-time rows; any other
        from whole weeks of the weekly rows and the days at either end from the daily ones. Without
        `by_variant`, per element (variant ''), summed by the database."""
        if day_to < day_from:
            return []
        weeks, days = split_days(day_from, day_to)
        picked = ", ".join(("element", "variant", *MOMENTS))
        only = " AND element = ?" if element is not None else ""
        also = [element] if element is not None else []
        # `whole`: the range holds the site's first and last days with moments (two seeks in the
        # daily key), so it holds all of its daily rows, whose sums the all-time rows are (one
        # write adds the same amounts to both). Then the all-time rows alone are read, else the
        # ranged rows alone: the same sums, and in one statement, so from one snapshot of them.
        params: list[Any] = [day_from, site, day_to, site]  # `span`'s, first in the statement
        parts = [f"SELECT {picked} FROM experiment_moments_total "
                 f"WHERE site = ?{only} AND (SELECT whole FROM span)"]
        params += [site, *also]
        ranged = " AND NOT (SELECT whole FROM span)"
        if weeks is not None:
            parts.append(f"SELECT {picked} FROM experiment_moments_weekly "
                         f"WHERE site = ? AND week >= ? AND week <= ?{only}{ranged}")
            params += [site, *weeks, *also]
        for first, last in days:
            parts.append(f"SELECT {picked} FROM experiment_moments "
                         f"WHERE site = ? AND day >= ? AND day <= ?{only}{ranged}")
            params += [site, first, last, *also]
        sums = ", ".join(f"CAST(SUM({m}) AS BIGINT)" for m in MOMENTS)
        grouped = "element, variant" if by_variant else "element"
        picked = grouped if by_variant else "element, ''"
        rows = await self.db.fetch(
            "WITH span (whole) AS (SELECT ? <= (SELECT MIN(day) FROM experiment_moments WHERE site = ?) "
            "AND ? >= (SELECT MAX(day) FROM experiment_moments WHERE site = ?)) "
            f"SELECT {picked}, {sums} FROM ({' UNION ALL '.join(parts)}) AS ranged "
            f"GROUP BY {grouped} HAVING SUM(impressions) > 0 ORDER BY {grouped}",
            params,
        )
        return [VariantMoments(e, v, *map(int, rest)) for e, v, *rest in rows]

    async def pageviews_of_days(self, site: str, day_from: int, day_to: int) -> dict[tuple[str, str], int]:
        """Page views per (variant, page) over UTC days [day_from, day_to]: the sample-ratio check."""
        rows = await self.db.fetch(
            "SELECT variant, page, SUM(pageviews) FROM pageview_days "
            "WHERE site = ? AND day >= ? AND day <= ? GROUP BY variant, page",
            (site, day_from, day_to),
        )
        return {(variant, page): int(n) for variant, page, n in rows}

    async def first_day(self, site: str) -> int | None:
        """The first UTC day with moments: where an experiment without a start date starts."""
        rows = await self.db.fetch("SELECT MIN(day) FROM experiment_moments WHERE site = ?", (site,))
        return None if not rows or rows[0][0] is None else int(rows[0][0])
