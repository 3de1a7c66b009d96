"""What the overview opens on (docs/design.md §4 "Around the numbers"): the site's headline
(impressions, clicks, CTR and conversions against the comparison period) and the size of each
element's problem, the order in which they are worth fixing.

Pure functions over counts and rows, like ratings.py and diagnosis.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ctrlens.collector.events import DEFAULT_KIND
from ctrlens.dashboard.comparison import ctr_change
from ctrlens.dashboard.ratings import DEFAULT_THRESHOLDS, Thresholds
from ctrlens.dashboard.statistics import wilson_interval

#: The diagnoses a fix is worth something for; `working` and `insufficient` rows come after them.
PROBLEMS = ("not_seen", "seen_not_clicked", "clicked_not_converting")
#: What `problem_size` adds to a row, in the order the CSV export writes them.
PROBLEM_COLUMNS = ("missed_clicks", "missed_conversions")


@dataclass(frozen=True)
class Totals:
    """A site's counts over one period: clicks are clicking page views, as in every CTR."""

    impressions: int
    clicks: int
    conversions: int | None  # None: no goal chosen


def _count_change(value: int | None, before: int | None) -> dict[str, Any]:
    change = (value - before) / before if value is not None and before else None
    return {"value": value, "previous": before, "change_rel": change}


def headline(current: Totals, before: Totals, min_impressions: int) -> dict[str, Any]:
    """Each headline figure with its value in the comparison period and its change; the CTR
    with its 95% Wilson interval (site-wide, every impression one trial) and a change shown only
    when both periods have `min_impressions` (comparison.reliable)."""
    clicks = min(current.clicks, current.impressions)
    ctr = clicks / current.impressions if current.impressions else 0.0
    low, high = wilson_interval(clicks, current.impressions)
    change = ctr_change(ctr, current.impressions, (before.clicks, before.impressions), min_impressions)
    return {
        "impressions": _count_change(current.impressions, before.impressions),
        "clicks": _count_change(current.clicks, before.clicks),
        "ctr": {
            "value": ctr,
            "low": low,
            "high": high,
            "previous": change["previous_ctr"],
            "change_abs": change["change_abs"],
            "change_rel": change["change_rel"],
            "change_reliable": change["change_reliable"],
        },
        "conversions": None
        if current.conversions is None
        else _count_change(current.conversions, before.conversions),
    }


def good_ctr(kind: str, thresholds: Mapping[str, Thresholds] | None) -> float:
    """The CTR at which an element of `kind` is rated good on this site."""
    for table in (thresholds or {}, DEFAULT_THRESHOLDS):
        if kind in table:
            return table[kind].good
    return DEFAULT_THRESHOLDS[DEFAULT_KIND].good


def problem_size(
    row: Mapping[str, Any], good: float, viewability_threshold: float, site_rate: float | None
) -> dict[str, Any]:
    """The PROBLEM_COLUMNS of a diagnosed row, at the element's own traffic:

    - `seen_not_clicked`: the clicks missing to reach the good CTR on its impressions;
    - `not_seen`: the clicks the page views it should have been seen in (the viewability
      threshold's share of those that had it) would give at the good CTR;
    - `clicked_not_converting`: the conversions missing to convert its clicks at the site's
      post-click rate (`missed_clicks` stays None);
    - `working`: 0 and 0; `insufficient`: None and None (too little data to size anything).
    """
    diagnosis = row["diagnosis"]
    if diagnosis == "insufficient":
        return {"missed_clicks": None, "missed_conversions": None}
    clicks: float | None = 0.0
    conversions: float | None = 0.0 if site_rate is not None else None
    if diagnosis == "seen_not_clicked":
        clicks = row["impressions"] * good - row["clicks"]
    elif diagnosis == "not_seen":
        clicks = (viewability_threshold * row["present"] - row["impressions"]) * good
    elif diagnosis == "clicked_not_converting" and site_rate:
        clicks = None
        conversions = row["clicks"] * site_rate - (row["conversions"] or 0)
    return {
        "missed_clicks": None if clicks is None else round(max(0.0, clicks), 1),
        "missed_conversions": None if conversions is None else round(max(0.0, conversions), 1),
    }


def problem_rank(row: Mapping[str, Any], site_rate: float | None) -> tuple[int, float]:
    """Where a row sorts by problem: (0, size) for a problem, size in the clicks its fix is worth
    (missed conversions count as the clicks that would bring them at the site's post-click
    rate); (1, 0) for a healthy row; (2, 0) for one with too little data."""
    if row["diagnosis"] == "insufficient":
        return 2, 0.0
    if row["diagnosis"] not in PROBLEMS:
        return 1, 0.0
    if row.get("missed_clicks") is not None:
        return 0, float(row["missed_clicks"])
    missed = float(row.get("missed_conversions") or 0.0)
    return 0, missed / site_rate if site_rate else missed
