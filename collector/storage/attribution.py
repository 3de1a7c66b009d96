"""Attribution (docs/design.md §3): which clicked element a conversion is credited to.

Pure: the write path (storage/funnel.py) reads the visitor's clicks from the click ledger
(`visitor_clicks`, one row per visitor-day and element: its last click) and the batch, and
asks `attribute` for the verdict.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

HOUR_MS = 3_600_000
DEFAULT_WINDOW_HOURS = 24
# Visitor ids change every day and only yesterday's can still be computed (docs/design.md §5),
# so no window reaches further back than two days.
MAX_WINDOW_HOURS = 48


@dataclass(frozen=True, slots=True)
class Click:
    """A visitor's last click of an element, and the rollup cell it was in."""

    visitor: str
    element: str
    variant: str
    page: str
    account: str
    ts_server: int
    ts_client: int  # 0 when the sender gave no time


@dataclass(frozen=True, slots=True)
class Credit:
    credited: Click | None  # None: no click in the window, counted for the site and page only
    assisted: tuple[Click, ...] = ()


def window_ms(settings: dict[str, object]) -> int:
    """The site's attribution window (setting `attribution_window_hours`, default 24 h)."""
    hours = settings.get("attribution_window_hours", DEFAULT_WINDOW_HOURS)
    if not isinstance(hours, (int, float)) or isinstance(hours, bool) or hours <= 0:
        hours = DEFAULT_WINDOW_HOURS
    return int(min(hours, MAX_WINDOW_HOURS) * HOUR_MS)


def came_before(click: Click, ts_server: int, ts_client: int | None) -> bool:
    """Earlier in server arrival time; within one batch (same arrival), the client's `ts` decides,
    and a click or conversion without one counts the click as first."""
    if click.ts_server != ts_server:
        return click.ts_server < ts_server
    return not click.ts_client or ts_client is None or click.ts_client <= ts_client


def attribute(clicks: Iterable[Click], ts_server: int, ts_client: int | None, window: int) -> Credit:
    """The most recent element clicked before the conversion inside the window gets the credit;
    every other element clicked inside it gets an assist (never the credited one)."""
    latest: dict[str, Click] = {}
    for click in clicks:
        if ts_server - click.ts_server > window or not came_before(click, ts_server, ts_client):
            continue
        known = latest.get(click.element)
        if known is None or (click.ts_server, click.ts_client) > (known.ts_server, known.ts_client):
            latest[click.element] = click
    if not latest:
        return Credit(None)
    ordered = sorted(latest.values(), key=lambda c: (c.ts_server, c.ts_client, c.element))
    return Credit(ordered[-1], tuple(ordered[:-1]))
