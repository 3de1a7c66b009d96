"""Variant comparisons (DESIGN §4 "Variant verdicts"): control against each treatment, per element.

Arms are the element's non-empty variants; the control is the one named in the request, else
the first in alphabetical order (A before B, control before treatment). The sample-ratio check
uses the page views of each arm on the pages where the element appeared, against an even split.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from ctrlens.collector.errors import InvalidRequest, NotFound
from ctrlens.collector.storage import Site, Storage
from ctrlens.dashboard.periods import Period
from ctrlens.dashboard.reports import site_rating_settings
from ctrlens.dashboard.statistics import Arm, Comparison, compare, summary_sentence

COMPARISON_COLUMNS = (
    "element", "kind", "control", "treatment",
    "control_impressions", "control_clicks", "control_pageviews", "control_ctr", "control_low", "control_high",
    "treatment_impressions", "treatment_clicks", "treatment_pageviews", "treatment_ctr", "treatment_low",
    "treatment_high", "lift_abs", "lift_rel", "diff_low", "diff_high", "p_value", "chance_to_beat",
    "srm_p_value", "srm_warning", "verdict", "sentence",
)


#: How the variant of events sent without one is shown and filtered.
NO_VARIANT = "(none)"


def variant_label(variant: str) -> str:
    return variant or NO_VARIANT


def flat(element: str, kind: str, control: str, treatment: str, c: Comparison) -> dict[str, Any]:
    """One comparison as a flat row: the variants table and its CSV."""
    return {
        "element": element,
        "kind": kind,
        "control": control,
        "treatment": treatment,
        "control_impressions": c.control.impressions,
        "control_clicks": c.control.clicks,
        "control_pageviews": c.control.pageviews,
        "control_ctr": c.control_ctr,
        "control_low": c.control_low,
        "control_high": c.control_high,
        "treatment_impressions": c.treatment.impressions,
        "treatment_clicks": c.treatment.clicks,
        "treatment_pageviews": c.treatment.pageviews,
        "treatment_ctr": c.treatment_ctr,
        "treatment_low": c.treatment_low,
        "treatment_high": c.treatment_high,
        "lift_abs": c.lift_abs,
        "lift_rel": c.lift_rel,
        "diff_low": c.diff_low,
        "diff_high": c.diff_high,
        "p_value": c.p_value,
        "chance_to_beat": c.chance_to_beat,
        "srm_p_value": c.srm_p_value,
        "srm_warning": c.srm_warning,
        "verdict": c.verdict,
        "sentence": summary_sentence(element, c, variant_label(control), variant_label(treatment)),
    }


class _Arms:
    """Per element: clicks and impressions per variant, and the pages it appeared on."""

    def __init__(self, cells: list[dict[str, Any]], pageviews: dict[tuple[str, str], int]) -> None:
        self.pageviews = pageviews
        self.counts: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
        self.pages: dict[str, set[str]] = defaultdict(set)
        self.kinds: dict[str, str] = {}
        for c in cells:
            arm = self.counts[c["element"]][c["variant"]]
            arm[0] += c["clicks"]
            arm[1] += c["impressions"]
            self.pages[c["element"]].add(c["page"])
            self.kinds[c["element"]] = c["kind"]

    def variants(self, element: str) -> list[str]:
        return sorted(v for v in self.counts.get(element, {}) if v)

    def arm(self, element: str, variant: str) -> Arm:
        clicks, impressions = self.counts[element][variant]
        views = sum(self.pageviews.get((variant, page), 0) for page in self.pages[element])
        return Arm(clicks=clicks, impressions=impressions, pageviews=views)


async def _arms(storage: Storage, site: Site, period: Period, element: str | None = None) -> _Arms:
    cells, pageviews = await asyncio.gather(
        storage.element_cells(site.key, period.hour_from, period.hour_to, element=element),
        storage.pageview_counts(site.key, period.hour_from, period.hour_to),
    )
    return _Arms(cells, pageviews)


async def variant_report(
    storage: Storage, site: Site, period: Period, control: str | None = None
) -> list[dict[str, Any]]:
    """Every element seen in two or more variants: one row per treatment against the control."""
    _, min_impressions = site_rating_settings(site)
    arms = await _arms(storage, site, period)
    rows = []
    for element in sorted(arms.counts):
        variants = arms.variants(element)
        if len(variants) < 2:
            continue
        base = control if control in variants else variants[0]
        for treatment in variants:
            if treatment == base:
                continue
            c = compare(arms.arm(element, base), arms.arm(element, treatment), min_impressions)
            rows.append(flat(element, arms.kinds[element], base, treatment, c))
    # The elements with the most traffic first: their verdicts matter most and settle first.
    rows.sort(key=lambda r: (-(r["control_impressions"] + r["treatment_impressions"]), r["element"], r["treatment"]))
    return rows


async def comparison(
    storage: Storage,
    site: Site,
    period: Period,
    element: str,
    control: str | None = None,
    treatment: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The compare API: `Comparison.to_dict()` plus the names and the plain-language sentence,
    and the same comparison as one flat row (its CSV)."""
    _, min_impressions = site_rating_settings(site)
    arms = await _arms(storage, site, period, element)
    variants = arms.variants(element)
    if not variants:
        raise NotFound(f"element {element!r} has no impressions with a variant in this period")
    control = control or variants[0]
    if treatment is None:
        others = [v for v in variants if v != control]
        if not others:
            raise InvalidRequest(f"element {element!r} was seen in one variant only; nothing to compare")
        treatment = others[0]
    for name in (control, treatment):
        if name not in arms.counts[element]:
            raise NotFound(f"element {element!r} has no impressions in variant {name!r} in this period")
    if control == treatment:
        raise InvalidRequest("control and treatment must be different variants")
    c = compare(arms.arm(element, control), arms.arm(element, treatment), min_impressions)
    row = flat(element, arms.kinds[element], control, treatment, c)
    return {
        "element": element,
        "kind": arms.kinds[element],
        "control_variant": control,
        "treatment_variant": treatment,
        "variants": variants,
        **c.to_dict(),
        "sentence": row["sentence"],
    }, row
