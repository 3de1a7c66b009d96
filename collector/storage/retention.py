"""Retention: raw events and the per-page-view ledgers are deleted after a while; rollups are
kept for ever (docs/design.md §5)."""

from __future__ import annotations

from ctrlens.collector.storage.database import DAY, HOUR, Database


async def delete_raw_before(db: Database, ts_ms: int) -> int:
    """Delete raw events older than `ts_ms`, then the ledger rows of the hours (days) before
    its hour; return the number of raw events deleted. PostgreSQL drops whole days: the
    partitions of the days before the one holding `ts_ms` (partitions.py)."""
    dropped = await db.delete_events_before(ts_ms)
    hour = ts_ms // 1000 // HOUR * HOUR
    for table, column, bound in (
        ("pageview_elements", "hour", hour),
        ("pageviews", "hour", hour),
        ("visitor_elements", "day", hour // DAY),
        ("experiment_visitors", "day", hour // DAY),
        ("experiment_goal_visitors", "day", hour // DAY),
        # The funnel's ledgers (funnel.py): page view reports, clicks kept for attribution, and
        # single conversions; their rollups stay.
        ("funnel_pageviews", "hour", hour),
        ("visitor_clicks", "hour", hour),
        ("conversions", "hour", hour),
    ):
        await db.delete_below(table, column, bound)
    await delete_old_names(db)
    return dropped


async def delete_old_names(db: Database) -> int:
    """The caps on new names (names.py) look at today and yesterday only: older days go. The
    newest day stored is "today", so a collector's clock and this pass cannot disagree."""
    newest = await db.fetch("SELECT MAX(day) FROM names_seen")
    if not newest or newest[0][0] is None:
        return 0
    return await db.delete_below("names_seen", "day", int(newest[0][0]) - 1)
