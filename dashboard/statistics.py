"""Statistics over click and impression counts: mathematics only.

Pure functions, standard library only, so the dashboard, the CLI and the tests can share them.
The formulas follow docs/design.md §4 and agree with statsmodels/scipy to 1e-6
(tests/test_statistics.py, tests/test_inference.py). Their wording for people (verdict
sentences) is in experiments.py.

- **Intervals of one rate.** Wilson where each unit is one trial (accounts, visitors). Where one
  visitor-day gives several impressions, the Wilson interval on the *effective* number of
  impressions: impressions ÷ the design effect, the design effect being the visitor-clustered
  variance (inference.py) over the binomial one, never below 1.
- **Two variants** (`compare`): the difference of their CTRs with the clustered variance, tested
  always-valid by default (inference.py's mixture SPRT) or, as a labelled option, once at a
  fixed horizon; a verdict, and a decision a marketer can act on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from functools import cached_property
from typing import Any

from ctrlens.dashboard import inference
from ctrlens.dashboard.inference import Moments

__all__ = [
    "DECISIONS",
    "DEFAULT_MIN_IMPRESSIONS",
    "DEFAULT_SMALLEST_EFFECT",
    "INFERENCES",
    "MIN_OUTCOMES",
    "VERDICTS",
    "Z95",
    "Arm",
    "Comparison",
    "compare",
    "design_effect",
    "difference_test",
    "srm_p_value",
    "wilson_interval",
]

#: Two-sided 95% critical value of the standard normal, ``scipy.stats.norm.isf(0.025)``.
Z95 = 1.959963984540054

#: The SRM p-value below which the split between arms is flagged as broken.
SRM_ALPHA = 0.001

#: Clicks and non-clicks each arm needs before a verdict is given (normal approximation).
MIN_OUTCOMES = 5

#: Impressions below which neither a rating nor a verdict is given (docs/design.md §4); a site
#: setting overrides it.
DEFAULT_MIN_IMPRESSIONS = 200

VERDICTS = ("winner", "loser", "inconclusive", "insufficient")
#: What to do (docs/design.md §4): `keep_control` is the project's addition for a worse treatment.
DECISIONS = ("ship", "keep_control", "keep_running", "no_meaningful_difference", "fix_split")
INFERENCES = ("always_valid", "fixed_horizon")

#: The smallest effect worth detecting, relative to the CTR (10%): tunes the always-valid test.
DEFAULT_SMALLEST_EFFECT = 0.10


def wilson_interval(successes: float, trials: float, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for ``successes / trials``; ``(0.0, 1.0)`` when there are no trials.
    Counts may be fractional: effective counts (`Arm.interval`).

    Successes are clamped to ``[0, trials]`` so a stray extra click never breaks a page.
    """
    if trials <= 0:
        return (0.0, 1.0)
    successes = min(max(successes, 0), trials)
    p = successes / trials
    z2 = z * z
    denom = 1.0 + z2 / trials
    center = (p + z2 / (2.0 * trials)) / denom
    half = z * math.sqrt(p * (1.0 - p) / trials + z2 / (4.0 * trials * trials)) / denom
    # At 0 and 100% one end is exact; rounding must not report 99.99999...% as the upper bound.
    low = 0.0 if successes == 0 else max(0.0, center - half)
    high = 1.0 if successes == trials else min(1.0, center + half)
    return (low, high)


def srm_p_value(a_pageviews: int, b_pageviews: int, expected_share_b: float = 0.5) -> float:
    """Sample-ratio-mismatch p-value: chi-square goodness of fit (df = 1) of the page views."""
    if not 0.0 < expected_share_b < 1.0:
        raise ValueError(f"expected_share_b must be between 0 and 1, got {expected_share_b!r}")
    n = a_pageviews + b_pageviews
    if n <= 0:
        return 1.0
    expected_b = n * expected_share_b
    expected_a = n - expected_b
    statistic = (a_pageviews - expected_a) ** 2 / expected_a + (b_pageviews - expected_b) ** 2 / expected_b
    # The chi-square survival function with one degree of freedom.
    return math.erfc(math.sqrt(statistic / 2.0))


def design_effect(m: Moments) -> float:
    """Clustered variance of the ratio over its binomial variance, at least 1: how many
    impressions count as one independent trial. 1 without clicks or spread to measure it by.

    Both variances without a small-sample factor, so one impression per visitor-day gives 1.
    """
    p = m.ratio
    if m.clusters < 2 or m.units <= 0 or not 0.0 < p < 1.0:
        return 1.0
    clustered = inference.ratio_variance(m) * (m.clusters - 1) / m.clusters
    ratio = clustered / (p * (1.0 - p) / m.units)
    return ratio if ratio > 1.0 + 1e-9 else 1.0  # rounding must not make a singleton cluster count


@dataclass(frozen=True)
class Arm:
    """One variant's counts for one element: its visitor-day moments and its page views."""

    moments: Moments
    pageviews: int = 0

    def __post_init__(self) -> None:
        if min(self.moments.astuple()) < 0 or self.pageviews < 0:
            raise ValueError(f"counts cannot be negative: {self!r}")

    @classmethod
    def independent(cls, clicks: int, impressions: int, pageviews: int = 0) -> Arm:
        """An arm where every impression is its own visitor-day (one trial each)."""
        clicks = min(clicks, impressions)
        return cls(Moments(impressions, impressions, clicks, impressions, clicks, clicks), pageviews)

    @property
    def clicks(self) -> int:
        return self.moments.successes

    @property
    def impressions(self) -> int:
        return self.moments.units

    @property
    def visitors(self) -> int:
        """Visitor-days with an impression: the clusters."""
        return self.moments.clusters

    @cached_property
    def ctr(self) -> float:
        return min(self.clicks, self.impressions) / self.impressions if self.impressions else 0.0

    def interval(self) -> tuple[float, float]:
        """95% interval of the CTR: Wilson on the effective number of impressions."""
        deff = design_effect(self.moments)
        return wilson_interval(min(self.clicks, self.impressions) / deff, self.impressions / deff)

    def has_enough_data(self, min_impressions: int) -> bool:
        return (
            self.impressions >= min_impressions
            and self.clicks >= MIN_OUTCOMES
            and self.impressions - self.clicks >= MIN_OUTCOMES
        )


@dataclass(frozen=True)
class DifferenceTest:
    """The treatment's CTR minus the control's, its clustered variance and the test of it."""

    difference: float
    variance: float
    tau2: float  # the mixing variance: the smallest effect worth detecting, squared (absolute)
    smallest_effect: float  # absolute (a CTR difference)
    p_value: float  # always-valid unless `inference` is fixed_horizon
    low: float
    high: float
    inference: str


def difference_test(
    control: Arm,
    treatment: Arm,
    smallest_effect: float = DEFAULT_SMALLEST_EFFECT,
    inference_name: str = "always_valid",
    alpha: float = 0.05,
) -> DifferenceTest:
    """Test "no difference" between the arms. `smallest_effect` is relative to the arms'
    combined CTR; it is the always-valid test's τ (inference.py), and the band inside which a
    difference is not worth having."""
    if inference_name not in INFERENCES:
        raise ValueError(f"inference must be one of {', '.join(INFERENCES)}")
    c, t = control.moments, treatment.moments
    units = c.units + t.units  # the pooled rate, without making the pooled moments (400 pairs a page)
    smallest = smallest_effect * ((c.successes + t.successes) / units if units else 0.0)
    tau2 = smallest * smallest
    d = treatment.ctr - control.ctr
    v = inference.ratio_variance(control.moments) + inference.ratio_variance(treatment.moments)
    if inference_name == "always_valid":
        p = inference.always_valid_p(d, v, tau2)
        low, high = inference.confidence_sequence(d, v, tau2, alpha)
    else:
        p = inference.fixed_horizon_p(d, v)
        low, high = inference.fixed_horizon_interval(d, v, inference.normal_quantile(1.0 - alpha / 2.0))
    return DifferenceTest(d, v, tau2, smallest, p, max(-1.0, low), min(1.0, high), inference_name)


@dataclass(frozen=True)
class Comparison:
    """A treatment arm against a control arm, as the compare API reports it."""

    control: Arm
    treatment: Arm
    control_ctr: float
    treatment_ctr: float
    control_low: float
    control_high: float
    treatment_low: float
    treatment_high: float
    lift_abs: float
    lift_rel: float | None
    diff_low: float
    diff_high: float
    p_value: float
    p_adjusted: float
    correction: str
    inference: str
    chance_to_beat: float
    srm_p_value: float
    srm_warning: bool
    verdict: str
    decision: str
    days_to_decision: float | None
    smallest_effect: float  # relative, as set
    min_impressions: int = DEFAULT_MIN_IMPRESSIONS
    alpha: float = 0.05

    def to_dict(self) -> dict[str, Any]:
        """Every field in order; each arm as its counts with its CTR and interval."""
        result: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        for role in ("control", "treatment"):
            arm: Arm = result[role]
            result[role] = {
                "clicks": arm.clicks,
                "impressions": arm.impressions,
                "pageviews": arm.pageviews,
                "visitors": arm.visitors,
                "ctr": arm.ctr,
                "ctr_low": result[f"{role}_low"],
                "ctr_high": result[f"{role}_high"],
            }
        return result


def compare(
    control: Arm,
    treatment: Arm,
    min_impressions: int = DEFAULT_MIN_IMPRESSIONS,
    alpha: float = 0.05,
    *,
    expected_share_b: float = 0.5,
    smallest_effect: float = DEFAULT_SMALLEST_EFFECT,
    inference_name: str = "always_valid",
    p_adjusted: float | None = None,
    correction: str = "none",
    days_so_far: float = 0.0,
    test: DifferenceTest | None = None,
) -> Comparison:
    """Compare `treatment` with `control` (docs/design.md §4 "Variant verdicts").

    `expected_share_b` is the planned share of page views for the treatment, for the SRM check;
    `p_adjusted` is this comparison's p-value adjusted with the others shown beside it
    (`correction` names how); `days_so_far`, the days of traffic behind the counts; `test`, the
    `difference_test` of these arms with these settings if it was run already.
    """
    if test is None:
        test = difference_test(control, treatment, smallest_effect, inference_name, alpha)
    adjusted = test.p_value if p_adjusted is None else p_adjusted
    srm_p = srm_p_value(control.pageviews, treatment.pageviews, expected_share_b)
    srm_warning = srm_p < SRM_ALPHA
    lift_abs = treatment.ctr - control.ctr
    lift_rel = lift_abs / control.ctr if control.ctr > 0 else None

    enough = control.has_enough_data(min_impressions) and treatment.has_enough_data(min_impressions)
    if not enough:
        verdict = "insufficient"
    elif adjusted < alpha:
        verdict = "winner" if lift_abs > 0 else "loser"
    else:
        verdict = "inconclusive"

    days: float | None = None
    if srm_warning:
        decision = "fix_split"
    elif verdict == "winner":
        decision = "ship"
    elif verdict == "loser":
        decision = "keep_control"
    elif enough and -test.smallest_effect < test.low and test.high < test.smallest_effect:
        decision = "no_meaningful_difference"
    else:
        decision = "keep_running"
        if enough:
            days = inference.days_to_decision(
                test.difference, test.variance, test.tau2, test.smallest_effect, days_so_far, alpha,
                fixed=inference_name == "fixed_horizon",
            )
    control_low, control_high = control.interval()
    treatment_low, treatment_high = treatment.interval()
    return Comparison(
        control=control,
        treatment=treatment,
        control_ctr=control.ctr,
        treatment_ctr=treatment.ctr,
        control_low=control_low,
        control_high=control_high,
        treatment_low=treatment_low,
        treatment_high=treatment_high,
        lift_abs=lift_abs,
        lift_rel=lift_rel,
        diff_low=test.low,
        diff_high=test.high,
        p_value=test.p_value,
        p_adjusted=adjusted,
        correction=correction,
        inference=inference_name,
        # The same normal and variance as the test: it leans the way the verdict goes.
        chance_to_beat=inference.chance_to_beat(test.difference, test.variance),
        srm_p_value=srm_p,
        srm_warning=srm_warning,
        verdict=verdict,
        decision=decision,
        days_to_decision=days,
        smallest_effect=smallest_effect,
        min_impressions=min_impressions,
        alpha=alpha,
    )
