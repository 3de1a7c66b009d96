"""Variant comparisons (docs/design.md §4 "Variant verdicts"): control against each treatment,
per element, judged as the site's experiment (experiment_settings.py) says.

Arms are the element's non-empty variants (only the declared ones when the site declares its
variants); the control is the one named in the request, else the experiment's first variant,
else the first in alphabetical order. Each arm's counts come with their visitor-day moments
(storage's `variant_moments`), so every interval and test is clustered by visitor-day. The
sample-ratio check uses the page views of each arm on the pages where the element appeared,
against the planned split (even when none is declared).

On the metric `conversions_per_impression` of a goal, an arm's successes are the goal's
conversions credited to the element by last click (docs/design.md §3), counted for the visitor-day
of the credited click (storage's `variant_goal_moments`), over the same impressions: the same
variance, test, correction and decision as CTR. The rows then carry the conversions in `*_clicks`
and their rate per impression in `*_ctr`, and say so in `metric` and `goal`.

Visitor-days are UTC days, so an experiment is read in whole UTC days: for a site in another time
zone, the UTC days its local period overlaps (the page says so).

Every comparison shown together (all elements × treatments of one report) is adjusted for
multiple testing as the experiment's `correction` says; the compare API answers with the same
adjustment as the variants page, so the two never disagree.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from starlette.concurrency import run_in_threadpool

from ctrlens.collector.errors import InvalidRequest, NotFound
from ctrlens.collector.storage import Site, Storage
from ctrlens.dashboard.experiment_settings import Experiment
from ctrlens.dashboard.funnel import choose_goal
from ctrlens.dashboard.inference import Moments, adjust
from ctrlens.dashboard.periods import MAX_DAYS, Period, parse_period
from ctrlens.dashboard.site_settings import rating_settings, site_timezone
from ctrlens.dashboard.statistics import (
    MIN_OUTCOMES,
    Arm,
    Comparison,
    DifferenceTest,
    compare,
    difference_test,
)

_ROLES = ("control", "treatment")
DAY = 86400
#: Per arm, in the flat row: its counts, then its CTR and interval (of `Comparison`).
_ARM_COUNTS = ("impressions", "clicks", "pageviews", "visitors")
_ARM_COLUMNS = (*_ARM_COUNTS, "ctr", "low", "high")
#: What the test found, in `Comparison`'s order: every field that is not about one arm.
_RESULT_COLUMNS = tuple(
    f.name
    for f in fields(Comparison)
    if not f.name.startswith(_ROLES) and f.name not in ("min_impressions", "alpha")
)
#: The metric beside the experiment's (`Judged.secondary`): for context, never the verdict.
SECONDARY_COLUMNS = (
    "secondary_metric",
    "secondary_goal",
    "control_secondary_count",
    "control_secondary_rate",
    "treatment_secondary_count",
    "treatment_secondary_rate",
    "secondary_lift_rel",
    "secondary_diff_low",
    "secondary_diff_high",
    "secondary_p_value",
    "metrics_disagree",
    "secondary_sentence",
)
#: One comparison as a flat row (the variants table and every comparison's CSV), in this order.
COMPARISON_COLUMNS = (
    "element",
    "kind",
    *_ROLES,
    *(f"{role}_{name}" for role in _ROLES for name in _ARM_COLUMNS),
    *_RESULT_COLUMNS,
    "metric",
    "goal",
    "sentence",
    *SECONDARY_COLUMNS,
)

CORRECTION_NAMES = {"bh": "Benjamini–Hochberg", "holm": "Holm", "none": "no correction"}
INFERENCE_NAMES = {"always_valid": "always valid", "fixed_horizon": "fixed horizon"}
DECISION_LABELS = {
    "ship": "Ship it",
    "keep_control": "Keep the control",
    "keep_running": "Keep running",
    "no_meaningful_difference": "No meaningful difference",
    "fix_split": "Fix the split",
}


#: How the variant of events sent without one is shown and filtered.
NO_VARIANT = "(none)"


def variant_label(variant: str) -> str:
    return variant or NO_VARIANT


def flat(
    element: str, kind: str, control: str, treatment: str, c: Comparison, experiment: Experiment | None = None
) -> dict[str, Any]:
    """One comparison as a flat row of COMPARISON_COLUMNS."""
    experiment = experiment or Experiment()
    row: dict[str, Any] = {"element": element, "kind": kind, "control": control, "treatment": treatment}
    for role, arm in (("control", c.control), ("treatment", c.treatment)):
        row.update((f"{role}_{name}", getattr(arm, name)) for name in _ARM_COUNTS)
        row.update((f"{role}_{name}", getattr(c, f"{role}_{name}")) for name in ("ctr", "low", "high"))
    row.update((name, getattr(c, name)) for name in _RESULT_COLUMNS)
    row["metric"], row["goal"] = experiment.metric, experiment.goal
    row["sentence"] = summary_sentence(
        element, c, variant_label(control), variant_label(treatment), _outcomes(experiment)
    )
    return row


def experiment_days(period: Period) -> tuple[int, int]:
    """The UTC days [first, last] an experiment is read over for `period` (visitor-days are UTC days)."""
    return period.day_from, period.day_to


def default_period(
    site: Site, experiment: Experiment, first_day: int | None, today: date | None = None
) -> Period:
    """The period an experiment is read over when the request names none: since the experiment's
    start, else since the first day with data, to today (at most periods.MAX_DAYS)."""
    tz = site_timezone(site)
    today = today or datetime.now(ZoneInfo(tz)).date()
    start = experiment.start
    if start is None and first_day is not None:
        start = date(1970, 1, 1) + timedelta(days=first_day)
    if start is None or start > today:
        start = today
    start = max(start, today - timedelta(days=MAX_DAYS))
    return Period(start, today, tz)


def method_json(experiment: Experiment, period: Period) -> dict[str, Any]:
    """How a report's comparisons were judged: the variants and compare answers, and `ctrlens report
    --variants`, start with it."""
    return {
        "inference": experiment.inference,
        "correction": experiment.correction,
        "smallest_effect": experiment.smallest_effect,
        # Which rate the arms are compared on: `*_clicks`/`*_ctr` hold the goal's conversions and
        # their rate per impression under conversions_per_impression (this module's docstring).
        "metric": experiment.metric,
        "goal": experiment.goal,
        "experiment": experiment.to_json(),
        # Visitor-days are UTC days: a site in another zone is read over the UTC days its period overlaps.
        "day_from_utc": period.day_from,
        "day_to_utc": period.day_to,
    }


async def experiment_period(
    storage: Storage, site: Site, experiment: Experiment, params: dict[str, str]
) -> Period:
    """The request's period if it names one (`from`, `to`, `period`), else `default_period`."""
    if any(params.get(k) for k in ("from", "to", "period")):
        return parse_period(params, site_timezone(site))
    return default_period(site, experiment, await storage.first_moments_day(site.key))


class _Arms:
    """Per element: moments and page views per variant, its kind and the pages it appeared on.

    The tests need the moments only; the pages (for each arm's page views, the sample-ratio check)
    and kinds are read for the elements whose comparisons are shown (`add_pages`), since reading
    them for every element cost as much as the moments at 10M events (docs/performance.md).

    `moments` hold the experiment's metric (clicks, or the goal's conversions, per impression);
    `secondary` the other one when the site has a goal: the page shows both, because a variant
    can lift CTR and lower conversions (docs/design.md §4 "Variant verdicts")."""

    def __init__(
        self,
        pageviews: dict[tuple[str, str], int],
        moments: Sequence[Any],
        experiment: Experiment,
        days_so_far: float,
        goal_moments: Sequence[Any] = (),
        goal: str | None = None,
    ) -> None:
        self.pageviews = pageviews
        self.experiment = experiment
        self.days_so_far = days_so_far
        self.moments: dict[str, dict[str, Moments]] = defaultdict(dict)
        self.secondary: dict[str, dict[str, Moments]] = defaultdict(dict)
        self.pages: dict[str, set[str]] = {}
        self._arms: dict[tuple[str, str, bool], Arm] = {}
        self._tested: dict[tuple[str, str], Arm] = {}
        self.kinds: dict[str, str] = {}
        on_goal = experiment.metric == "conversions_per_impression"
        #: The metric beside the experiment's: CTR, or a goal's conversions per impression.
        self.secondary_metric = "ctr" if on_goal else "conversions_per_impression" if goal else None
        self.secondary_goal = None if on_goal else goal
        by_goal = {(g.element, g.variant): g for g in goal_moments}
        for m in moments:
            clicks = Moments(
                m.clusters, m.impressions, m.clicks, m.impressions_sq, m.clicks_sq, m.cross_products
            )
            converted = None
            if goal is not None:
                # Conversions over the same impressions: K, ΣK², ΣN·K in place of C, ΣC², ΣN·C.
                g = by_goal.get((m.element, m.variant))
                successes = (g.conversions, g.conversions_sq, g.cross_products) if g else (0, 0, 0)
                converted = Moments(
                    m.clusters, m.impressions, successes[0], m.impressions_sq, successes[1], successes[2]
                )
            primary, other = (converted, clicks) if on_goal else (clicks, converted)
            self.moments[m.element][m.variant] = primary if primary is not None else clicks
            if other is not None:
                self.secondary[m.element][m.variant] = other

    def elements(self) -> list[str]:
        return sorted(self.moments)

    def variants(self, element: str) -> list[str]:
        """The element's arms: declared ones in their order, else every named variant A to Z."""
        seen = self.moments.get(element, {})
        if self.experiment.variants:
            return [v for v in self.experiment.names() if v in seen]
        return sorted(v for v in seen if v)

    def control(self, element: str, requested: str | None) -> str:
        variants = self.variants(element)
        for name in (requested, self.experiment.control):
            if name is not None and name in variants:
                return name
        return variants[0]

    def add_pages(self, rows: Sequence[tuple[str, str, str]], elements: Sequence[str]) -> None:
        """The (element, page, kind) rows read for `elements` (storage's `element_pages`)."""
        for element in elements:
            self.pages.setdefault(element, set())
        for element, page, kind in rows:
            self.pages.setdefault(element, set()).add(page)
            self.kinds[element] = kind

    def tested(self, element: str, variant: str) -> Arm:
        """The arm as the test sees it: its moments (the page views play no part in a test)."""
        arm = self._tested.get((element, variant))
        if arm is None:
            arm = self._tested[(element, variant)] = Arm(self.moments[element][variant])
        return arm

    def arm(self, element: str, variant: str, secondary: bool = False) -> Arm:
        """The arm with its page views: after `add_pages` for the element."""
        arm = self._arms.get((element, variant, secondary))
        if arm is None:
            views = sum(self.pageviews.get((variant, page), 0) for page in self.pages[element])
            moments = (self.secondary if secondary else self.moments)[element][variant]
            arm = self._arms[(element, variant, secondary)] = Arm(moments, views)
        return arm


async def _arms(
    storage: Storage, site: Site, period: Period, experiment: Experiment, element: str | None = None
) -> _Arms:
    day_from, day_to = experiment_days(period)
    # The experiment's goal, else (for the conversions shown beside CTR) the site's first goal:
    # known first (one short read), so that its moments are read beside the others.
    goal = experiment.goal
    if experiment.metric != "conversions_per_impression" and goal is None:
        goal = choose_goal(None, [g for g in await storage.goals(site.key) if g.defined])
    pageviews, moments, first_day, goal_moments = await asyncio.gather(
        storage.experiment_pageviews(site.key, day_from, day_to),
        storage.variant_moments(site.key, day_from, day_to, element=element),
        storage.first_moments_day(site.key),
        storage.variant_goal_moments(site.key, goal, day_from, day_to, element=element)
        if goal is not None
        else _no_moments(),
    )
    # Days of traffic behind the counts: from the first day with data (or the period's start) to
    # today (or the period's end), for the days-to-a-decision projection.
    today = int(time.time()) // DAY
    start = max(day_from, first_day if first_day is not None else day_from)
    days_so_far = float(max(0, min(day_to, today) - start + 1))
    return _Arms(pageviews, moments, experiment, days_so_far, goal_moments, goal)


async def _no_moments() -> Sequence[Any]:
    return ()


@dataclass(frozen=True)
class Pair:
    element: str
    control: str
    treatment: str


def _pairs(arms: _Arms, control: str | None) -> list[Pair]:
    pairs: list[Pair] = []
    for element in arms.elements():
        variants = arms.variants(element)
        if len(variants) < 2:
            continue
        base = arms.control(element, control)
        pairs.extend(Pair(element, base, t) for t in variants if t != base)
    return pairs


class Judged:
    """Every comparison of a report, tested and adjusted together (the correction's family is
    all of them, however many a page shows), busiest first; the full comparison, its row and
    sentence are made only for the rows asked for."""

    def __init__(
        self,
        storage: Storage,
        site: Site,
        period: Period,
        arms: _Arms,
        pairs: list[Pair],
        experiment: Experiment,
    ) -> None:
        self.storage, self.site, self.period = storage, site, period
        self.arms, self.experiment = arms, experiment
        self.min_impressions = rating_settings(site)[1]
        tests = [
            difference_test(
                arms.tested(pair.element, pair.control),
                arms.tested(pair.element, pair.treatment),
                experiment.smallest_effect,
                experiment.inference,
            )
            for pair in pairs
        ]
        adjusted = adjust([t.p_value for t in tests], experiment.correction)

        def traffic(i: int) -> tuple[int, str, str]:
            pair = pairs[i]
            seen = arms.tested(pair.element, pair.control).impressions
            seen += arms.tested(pair.element, pair.treatment).impressions
            return (-seen, pair.element, pair.treatment)

        # The elements with the most traffic first: their verdicts matter most and settle first.
        order = sorted(range(len(pairs)), key=traffic)
        self.pairs = [pairs[i] for i in order]
        self._tests = {pairs[i]: (tests[i], adjusted[i]) for i in order}

    def __len__(self) -> int:
        return len(self.pairs)

    def arm_names(self) -> list[str]:
        """Every variant in a comparison, A to Z: the control picker's choices."""
        return sorted({name for pair in self.pairs for name in (pair.control, pair.treatment)})

    def comparison(self, pair: Pair) -> Comparison:
        test, p_adjusted = self._tests[pair]
        experiment, arms = self.experiment, self.arms
        return compare(
            arms.arm(pair.element, pair.control),
            arms.arm(pair.element, pair.treatment),
            self.min_impressions,
            expected_share_b=experiment.treatment_share(pair.control, pair.treatment),
            smallest_effect=experiment.smallest_effect,
            inference_name=experiment.inference,
            p_adjusted=p_adjusted,
            correction=experiment.correction,
            days_so_far=arms.days_so_far,
            test=test,
        )

    def secondary(self, pair: Pair) -> dict[str, Any]:
        """The other metric of the pair (CTR, or conversions per impression), for context: its
        rates, relative lift and interval of the difference, unadjusted and never the verdict."""
        arms = self.arms
        if arms.secondary_metric is None or pair.element not in arms.secondary:
            return dict.fromkeys(SECONDARY_COLUMNS) | {"secondary_metric": arms.secondary_metric}
        control = arms.arm(pair.element, pair.control, secondary=True)
        treatment = arms.arm(pair.element, pair.treatment, secondary=True)
        test = difference_test(control, treatment, self.experiment.smallest_effect, self.experiment.inference)
        primary = arms.arm(pair.element, pair.treatment).ctr - arms.arm(pair.element, pair.control).ctr
        # The other metric's interval lies wholly on the other side of zero from the primary lift.
        disagree = (primary > 0 and test.high < 0) or (primary < 0 and test.low > 0)
        return {
            "secondary_metric": arms.secondary_metric,
            "secondary_goal": arms.secondary_goal,
            "control_secondary_count": control.clicks,
            "control_secondary_rate": control.ctr,
            "treatment_secondary_count": treatment.clicks,
            "treatment_secondary_rate": treatment.ctr,
            "secondary_lift_rel": test.difference / control.ctr if control.ctr > 0 else None,
            "secondary_diff_low": test.low,
            "secondary_diff_high": test.high,
            "secondary_p_value": test.p_value,
            "metrics_disagree": disagree,
            "secondary_sentence": _secondary_sentence(
                arms.secondary_metric, arms.secondary_goal, self.experiment, pair, primary, test, disagree
            ),
        }

    def row(self, pair: Pair, c: Comparison | None = None) -> dict[str, Any]:
        c = c or self.comparison(pair)
        row = flat(pair.element, self.arms.kinds.get(pair.element, ""), pair.control, pair.treatment, c,
                   self.experiment)
        row.update(self.secondary(pair))
        return row

    async def load(self, pairs: Sequence[Pair]) -> None:
        """Read the pages and kinds of the elements of `pairs` (all of them for a whole report)."""
        wanted = sorted({pair.element for pair in pairs} - set(self.arms.pages))
        if not wanted:
            return
        day_from, day_to = experiment_days(self.period)
        # A whole report (alerts, CSV) reads every element's at once, without a list of names.
        every = len(wanted) == len({pair.element for pair in self.pairs})
        rows = await self.storage.element_pages(self.site.key, day_from, day_to, None if every else wanted)
        self.arms.add_pages(rows, wanted)

    async def rows(self, offset: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        """The comparisons [offset, offset + limit) in full, busiest first (all without a limit)."""
        end = len(self.pairs) if limit is None else offset + limit
        shown = self.pairs[offset:end]
        await self.load(shown)
        # The statistics and sentences of a long page off the event loop (docs/design.md §3).
        return await run_in_threadpool(lambda: [self.row(pair) for pair in shown])


async def judged_report(
    storage: Storage, site: Site, period: Period, experiment: Experiment, control: str | None = None
) -> Judged:
    """Every element seen in two or more variants: each treatment against the control."""
    arms = await _arms(storage, site, period, experiment)
    return Judged(storage, site, period, arms, _pairs(arms, control), experiment)


async def variant_report(
    storage: Storage, site: Site, period: Period, experiment: Experiment, control: str | None = None
) -> list[dict[str, Any]]:
    """Every element seen in two or more variants: one row per treatment against the control."""
    return await (await judged_report(storage, site, period, experiment, control)).rows()


async def comparison(
    storage: Storage,
    site: Site,
    period: Period,
    experiment: Experiment,
    element: str,
    control: str | None = None,
    treatment: str | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The compare API: `Comparison.to_dict()` plus the names and the plain-language sentence,
    and the same comparison as one flat row (its CSV). Adjusted as on the variants page with
    the same control."""
    arms = await _arms(storage, site, period, experiment)
    variants = arms.variants(element)
    if not variants:
        raise NotFound(f"element {element!r} has no impressions with a variant in this period")
    control = control if control is not None else arms.control(element, None)
    if treatment is None:
        others = [v for v in variants if v != control]
        if not others:
            raise InvalidRequest(f"element {element!r} was seen in one variant only; nothing to compare")
        treatment = others[0]
    for name in (control, treatment):
        if name not in variants:
            raise NotFound(f"element {element!r} has no impressions in variant {name!r} in this period")
    if control == treatment:
        raise InvalidRequest("control and treatment must be different variants")
    # The family is the variants page's with this control, plus this pair if the page has no
    # such row (a treatment compared with another treatment).
    pairs = _pairs(arms, control)
    wanted = Pair(element, control, treatment)
    if wanted not in pairs:
        pairs.append(wanted)
    judged = Judged(storage, site, period, arms, pairs, experiment)
    await judged.load([wanted])
    c = judged.comparison(wanted)
    row = judged.row(wanted, c)
    return {
        "element": element,
        "kind": row["kind"],
        "control_variant": control,
        "treatment_variant": treatment,
        "variants": variants,
        "comparisons": len(pairs),
        "metric": experiment.metric,
        "goal": experiment.goal,
        **c.to_dict(),
        "secondary": {k: row[k] for k in SECONDARY_COLUMNS},
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


@dataclass(frozen=True)
class Outcomes:
    """How the sentences name an arm's successes: clicks, or a goal's conversions."""

    plural: str  # "clicks"
    others: str  # "non-clicks"
    rate: str  # "CTR"


CLICKS = Outcomes("clicks", "non-clicks", "CTR")


def _outcomes(experiment: Experiment) -> Outcomes:
    if experiment.metric == "conversions_per_impression":
        name = f"{experiment.goal} conversions"
        return Outcomes(name, "impressions without one", f"{name} per impression")
    return CLICKS


def summary_sentence(
    element: str,
    comparison: Comparison,
    control_name: str,
    treatment_name: str,
    outcomes: Outcomes = CLICKS,
) -> str:
    """Plain words for the compare page: the effect, how sure, and what to do, e.g.

    "B's hero-signup gets 31% more clicks per impression than A; 97% chance B is better; not yet
    significant at 5%. Keep the test running: about 12 more days at the current traffic to tell."
    """
    c, t, o = comparison, treatment_name, outcomes
    if c.verdict == "insufficient":
        needed = f"{c.min_impressions:,} impressions, {MIN_OUTCOMES} {o.plural} and {MIN_OUTCOMES} {o.others}"

        def counts(name: str, arm: Arm) -> str:
            return f"{name} has {arm.impressions:,} impressions and {arm.clicks:,} {o.plural}"

        sentence = (
            f"Not enough data yet: {element} needs at least {needed} in each variant "
            f"({counts(control_name, c.control)}, {counts(t, c.treatment)})."
        )
        if c.srm_warning:
            sentence += " " + _advice(c, control_name, t)
        return sentence

    if c.lift_abs == 0:
        effect = (
            f"{t}'s {element} gets as many {o.plural} per impression as {control_name} "
            f"({_percent(c.control_ctr)} {o.rate})"
        )
    elif c.lift_rel is None:
        effect = f"{t}'s {element} gets {_percent(c.treatment_ctr)} {o.rate}, against none for {control_name}"
    else:
        direction = "more" if c.lift_abs > 0 else "fewer"
        effect = (
            f"{t}'s {element} gets {_percent(c.lift_rel)} {direction} {o.plural} per impression "
            f"than {control_name}"
        )

    if c.chance_to_beat >= 0.495:  # what rounds to 50% reads better as "50% chance B is better"
        chance = f"{_chance(c.chance_to_beat)} chance {t} is better"
    else:
        chance = f"{_chance(1.0 - c.chance_to_beat)} chance {control_name} is better"

    level = _percent(c.alpha)
    if c.verdict in ("winner", "loser"):
        significance = f"significant at {level} ({_p_text(c.p_adjusted)})"
    else:
        significance = f"not yet significant at {level}"
    return f"{effect}; {chance}; {significance}. {_advice(c, control_name, t)}"


def _advice(c: Comparison, control_name: str, t: str) -> str:
    """What to do, and why, in one or two sentences."""
    effect = _percent(c.smallest_effect)
    reading = "however often this page is read"
    if c.inference == "fixed_horizon":
        reading = "if this is the one planned reading"
    alarm = f"with at most a {_percent(c.alpha)} chance of a false alarm {reading}"
    if c.decision == "fix_split":
        return (
            f"Fix the split first: the page views are not split between {control_name} and {t} as "
            f"planned (sample ratio mismatch, {_p_text(c.srm_p_value)}), so the result may be biased."
        )
    if c.decision == "ship":
        return f"Ship {t}: it does better, {alarm}."
    if c.decision == "keep_control":
        return f"Keep {control_name}: {t} does worse, {alarm}."
    if c.decision == "no_meaningful_difference":
        return (
            f"Stop the test: any difference is smaller than the {effect} worth detecting; "
            "keep whichever version you prefer."
        )
    if c.verdict == "insufficient":
        return "Keep the test running."
    if c.days_to_decision is None:
        return (
            f"Keep the test running, but at the current traffic it would take over a year to tell a "
            f"{effect} difference from none: test a bolder change, or on a busier page."
        )
    days = max(1, round(c.days_to_decision))
    return (
        f"Keep the test running: about {days:,} more day{'s' if days != 1 else ''} at the current "
        f"traffic to tell a {effect} difference from none."
    )


def _secondary_sentence(
    metric: str, goal: str | None, experiment: Experiment, pair: Pair, primary: float,
    test: DifferenceTest, disagree: bool,
) -> str:
    """The other metric in words, and a warning when it goes the other way."""
    other = "clicks" if metric == "ctr" else f"{goal} conversions"
    mine = _outcomes(experiment).plural
    t, control = variant_label(pair.treatment), variant_label(pair.control)
    interval = f"{_points(test.low)} to {_points(test.high)} points"
    if disagree:
        more, fewer = ("more", "fewer") if primary > 0 else ("fewer", "more")
        return (
            f"Careful: {t} gets {more} {mine} per impression than {control}, but {fewer} {other} "
            f"per impression ({interval}): check which of the two the business needs before acting."
        )
    return f"{other.capitalize()} per impression, {t} minus {control}: {interval}."


def _points(difference: float) -> str:
    """A difference of two rates in percentage points, signed, with a true minus: "−2.1"."""
    text = f"{abs(difference) * 100:.1f}"
    return text if text == "0.0" else ("+" if difference > 0 else "−") + text


def _p_text(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
