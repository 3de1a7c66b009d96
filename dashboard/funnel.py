"""An element row's funnel for one goal: present -> seen -> clicked -> converted, its rates with
their intervals, and the diagnosis (docs/design.md §1, §4).

`funnel_fields` is pure; `FunnelCounts.read` gathers from storage what a table of rows needs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ctrlens.collector.storage import Site, Storage
from ctrlens.collector.storage.goals import Goal
from ctrlens.dashboard.diagnosis import (
    DEFAULT_VIEWABILITY_THRESHOLD,
    Funnel,
    diagnose,
    post_click_interval,
)
from ctrlens.dashboard.statistics import wilson_interval

#: What `funnel_fields` adds to a row, in the order the CSV export writes them.
FUNNEL_COLUMNS = (
    "present",
    "viewability_rate",
    "viewability_low",
    "viewability_high",
    "conversions",
    "assisted",
    "post_click_rate",
    "post_click_low",
    "post_click_high",
    "conversions_per_1000",
    "conversion_value",
    "value_per_1000",
    "diagnosis",
    "diagnosis_text",
)


def choose_goal(requested: str | None, goals: Sequence[Goal]) -> str | None:
    """The goal a report is for: the one asked for, else the first defined goal, else the first
    goal seen in a conversion, else none (conversion columns are then empty)."""
    if requested:
        return requested
    for goal in goals:
        if goal.defined:
            return goal.name
    return goals[0].name if goals else None


def viewability_threshold(site: Site) -> float:
    """The share of page views below which an element present often enough is `not_seen`."""
    value = site.settings.get("viewability_threshold", DEFAULT_VIEWABILITY_THRESHOLD)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        return DEFAULT_VIEWABILITY_THRESHOLD
    return float(value)


@dataclass
class FunnelCounts:
    """Presence and the goal's conversions per row key ((element,), (element, variant), ...)."""

    goal: str | None
    present: dict[tuple[str, ...], int] = field(default_factory=dict)
    goal_counts: dict[tuple[str, ...], tuple[int, int, float]] = field(default_factory=dict)

    @classmethod
    async def read(
        cls,
        storage: Storage,
        site: str,
        goal: str | None,
        hour_from: int,
        hour_to: int,
        keys: Sequence[str],
        element: str | None = None,
        variant: str | None = None,
        page: str | None = None,
    ) -> FunnelCounts:
        present_read = storage.presence(site, hour_from, hour_to, keys, element, variant, page)
        if goal is None:
            return cls(goal, await present_read)
        # Two reads side by side rather than one UNION of both: measured, the UNION costs SQLite
        # more than the two narrow reads together (bench/dashboard.py).
        present, counts = await asyncio.gather(
            present_read, storage.goal_counts(site, goal, hour_from, hour_to, keys, element, variant, page)
        )
        return cls(goal, present, counts)

    def attributed(self) -> int:
        """Conversions credited to some element (element '' holds the others)."""
        return sum(c[0] for key, c in self.goal_counts.items() if key[0])

    def unattributed(self) -> int:
        return sum(c[0] for key, c in self.goal_counts.items() if not key[0])


def site_post_click_rate(attributed: int, clicks: int, goal: str | None) -> float | None:
    """The site's attributed conversions ÷ its clicks, for the chosen goal (None: no goal)."""
    if goal is None:
        return None
    return attributed / clicks if clicks else 0.0


def funnel_fields(
    row: dict[str, Any],
    present: int,
    goal_counts: tuple[int, int, float] | None,
    goal: str | None,
    site_rate: float | None,
    min_impressions: int,
    threshold: float = DEFAULT_VIEWABILITY_THRESHOLD,
) -> dict[str, Any]:
    """The funnel columns of a row that has `impressions`, `clicks` and `rating`.

    Present is at least the impressions: an element given its own variant by
    `data-ctr-variant` is reported present under the page's variant (a page view's report names
    elements only), so a cell of its own variant may hold impressions without presence.
    """
    impressions, clicks = row["impressions"], row["clicks"]
    present = max(present, impressions)
    view_low, view_high = wilson_interval(impressions, present)
    fields: dict[str, Any] = {
        "present": present,
        "viewability_rate": impressions / present if present else 0.0,
        "viewability_low": view_low,
        "viewability_high": view_high,
    }
    conversions, assisted, value = goal_counts or (0, 0, 0.0)
    if goal is None:
        fields.update(dict.fromkeys(FUNNEL_COLUMNS[4:12]))
    else:
        low, high = post_click_interval(conversions, clicks)
        fields.update(
            conversions=conversions,
            assisted=assisted,
            post_click_rate=conversions / clicks if clicks else 0.0,
            post_click_low=low,
            post_click_high=high,
            conversions_per_1000=1000 * conversions / impressions if impressions else 0.0,
            conversion_value=value,
            value_per_1000=1000 * value / impressions if impressions else 0.0,
        )
    counts = Funnel(present, impressions, clicks, conversions)
    verdict = diagnose(counts, row["rating"], site_rate, min_impressions, threshold)
    fields.update(diagnosis=verdict.diagnosis, diagnosis_text=verdict.sentence)
    return fields


#: The funnel's steps, as the element page draws them.
STEPS = ("present", "impressions", "clicks", "conversions")
STEP_LABELS = {"present": "Present", "impressions": "Seen", "clicks": "Clicked", "conversions": "Converted"}


async def element_funnel(
    storage: Storage,
    site: Site,
    name: str,
    goal: str | None,
    hour_from: int,
    hour_to: int,
    variant: str | None = None,
    page: str | None = None,
) -> list[dict[str, Any]]:
    """One element's funnel per variant (present -> seen -> clicked -> converted), each step with
    its share of the one before and the bar width (0 to 1, of the variant's present) to draw."""
    cells, counts = await asyncio.gather(
        storage.element_cells(site.key, hour_from, hour_to, element=name),
        FunnelCounts.read(
            storage, site.key, goal, hour_from, hour_to, ("element", "variant"), name, variant, page
        ),
    )
    seen: dict[str, list[int]] = {}
    for cell in cells:
        if (variant is None or cell["variant"] == variant) and (page is None or cell["page"] == page):
            sums = seen.setdefault(cell["variant"], [0, 0])
            sums[0] += cell["impressions"]
            sums[1] += cell["clicks"]
    variants = sorted(set(seen) | {key[1] for key in counts.present})
    result = []
    for v in variants:
        impressions, clicks = seen.get(v, [0, 0])
        present = max(counts.present.get((name, v), 0), impressions)
        conversions = counts.goal_counts.get((name, v), (0, 0, 0.0))[0] if goal else None
        values = {
            "present": present, "impressions": impressions, "clicks": clicks, "conversions": conversions
        }
        steps, before = [], None
        for step in STEPS:
            value = values[step]
            if value is None:
                continue
            steps.append({
                "step": step,
                "label": STEP_LABELS[step],
                "count": value,
                "rate": (value / before if before else 0.0) if before is not None else None,
                "width": value / present if present else 0.0,
            })
            before = value
        result.append({"variant": v, **values, "steps": steps})
    return result
