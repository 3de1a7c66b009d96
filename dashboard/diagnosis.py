"""The diagnosis: which step of an element's funnel fails (docs/design.md §4 "Diagnosis").

Pure functions over counts, like ratings.py: the first match in the contract's order wins, and
each verdict comes with a sentence a marketer acts on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ctrlens.dashboard.statistics import wilson_interval

DIAGNOSES = ("not_seen", "insufficient", "seen_not_clicked", "clicked_not_converting", "working")
#: How the dashboard and the terminal name each diagnosis.
DIAGNOSIS_LABELS = {
    "not_seen": "Not seen",
    "insufficient": "Insufficient data",
    "seen_not_clicked": "Seen, not clicked",
    "clicked_not_converting": "Clicked, not converting",
    "working": "Working",
}
#: The share of the page views that had an element below which it is `not_seen` (a site setting).
DEFAULT_VIEWABILITY_THRESHOLD = 0.30


@dataclass(frozen=True)
class Funnel:
    """One element's funnel over a period, for one goal (conversions credited to it)."""

    present: int
    impressions: int
    clicks: int
    conversions: int = 0


@dataclass(frozen=True)
class Diagnosis:
    diagnosis: str
    sentence: str


def post_click_interval(conversions: int, clicks: int) -> tuple[float, float]:
    """95% Wilson interval of conversions ÷ clicks: each clicking page view is one trial (a click
    credited with several conversions counts as converted once)."""
    return wilson_interval(min(conversions, clicks), clicks)


def converts_below_site(conversions: int, clicks: int, site_rate: float | None) -> bool:
    """The whole interval of the element's post-click rate lies below the site's rate."""
    if site_rate is None or clicks <= 0:
        return False
    return post_click_interval(conversions, clicks)[1] < site_rate


def diagnose(
    funnel: Funnel,
    rating: str,
    site_post_click_rate: float | None,
    min_impressions: int,
    viewability_threshold: float = DEFAULT_VIEWABILITY_THRESHOLD,
) -> Diagnosis:
    """`rating` is the element's CTR rating (ratings.py); `site_post_click_rate` the site's
    attributed conversions ÷ clicks for the chosen goal (None: no goal chosen)."""
    present = max(funnel.present, funnel.impressions)
    viewability = funnel.impressions / present if present else 0.0
    if present >= min_impressions and viewability < viewability_threshold:
        # Whole percents rounded down: 29.97% reads "29%", under a 30% threshold, not "30%".
        return Diagnosis(
            "not_seen", f"Seen in {math.floor(viewability * 100)}% of the page views that had it: move it up."
        )
    if funnel.impressions < min_impressions:
        return Diagnosis(
            "insufficient",
            f"Not enough data yet: {funnel.impressions:,} of the {min_impressions:,} impressions needed.",
        )
    ctr = min(funnel.clicks, funnel.impressions) / funnel.impressions
    if rating == "poor":
        return Diagnosis(
            "seen_not_clicked",
            f"Seen, but clicked in only {ctr:.1%} of the page views that saw it: "
            "change the offer or its words.",
        )
    below = converts_below_site(funnel.conversions, funnel.clicks, site_post_click_rate)
    if rating in ("average", "good") and below:
        assert site_post_click_rate  # converts_below_site says it is above 0
        share = funnel.conversions / funnel.clicks / site_post_click_rate
        return Diagnosis(
            "clicked_not_converting",
            f"Clicked often, converts at {share:.0%} of the site's rate: "
            "the next page does not keep the promise.",
        )
    if site_post_click_rate is None:
        return Diagnosis("working", "Seen and clicked: working.")
    return Diagnosis("working", "Seen, clicked and converting: working.")
