"""Variant comparisons (DESIGN §4 "Variant verdicts"): control against each treatment, per element.

Arms are the element's non-empty variants; the control is the one named in the request, else
the first in alphabetical order (A before B, control before treatment). The sample-ratio check
uses the page views of each arm on the pages where the element appeared, against an even split.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import fields
from typing import Any

from ctrlens.collector.errors import InvalidRequest, NotFound
from ctrlens.collector.storage import Site, Storage
from ctrlens.dashboard.periods import Period
from ctrlens.dashboard.site_settings import rating_settings
from ctrlens.dashboard.statistics import MIN_OUTCOMES, Arm, Comparison, compare

_ROLES = ("control", "treatment")
#: Per arm, in the flat row: its counts (fields of `Arm`), then its CTR and interval (of `Comparison`).
_ARM_COUNTS = ("impressions", "clicks", "pageviews")
_ARM_COLUMNS = (*_ARM_COUNTS, "ctr", "low", "high")
#: What the test found, in `Comparison`'s order: every field that is not about one arm.
_RESULT_COLUMNS = tuple(
    f.name
    for f in fields(Comparison)
    if not f.name.startswith(_ROLES) and f.name not in ("min_impressions", "alpha")
)
#: One comparison as a flat row (the variants table and every comparison's CSV), in this order.
COMPARISON_COLUMNS = (
    "element",
    "kind",
    *_ROLES,
    *(f"{role}_{name}" for role in _ROLES for name in _ARM_COLUMNS),
    *_RESULT_COLUMNS,
    "sentence",
)


#: How the variant of events sent without one is shown and filtered.
NO_VARIANT = "(none)"


def variant_label(variant: str) -> str:
    return variant or NO_VARIANT


def flat(element: str, kind: str, control: str, treatment: str, c: Comparison) -> dict[str, Any]:
    """One comparison as a flat row of COMPARISON_COLUMNS."""
    row: dict[str, Any] = {"element": element, "kind": kind, "control": control, "treatment": treatment}
    for role, arm in (("control", c.control), ("treatment", c.treatment)):
        row.update((f"{role}_{name}", getattr(arm, name)) for name in _ARM_COUNTS)
        row.update((f"{role}_{name}", getattr(c, f"{role}_{name}")) for name in ("ctr", "low", "high"))
    row.update((name, getattr(c, name)) for name in _RESULT_COLUMNS)
    row["sentence"] = summary_sentence(element, c, variant_label(control), variant_label(treatment))
    return row


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
    _, min_impressions = rating_settings(site)
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
    rows.sort(
        key=lambda r: (-(r["control_impressions"] + r["treatment_impressions"]), r["element"], r["treatment"])
    )
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
    _, min_impressions = rating_settings(site)
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


# -- the verdict in words ----------------------------------------------------------------------


def _percent(fraction: float) -> str:
    """A percentage for prose: whole numbers, one decimal below 10%, never a misleading 0 or 100."""
    value = abs(fraction) * 100.0
    if value == 0.0:
        return "0%"
    if value < 0.1:
        return "under 0.1%"
    if value < 10.0:
        text = f"{value:.1f}"
        return (text.removesuffix(".0")) + "%"
    return f"{value:.0f}%"


def _chance(probability: float) -> str:
    value = probability * 100.0
    if value > 99.9:
        return "over 99.9%"
    if value < 0.1:
        return "under 0.1%"
    rounded = round(value)
    if rounded in (0, 100):
        return f"{value:.1f}%"
    return f"{rounded}%"


def summary_sentence(element: str, comparison: Comparison, control_name: str, treatment_name: str) -> str:
    """One plain-language sentence for the compare page, e.g.

    "B's hero-signup gets 31% more clicks per impression than A; 97% chance B is better;
    not yet significant at 5%."
    """
    c, t = comparison, treatment_name
    if c.verdict == "insufficient":
        needed = f"{c.min_impressions:,} impressions, {MIN_OUTCOMES} clicks and {MIN_OUTCOMES} non-clicks"

        def counts(name: str, arm: Arm) -> str:
            return f"{name} has {arm.impressions:,} impressions and {arm.clicks:,} clicks"

        return (
            f"Not enough data yet: {element} needs at least {needed} in each variant "
            f"({counts(control_name, c.control)}, {counts(t, c.treatment)})."
        )

    if c.lift_abs == 0:
        effect = (
            f"{t}'s {element} gets as many clicks per impression as {control_name} "
            f"({_percent(c.control_ctr)} CTR)"
        )
    elif c.lift_rel is None:
        effect = f"{t}'s {element} gets {_percent(c.treatment_ctr)} CTR, against none for {control_name}"
    else:
        direction = "more" if c.lift_abs > 0 else "fewer"
        effect = (
            f"{t}'s {element} gets {_percent(c.lift_rel)} {direction} clicks per impression "
            f"than {control_name}"
        )

    if c.chance_to_beat >= 0.495:  # what rounds to 50% reads better as "50% chance B is better"
        chance = f"{_chance(c.chance_to_beat)} chance {t} is better"
    else:
        chance = f"{_chance(1.0 - c.chance_to_beat)} chance {control_name} is better"

    level = _percent(c.alpha)
    if c.verdict in ("winner", "loser"):
        significance = f"significant at {level} ({_p_text(c.p_value)})"
    else:
        significance = f"not yet significant at {level}"

    sentence = f"{effect}; {chance}; {significance}."
    if c.srm_warning:
        sentence += (
            f" Warning: the page views are not split between {control_name} and {t} as planned "
            f"(sample ratio mismatch, {_p_text(c.srm_p_value)}), so the result may be biased."
        )
    return sentence


def _p_text(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
