"""Good / average / poor ratings of an element's CTR, in the manner of Core Web Vitals.

Pure functions over counts (docs/design.md §4 "Ratings"). The point estimate decides the rating;
``firm`` says whether the whole 95% interval agrees with it: Wilson where each impression is one
trial, Wilson on the effective impressions (impressions ÷ the design effect of the visitor-day
clusters, statistics.design_effect) where one visitor gives several.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ctrlens.collector.events import DEFAULT_KIND, KINDS
from ctrlens.dashboard.statistics import DEFAULT_MIN_IMPRESSIONS, wilson_interval

__all__ = [
    "DEFAULT_MIN_IMPRESSIONS",
    "DEFAULT_THRESHOLDS",
    "RATINGS",
    "RATING_LABELS",
    "Rating",
    "Thresholds",
    "parse_thresholds",
    "rate",
]

RATINGS = ("good", "average", "poor", "insufficient")
#: How the dashboard and the terminal name each rating.
RATING_LABELS = {"good": "Good", "average": "Average", "poor": "Poor", "insufficient": "Insufficient data"}


@dataclass(frozen=True)
class Thresholds:
    """CTR bounds, as fractions: ``good`` or above is good, below ``poor`` is poor."""

    good: float
    poor: float


DEFAULT_THRESHOLDS: dict[str, Thresholds] = {
    "cta": Thresholds(good=0.04, poor=0.015),
    "banner": Thresholds(good=0.01, poor=0.003),
    "link": Thresholds(good=0.02, poor=0.005),
    "nav": Thresholds(good=0.03, poor=0.005),
}


@dataclass(frozen=True)
class Rating:
    rating: str
    firm: bool
    ctr: float
    low: float
    high: float


def _thresholds_for(kind: str, thresholds: Mapping[str, Thresholds] | None) -> Thresholds:
    for table in (thresholds or {}, DEFAULT_THRESHOLDS):
        if kind in table:
            return table[kind]
    # A kind the thresholds do not name is rated as the kind the snippet infers by default.
    return (thresholds or {}).get(DEFAULT_KIND, DEFAULT_THRESHOLDS[DEFAULT_KIND])


def _band(value: float, bounds: Thresholds) -> str:
    if value >= bounds.good:
        return "good"
    if value < bounds.poor:
        return "poor"
    return "average"


def rate(
    clicks: int,
    impressions: int,
    kind: str,
    thresholds: Mapping[str, Thresholds] | None = None,
    min_impressions: int = DEFAULT_MIN_IMPRESSIONS,
    design_effect: float = 1.0,
) -> Rating:
    """Rate ``clicks / impressions`` for an element of ``kind``.

    ``thresholds`` overrides the defaults per kind; kinds it does not name keep the defaults,
    and an unknown kind is rated as a banner. ``design_effect`` (at least 1) widens the interval
    for impressions clustered by visitor.
    """
    clicks = min(max(clicks, 0), max(impressions, 0))
    ctr = clicks / impressions if impressions > 0 else 0.0
    deff = max(1.0, design_effect)
    low, high = wilson_interval(clicks / deff, impressions / deff)
    if impressions < min_impressions:
        return Rating("insufficient", False, ctr, low, high)
    bounds = _thresholds_for(kind, thresholds)
    rating = _band(ctr, bounds)
    # Both ends in the same band as the point estimate; for "average" that means
    # low >= poor and high < good, which the band of each end states exactly.
    firm = _band(low, bounds) == rating and _band(high, bounds) == rating
    return Rating(rating, firm, ctr, low, high)


def _fraction(kind: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"thresholds for {kind!r}: {name} must be a number, got {value!r}")
    fraction = float(value)
    if not (math.isfinite(fraction) and 0.0 < fraction <= 1.0):
        raise ValueError(
            f"thresholds for {kind!r}: {name} must be a fraction in (0, 1] (4% is 0.04), got {fraction!r}"
        )
    return fraction


def parse_thresholds(mapping: Mapping[str, Any] | None) -> dict[str, Thresholds]:
    """Validate a site's threshold settings and merge them over the defaults.

    Accepts ``{"cta": {"good": 0.04, "poor": 0.015}, ...}``; a kind may give only one of the
    two bounds and keep the default for the other. Raises ``ValueError`` naming the problem.
    """
    result = dict(DEFAULT_THRESHOLDS)
    if mapping is None:
        return result
    if not isinstance(mapping, Mapping):
        raise ValueError(f"thresholds must be a table of kinds, got {type(mapping).__name__}")
    for kind, bounds in mapping.items():
        if kind not in DEFAULT_THRESHOLDS:
            raise ValueError(
                f"unknown element kind {kind!r} in thresholds; expected one of {', '.join(KINDS)}"
            )
        if isinstance(bounds, Thresholds):
            bounds = {"good": bounds.good, "poor": bounds.poor}
        if not isinstance(bounds, Mapping):
            raise ValueError(
                f"thresholds for {kind!r} must be a table with 'good' and 'poor', got {bounds!r}"
            )
        unknown = sorted(set(bounds) - {"good", "poor"})
        if unknown:
            names = ", ".join(map(repr, unknown))
            raise ValueError(f"thresholds for {kind!r}: unknown key(s) {names}; use 'good' and 'poor'")
        default = DEFAULT_THRESHOLDS[kind]
        good = _fraction(kind, "good", bounds.get("good", default.good))
        poor = _fraction(kind, "poor", bounds.get("poor", default.poor))
        if not good > poor:
            raise ValueError(f"thresholds for {kind!r}: good ({good}) must be greater than poor ({poor})")
        result[kind] = Thresholds(good=good, poor=poor)
    return result
