"""Statistics over click and impression counts: mathematics only.

Pure functions, standard library only, so the dashboard, the CLI and the tests can share them.
The formulas follow docs/design.md §4 and agree with statsmodels/scipy to 1e-6
(tests/test_statistics.py). Their wording for people (verdict sentences) is in experiments.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

__all__ = [
    "DEFAULT_MIN_IMPRESSIONS",
    "MIN_OUTCOMES",
    "VERDICTS",
    "Z95",
    "Arm",
    "Comparison",
    "chance_to_beat",
    "compare",
    "difference_interval",
    "srm_p_value",
    "two_proportion_z_test",
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


def _normal_two_sided_p(z: float) -> float:
    # erfc keeps full relative precision far into the tail, unlike 1 - erf.
    return math.erfc(abs(z) / math.sqrt(2.0))


def wilson_interval(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for ``successes / trials``; ``(0.0, 1.0)`` when there are no trials.

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


@dataclass(frozen=True)
class Arm:
    """One variant's counts for one element."""

    clicks: int
    impressions: int
    pageviews: int = 0

    def __post_init__(self) -> None:
        if self.clicks < 0 or self.impressions < 0 or self.pageviews < 0:
            raise ValueError(f"counts cannot be negative: {self!r}")

    @property
    def effective_clicks(self) -> int:
        """Clicks capped at impressions: CTR is never above 100% (DESIGN §1)."""
        return min(self.clicks, self.impressions)

    @property
    def ctr(self) -> float:
        return self.effective_clicks / self.impressions if self.impressions else 0.0


def two_proportion_z_test(a: Arm, b: Arm) -> float:
    """Two-sided p-value of the pooled two-proportion z-test of ``b`` against ``a``.

    Returns 1.0 where the test is undefined (an arm without impressions, or every
    impression clicked / none clicked in both arms): no evidence of a difference.
    """
    if a.impressions == 0 or b.impressions == 0:
        return 1.0
    pooled = (a.effective_clicks + b.effective_clicks) / (a.impressions + b.impressions)
    variance = pooled * (1.0 - pooled) * (1.0 / a.impressions + 1.0 / b.impressions)
    if variance <= 0.0:
        return 1.0
    return _normal_two_sided_p((b.ctr - a.ctr) / math.sqrt(variance))


def difference_interval(a: Arm, b: Arm, z: float = Z95) -> tuple[float, float]:
    """Unpooled Wald interval of ``b.ctr - a.ctr``, clipped to ``[-1, 1]``.

    ``(-1.0, 1.0)`` when either arm has no impressions.
    """
    if a.impressions == 0 or b.impressions == 0:
        return (-1.0, 1.0)
    pa, pb = a.ctr, b.ctr
    half = z * math.sqrt(pa * (1.0 - pa) / a.impressions + pb * (1.0 - pb) / b.impressions)
    diff = pb - pa
    return (max(-1.0, diff - half), min(1.0, diff + half))


_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)


def _stirling_correction(x: float) -> float:
    """lgamma(x) - ((x - 1/2) log x - x + log sqrt(2 pi)), for x >= 10 (error below 1e-15)."""
    inv2 = 1.0 / (x * x)
    # The Stirling series 1/(12x) - 1/(360x^3) + 1/(1260x^5) - ..., evaluated by Horner's rule.
    series = 691.0 / 360360.0
    for coefficient in (1.0 / 1188.0, 1.0 / 1680.0, 1.0 / 1260.0, 1.0 / 360.0, 1.0 / 12.0):
        series = coefficient - inv2 * series
    return series / x


def _log_beta(a: float, b: float) -> float:
    """log B(a, b) without the cancellation of lgamma(a) + lgamma(b) - lgamma(a + b).

    With a million impressions each lgamma is about 1e7 and the naive difference loses
    nine digits; this form (R's lbeta) keeps its error proportional to the result instead.
    """
    p, q = min(a, b), max(a, b)
    if p >= 10.0:
        corr = _stirling_correction(p) + _stirling_correction(q) - _stirling_correction(p + q)
        return (
            -0.5 * math.log(q) + _LOG_SQRT_2PI + corr
            + (p - 0.5) * math.log(p / (p + q)) + q * math.log1p(-p / (p + q))
        )
    if q >= 10.0:
        corr = _stirling_correction(q) - _stirling_correction(p + q)
        return math.lgamma(p) + corr + p - p * math.log(p + q) + (q - 0.5) * math.log1p(-p / (p + q))
    return math.lgamma(p) + math.lgamma(q) - math.lgamma(p + q)


def _prob_b_beats_a(alpha_a: int, beta_a: int, alpha_b: int, beta_b: int) -> float:
    """P(X_B > X_A) for X ~ Beta(alpha, beta) with integer ``alpha_b``.

    Evan Miller's closed form, a sum of ``alpha_b`` terms
        t_i = B(alpha_a + i, beta_a + beta_b) / ((beta_b + i) B(1 + i, beta_b) B(alpha_a, beta_a)).
    The terms are unimodal in i, with t_{i+1} / t_i = r_i below. So instead of evaluating
    every term with lgamma we start at the largest one (in log space, which also avoids the
    underflow of t_0 for large counts) and walk outwards with the ratio until the terms no
    longer change the sum. For small alpha_b this is simply the whole sum; for large counts
    it touches only the few thousand terms that carry the mass.
    """
    n_terms = alpha_b
    total_ab = alpha_a + beta_a + beta_b

    def ratio(i: int) -> float:
        return (alpha_a + i) * (beta_b + i) / ((total_ab + i) * (1 + i))

    # r_i >= 1 exactly when i <= crest, so the largest term sits at ceil(crest).
    crest = (alpha_a * beta_b - alpha_a - beta_a - beta_b) / (beta_a + 1)
    peak = min(max(math.ceil(crest), 0), n_terms - 1)
    log_peak = (
        _log_beta(alpha_a + peak, beta_a + beta_b)
        - math.log(beta_b + peak)
        - _log_beta(1 + peak, beta_b)
        - _log_beta(alpha_a, beta_a)
    )

    eps = 1e-17
    total = 1.0  # the sum relative to the peak term
    term, i = 1.0, peak
    while i < n_terms - 1:
        term *= ratio(i)
        i += 1
        total += term
        if term < eps * total:
            break
    term, i = 1.0, peak
    while i > 0:
        i -= 1
        term /= ratio(i)
        total += term
        if term < eps * total:
            break
    if log_peak + math.log(total) < -745.0:  # below the smallest double
        return 0.0
    return math.exp(log_peak + math.log(total))


def chance_to_beat(a: Arm, b: Arm) -> float:
    """P(p_b > p_a) under independent Beta(1 + clicks, 1 + non-clicks) posteriors.

    Exact. Of the four equivalent forms of the closed-form sum (swap the arms, or swap
    clicks with non-clicks) we use the one with the fewest terms.
    """
    a_clicks, b_clicks = a.effective_clicks, b.effective_clicks
    alpha_a, beta_a = 1 + a_clicks, 1 + a.impressions - a_clicks
    alpha_b, beta_b = 1 + b_clicks, 1 + b.impressions - b_clicks
    shortest = min(alpha_a, beta_a, alpha_b, beta_b)
    if shortest == alpha_b:
        p = _prob_b_beats_a(alpha_a, beta_a, alpha_b, beta_b)
    elif shortest == alpha_a:
        p = 1.0 - _prob_b_beats_a(alpha_b, beta_b, alpha_a, beta_a)
    elif shortest == beta_a:
        # p_b > p_a  <=>  1 - p_a > 1 - p_b, and 1 - p ~ Beta(beta, alpha).
        p = _prob_b_beats_a(beta_b, alpha_b, beta_a, alpha_a)
    else:
        p = 1.0 - _prob_b_beats_a(beta_a, alpha_a, beta_b, alpha_b)
    return min(max(p, 0.0), 1.0)


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
    chance_to_beat: float
    srm_p_value: float
    srm_warning: bool
    verdict: str
    min_impressions: int = DEFAULT_MIN_IMPRESSIONS
    alpha: float = 0.05

    def to_dict(self) -> dict[str, Any]:
        """Every field in order; each arm as its counts with its CTR and interval."""
        result: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        for role in ("control", "treatment"):
            counts: Arm = result[role]
            result[role] = {
                **{f.name: getattr(counts, f.name) for f in fields(counts)},
                "ctr": counts.ctr,
                "ctr_low": result[f"{role}_low"],
                "ctr_high": result[f"{role}_high"],
            }
        return result


def _has_enough_data(arm: Arm, min_impressions: int) -> bool:
    clicks = arm.effective_clicks
    return (
        arm.impressions >= min_impressions
        and clicks >= MIN_OUTCOMES
        and arm.impressions - clicks >= MIN_OUTCOMES
    )


def compare(
    control: Arm,
    treatment: Arm,
    min_impressions: int = DEFAULT_MIN_IMPRESSIONS,
    alpha: float = 0.05,
    *,
    expected_share_b: float = 0.5,
) -> Comparison:
    """Compare ``treatment`` with ``control`` (DESIGN §4 "Variant verdicts").

    ``expected_share_b`` is the planned share of page views for the treatment, for the SRM check.
    """
    control_low, control_high = wilson_interval(control.effective_clicks, control.impressions)
    treatment_low, treatment_high = wilson_interval(treatment.effective_clicks, treatment.impressions)
    diff_low, diff_high = difference_interval(control, treatment)
    p_value = two_proportion_z_test(control, treatment)
    srm_p = srm_p_value(control.pageviews, treatment.pageviews, expected_share_b)
    lift_abs = treatment.ctr - control.ctr
    lift_rel = lift_abs / control.ctr if control.ctr > 0 else None

    if not (_has_enough_data(control, min_impressions) and _has_enough_data(treatment, min_impressions)):
        verdict = "insufficient"
    elif p_value < alpha:
        verdict = "winner" if lift_abs > 0 else "loser"
    else:
        verdict = "inconclusive"

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
        diff_low=diff_low,
        diff_high=diff_high,
        p_value=p_value,
        chance_to_beat=chance_to_beat(control, treatment),
        srm_p_value=srm_p,
        srm_warning=srm_p < SRM_ALPHA,
        verdict=verdict,
        min_impressions=min_impressions,
        alpha=alpha,
    )
