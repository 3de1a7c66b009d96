"""Goal moments: what visitor-clustered variance of conversions per impression needs.

docs/design.md §4 judges variants on conversions of a goal per impression with the delta-method
variance clustered by visitor-day, like CTR (moments.py). Over the visitor-days of an arm it needs
ΣN and ΣN² (moments.py keeps them) and ΣK, ΣK² and ΣN·K, where K is the visitor-day's conversions
of the goal credited to the element (last click, attribution.py) and N its impressions of the
element. A conversion counts for the visitor-day of its credited click: the click's UTC day,
visitor id and variant.

Kept in the write's transaction (schema/*/013_goal_moments.sql has the tables):
- `experiment_goal_visitors`, the ledger: K of each visitor-day and goal;
- `experiment_goal_moments`, per site, goal, UTC day, element and variant: ΣK, ΣK², ΣN·K, and
  `experiment_goal_moments_total` the same per site, goal, element and variant over all days
  (schema/*/016_moments_totals.sql), written right after the daily rows with the same amounts.
Two events change them:
- `credit` (funnel.py, a batch's new credited conversions): K → K + k adds k to ΣK, (K+k)² − K²
  to ΣK² and N·k to ΣN·K;
- `raise_impressions` (moments.py, when an impression raises N for a visitor-day that already has
  conversions, `experiment_visitors.converted`): N → N + n adds n·K to ΣN·K for each of its goals.
Locks are taken in one order, the visitor-day's `experiment_visitors` row first: `credit` reads N
by an upsert of that row (which also sets `converted`), so a concurrent impression of the same
visitor-day either sees the conversion's K or is seen in its N, never neither.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import NamedTuple, TypeVar

from ctrlens.collector.storage.database import Connection, Database

LEDGER_KEY = ("site", "day", "visitor", "element", "variant", "goal")
VISITOR_KEY = ("site", "day", "visitor", "element", "variant")
MOMENTS_KEY = ("site", "goal", "day", "element", "variant")
TOTAL_KEY = ("site", "goal", "element", "variant")
MOMENTS = ("conversions", "conversions_sq", "cross_products")
#: Most rows per statement: 7 parameters each stays far below both backends' limits.
CHUNK = 512

VisitorDay = tuple[int, str, str, str]  # (UTC day, visitor, element, variant)
GoalVisitorDay = tuple[int, str, str, str, str]  # (UTC day, visitor, element, variant, goal)
MomentsKey = tuple[str, int, str, str]  # (goal, UTC day, element, variant)
Key = TypeVar("Key")


class GoalMoments(NamedTuple):
    """One element's variant over a range of days: the goal's sums of docs/design.md §4."""

    element: str
    variant: str
    conversions: int  # ΣK
    conversions_sq: int  # ΣK²
    cross_products: int  # ΣN·K


def _chunks(keys: Sequence[Key]) -> list[Sequence[Key]]:
    return [keys[i : i + CHUNK] for i in range(0, len(keys), CHUNK)]


async def credit(tx: Connection, site: str, added: dict[GoalVisitorDay, int]) -> None:
    """Add a batch's new credited conversions (k per visitor-day and goal) to the ledger and the
    moments, in the write's transaction."""
    if not added:
        return
    impressions = await _mark_converted(tx, site, sorted({key[:4] for key in added}))
    moments: dict[MomentsKey, list[int]] = defaultdict(lambda: [0, 0, 0])
    keys = sorted(added)  # concurrent writers lock ledger rows in the same order
    for chunk in _chunks(keys):
        values = ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * len(chunk))
        rows = await tx.fetch(
            f"INSERT INTO experiment_goal_visitors ({', '.join(LEDGER_KEY)}, conversions) "
            f"VALUES {values} ON CONFLICT ({', '.join(LEDGER_KEY)}) DO UPDATE SET "
            "conversions = experiment_goal_visitors.conversions + excluded.conversions "
            "RETURNING day, visitor, element, variant, goal, conversions",
            [value for key in chunk for value in (site, *key, added[key])],
        )
        for day, visitor, element, variant, goal, k1 in rows:
            key = (int(day), visitor, element, variant, goal)
            dk, k1 = added[key], int(k1)
            k0 = k1 - dk
            m = moments[(goal, int(day), element, variant)]
            m[0] += dk
            m[1] += k1 * k1 - k0 * k0
            m[2] += impressions.get(key[:4], 0) * dk
    await _add_moments(tx, site, moments)


async def _mark_converted(tx: Connection, site: str, keys: list[VisitorDay]) -> dict[VisitorDay, int]:
    """Mark the visitor-days converted and return their impressions N. An upsert, not a read: it
    locks each row (or creates it with N = 0) before the goal ledger's, in the order
    moments.py's impressions lock them."""
    found: dict[VisitorDay, int] = {}
    for chunk in _chunks(keys):
        values = ", ".join(["(?, ?, ?, ?, ?, 0, 0, 1)"] * len(chunk))
        rows = await tx.fetch(
            f"INSERT INTO experiment_visitors ({', '.join(VISITOR_KEY)}, impressions, clicks, converted) "
            f"VALUES {values} ON CONFLICT ({', '.join(VISITOR_KEY)}) DO UPDATE SET converted = 1 "
            "RETURNING day, visitor, element, variant, impressions",
            [value for key in chunk for value in (site, *key)],
        )
        found.update(((int(d), v, e, var), int(n)) for d, v, e, var, n in rows)
    return found


async def raise_impressions(tx: Connection, site: str, raised: dict[VisitorDay, int]) -> None:
    """Visitor-days with conversions whose impressions N rose by n: ΣN·K gains n·K per goal."""
    if not raised:
        return
    rows = await tx.fetch_by_keys(
        "experiment_goal_visitors", VISITOR_KEY,
        ("day", "visitor", "element", "variant", "goal", "conversions"),
        [(site, *key) for key in sorted(raised)],
    )
    moments: dict[MomentsKey, list[int]] = defaultdict(lambda: [0, 0, 0])
    for day, visitor, element, variant, goal, k in rows:
        n = raised[(int(day), visitor, element, variant)]
        moments[(goal, int(day), element, variant)][2] += n * int(k)
    await _add_moments(tx, site, moments)


async def _add_moments(tx: Connection, site: str, moments: dict[MomentsKey, list[int]]) -> None:
    """Add to the daily rows, then the same amounts to the all-time rows of their keys (every key
    of a daily row written gets its total row, so a total exists exactly where days do)."""
    written = sorted((key, m) for key, m in moments.items() if any(m))
    await tx.add_counts("experiment_goal_moments", MOMENTS_KEY, MOMENTS, [(site, *k, *m) for k, m in written])
    totals: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for (goal, _, element, variant), m in written:
        total = totals[(goal, element, variant)]
        total[:] = [a + b for a, b in zip(total, m, strict=True)]
    await tx.add_counts(
        "experiment_goal_moments_total", TOTAL_KEY, MOMENTS,
        [(site, *key, *m) for key, m in sorted(totals.items())],
    )


class GoalMomentsReads:
    """The reads: a goal's moments summed over a range of UTC days, without any raw event."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def of_days(
        self, site: str, goal: str, day_from: int, day_to: int, element: str | None = None
    ) -> list[GoalMoments]:
        """Per (element, variant) with conversions of `goal` over UTC days [day_from, day_to], sorted.
        A range that covers every day with moments of the goal is read from the all-time rows."""
        only = " AND element = ?" if element is not None else ""
        also = [element] if element is not None else []
        picked = ", ".join(("element", "variant", *MOMENTS))
        # `whole`: the range holds the goal's first and last days with moments (two seeks in the
        # daily key), so it holds all of its daily rows, whose sums the all-time rows are (one
        # write adds the same amounts to both). Then the all-time rows alone are read, else the
        # daily rows of the range alone: the same sums, and in one statement, so from one snapshot.
        rows = await self.db.fetch(
            "WITH span (whole) AS ("
            "SELECT ? <= (SELECT MIN(day) FROM experiment_goal_moments WHERE site = ? AND goal = ?) "
            "AND ? >= (SELECT MAX(day) FROM experiment_goal_moments WHERE site = ? AND goal = ?)) "
            f"SELECT element, variant, {', '.join(f'CAST(SUM({m}) AS BIGINT)' for m in MOMENTS)} FROM ("
            f"SELECT {picked} FROM experiment_goal_moments_total "
            f"WHERE site = ? AND goal = ?{only} AND (SELECT whole FROM span) "
            f"UNION ALL SELECT {picked} FROM experiment_goal_moments "
            f"WHERE site = ? AND goal = ? AND day >= ? AND day <= ?{only} AND NOT (SELECT whole FROM span)"
            ") AS ranged GROUP BY element, variant ORDER BY element, variant",
            [day_from, site, goal, day_to, site, goal,  # `span`'s
             site, goal, *also,  # the all-time rows'
             site, goal, day_from, day_to, *also],  # the daily rows'
        )
        return [GoalMoments(e, v, *(int(x) for x in rest)) for e, v, *rest in rows]
