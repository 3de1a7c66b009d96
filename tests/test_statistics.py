"""dashboard.statistics against statsmodels and scipy (docs/design.md §4: agree to 1e-6).

The always-valid test's own formulas are checked in tests/test_inference.py; here, how a
comparison uses them: intervals, verdicts, decisions, and the sentence.
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import statsmodels.api as sm
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from ctrlens.dashboard.experiments import summary_sentence
from ctrlens.dashboard.inference import Moments, confidence_sequence
from ctrlens.dashboard.statistics import (
    Z95,
    Arm,
    Comparison,
    compare,
    design_effect,
    difference_test,
    srm_p_value,
    wilson_interval,
)

TOL = 1e-6


def independent(clicks: int, impressions: int, pageviews: int | None = None) -> Arm:
    return Arm.independent(clicks, impressions, impressions if pageviews is None else pageviews)


def clustered(
    rng: np.random.Generator, visitors: int, mean_ctr: float = 0.04
) -> tuple[np.ndarray, np.ndarray]:
    """Impressions and clicks per visitor-day: several page views, propensities that differ."""
    n = rng.integers(1, 8, visitors)
    propensity = rng.beta(0.5, 0.5 / mean_ctr - 0.5, visitors)
    return n, rng.binomial(n, propensity)


def arm_of(n: np.ndarray, c: np.ndarray, pageviews: int = 0) -> Arm:
    sums = (n.sum(), c.sum(), (n * n).sum(), (c * c).sum(), (n * c).sum())
    return Arm(Moments(len(n), *(int(x) for x in sums)), pageviews)


# --- Wilson interval -------------------------------------------------------------------------


def test_z95_is_the_normal_quantile():
    assert Z95 == pytest.approx(stats.norm.isf(0.025), abs=1e-15)


@settings(max_examples=400)
@given(st.integers(min_value=1, max_value=10**7).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_interval_matches_statsmodels(case):
    successes, trials = case
    low, high = wilson_interval(successes, trials)
    ref_low, ref_high = proportion_confint(successes, trials, alpha=0.05, method="wilson")
    assert low == pytest.approx(ref_low, abs=1e-9)
    assert high == pytest.approx(ref_high, abs=1e-9)
    assert 0.0 <= low <= successes / trials <= high <= 1.0


@pytest.mark.parametrize(
    ("successes", "trials"),
    [(0, 1), (1, 1), (0, 400), (400, 400), (16, 400), (150, 10_000), (20, 80), (1, 10**9)],
)
def test_wilson_interval_edges_match_statsmodels(successes, trials):
    ref = proportion_confint(successes, trials, alpha=0.05, method="wilson")
    assert wilson_interval(successes, trials) == pytest.approx(ref, abs=1e-9)


def test_wilson_interval_other_levels():
    z99 = stats.norm.isf(0.005)
    ref = proportion_confint(16, 400, alpha=0.01, method="wilson")
    assert wilson_interval(16, 400, z=z99) == pytest.approx(ref, abs=1e-9)


def test_wilson_interval_without_trials_knows_nothing():
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_wilson_interval_clamps_extra_successes():
    assert wilson_interval(5, 4) == wilson_interval(4, 4)


def test_textbook_ratios():
    # "400 users saw a CTA and 16 clicked: 4%"; "20 of 80 accounts: 25%".
    assert independent(16, 400).ctr == 0.04
    assert independent(150, 10_000).ctr == 0.015
    assert 20 / 80 == 0.25
    low, high = wilson_interval(20, 80)
    assert low < 0.25 < high
    assert (low, high) == pytest.approx(proportion_confint(20, 80, method="wilson"), abs=1e-9)


# --- Arm and its interval ----------------------------------------------------------------------


def test_arm_ctr():
    assert independent(0, 0).ctr == 0.0
    assert Arm(Moments(2, 2, 3, 2, 5, 3)).ctr == 1.0  # never above 100%
    with pytest.raises(ValueError):
        independent(-1, 10)
    assert independent(16, 400).interval() == wilson_interval(16, 400)  # one trial per visitor: Wilson


@pytest.mark.parametrize("seed", range(3))
def test_design_effect_is_the_cluster_robust_over_the_binomial_variance(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, c = clustered(rng, 500)
    groups = np.repeat(np.arange(len(n)), n)
    y = np.concatenate([np.r_[np.ones(ci), np.zeros(ni - ci)] for ni, ci in zip(n, c, strict=True)])
    fit = sm.OLS(y, np.ones(len(y))).fit(
        cov_type="cluster", cov_kwds={"groups": groups, "use_correction": False}
    )
    clustered_variance = fit.cov_params()[0, 0]  # without the small-sample factor, as binomial's
    p = y.mean()
    arm = arm_of(n, c)
    deff = clustered_variance / (p * (1 - p) / len(y))
    assert deff > 1.2  # visitors who click often and visitors who never do
    assert design_effect(arm.moments) == pytest.approx(deff, rel=1e-6)
    # The interval: Wilson on the effective number of impressions, wider than on the raw count.
    effective = len(y) / deff
    ref = proportion_confint(p * effective, effective, method="wilson")
    assert arm.interval() == pytest.approx(ref, abs=1e-9)
    raw = wilson_interval(int(c.sum()), int(n.sum()))
    assert arm.interval()[1] - arm.interval()[0] > raw[1] - raw[0]


def test_design_effect_is_never_below_one():
    # Every visitor-day has exactly the same CTR: less spread than binomial, still counted as 1.
    assert design_effect(Moments(100, 1000, 100, 10_000, 100, 1000)) == 1.0
    assert design_effect(Moments(1, 5, 1, 25, 1, 5)) == 1.0
    assert design_effect(Moments(100, 500, 0, 2500, 0, 0)) == 1.0


# --- the test of a difference -----------------------------------------------------------------


def test_difference_test_uses_the_clustered_variance():
    rng = np.random.default_rng(5)
    a, b = arm_of(*clustered(rng, 3000)), arm_of(*clustered(rng, 3000))
    fixed = difference_test(a, b, 0.1, "fixed_horizon")
    v = sum(_clustered_variance(arm) for arm in (a, b))
    d = b.ctr - a.ctr
    assert fixed.variance == pytest.approx(v, rel=1e-9)
    assert fixed.p_value == pytest.approx(2 * stats.norm.sf(abs(d) / math.sqrt(v)), abs=TOL)
    half = Z95 * math.sqrt(v)
    assert (fixed.low, fixed.high) == pytest.approx((d - half, d + half), abs=1e-12)
    valid = difference_test(a, b, 0.1, "always_valid")
    tau = 0.1 * (a.clicks + b.clicks) / (a.impressions + b.impressions)
    assert valid.tau2 == pytest.approx(tau * tau)
    marginal = stats.norm.pdf(d, 0, math.sqrt(v + tau * tau)) / stats.norm.pdf(d, 0, math.sqrt(v))
    assert valid.p_value == pytest.approx(min(1.0, 1 / marginal), abs=TOL)
    assert (valid.low, valid.high) == pytest.approx(confidence_sequence(d, v, tau * tau), abs=1e-12)
    assert valid.low < fixed.low and fixed.high < valid.high  # the price of reading it any day
    with pytest.raises(ValueError):
        difference_test(a, b, 0.1, "bayesian")


def _clustered_variance(arm: Arm) -> float:
    """Var(ΣC/ΣN) by the delta method from the sums, written out: n/(n−1)·Σ(C − R·N)²/(ΣN)²."""
    m, r = arm.moments, arm.ctr
    residuals = m.successes_sq - 2 * r * m.cross + r * r * m.units_sq
    return m.clusters / (m.clusters - 1) * residuals / m.units**2


# --- sample ratio mismatch -------------------------------------------------------------------


@settings(max_examples=400)
@given(
    st.integers(min_value=0, max_value=10**7),
    st.integers(min_value=0, max_value=10**7),
    st.floats(min_value=0.01, max_value=0.99),
)
def test_srm_matches_scipy(a, b, share_b):
    n = a + b
    if n == 0:
        assert srm_p_value(a, b, share_b) == 1.0
        return
    ref = stats.chisquare([a, b], f_exp=[n * (1 - share_b), n * share_b]).pvalue
    assert srm_p_value(a, b, share_b) == pytest.approx(ref, abs=TOL)


def test_srm_even_split():
    ref = stats.chisquare([5_000, 5_210]).pvalue
    assert srm_p_value(5_000, 5_210) == pytest.approx(ref, abs=TOL)
    assert srm_p_value(0, 0) == 1.0
    assert srm_p_value(1_000, 1_000) == 1.0


@pytest.mark.parametrize("share", [0.0, 1.0, -0.1, 1.5])
def test_srm_rejects_impossible_shares(share):
    with pytest.raises(ValueError):
        srm_p_value(10, 10, share)


# --- compare, verdicts and decisions --------------------------------------------------------


def test_compare_reports_every_number():
    control, treatment = independent(160, 4_000), independent(210, 4_000, 4_050)
    c = compare(control, treatment, inference_name="fixed_horizon")
    test = difference_test(control, treatment, 0.1, "fixed_horizon")
    assert c.control_ctr == 0.04 and c.treatment_ctr == 0.0525
    assert (c.control_low, c.control_high) == wilson_interval(160, 4_000)
    assert (c.treatment_low, c.treatment_high) == wilson_interval(210, 4_000)
    assert c.lift_abs == pytest.approx(0.0125)
    assert c.lift_rel == pytest.approx(0.3125)
    assert (c.diff_low, c.diff_high) == (test.low, test.high)
    assert c.p_value == test.p_value == c.p_adjusted
    assert c.chance_to_beat == pytest.approx(stats.norm.cdf(test.difference / math.sqrt(test.variance)))
    assert c.srm_p_value == srm_p_value(4_000, 4_050)
    assert c.srm_warning is False
    assert (c.verdict, c.decision, c.inference) == ("winner", "ship", "fixed_horizon")


def test_compare_to_dict_is_json_ready():
    c = compare(independent(160, 4_000), independent(60, 4_000))
    data = json.loads(json.dumps(c.to_dict()))
    assert (data["verdict"], data["decision"]) == ("loser", "keep_control")
    assert data["control"] == {
        "clicks": 160,
        "impressions": 4_000,
        "pageviews": 4_000,
        "visitors": 4_000,
        "ctr": 0.04,
        "ctr_low": c.control_low,
        "ctr_high": c.control_high,
    }
    for field in (
        "control_ctr", "treatment_ctr", "control_low", "control_high", "treatment_low",
        "treatment_high", "lift_abs", "lift_rel", "diff_low", "diff_high", "p_value", "p_adjusted",
        "correction", "inference", "chance_to_beat", "srm_p_value", "srm_warning", "days_to_decision",
    ):
        assert data[field] == getattr(c, field)


def test_lift_rel_is_none_without_control_clicks():
    c = compare(independent(0, 500), independent(10, 500))
    assert c.lift_rel is None
    assert c.to_dict()["lift_rel"] is None
    assert (c.verdict, c.decision) == ("insufficient", "keep_running")  # the control has fewer than 5 clicks


@pytest.mark.parametrize(
    ("control", "treatment", "verdict"),
    [
        (independent(16, 400), independent(40, 400), "winner"),
        (independent(40, 400), independent(16, 400), "loser"),
        (independent(16, 400), independent(25, 400), "inconclusive"),
        (independent(20, 400), independent(20, 400), "inconclusive"),
        # below min_impressions in one arm, even with a large difference
        (independent(10, 199), independent(60, 400), "insufficient"),
        (independent(60, 400), independent(10, 199), "insufficient"),
        # fewer than 5 clicks, or fewer than 5 non-clicks
        (independent(4, 1_000), independent(40, 1_000), "insufficient"),
        (independent(996, 1_000), independent(900, 1_000), "insufficient"),
        (independent(5, 1_000), independent(40, 1_000), "winner"),
        (independent(995, 1_000), independent(900, 1_000), "loser"),
        (independent(0, 0), independent(0, 0), "insufficient"),
    ],
)
def test_verdicts(control, treatment, verdict):
    assert compare(control, treatment, inference_name="fixed_horizon").verdict == verdict


def test_always_valid_needs_more_evidence_than_one_fixed_look():
    control, treatment = independent(160, 4_000), independent(205, 4_000)
    fixed = compare(control, treatment, inference_name="fixed_horizon")
    valid = compare(control, treatment, days_so_far=7)
    assert fixed.p_value < 0.05 < valid.p_value
    assert (fixed.verdict, valid.verdict) == ("winner", "inconclusive")
    assert valid.decision == "keep_running" and valid.days_to_decision is not None
    assert valid.days_to_decision > 0
    # With four times the traffic the same rates decide however often the page is read.
    assert compare(independent(640, 16_000), independent(820, 16_000)).verdict == "winner"


def test_clustered_traffic_is_not_a_winner_where_impressions_would_be():
    """One visitor-day in 20 clicks everything it sees: counted per impression the difference looks
    real, counted per visitor it is noise."""
    def heavy(clickers: int) -> Arm:
        # 1,000 visitor-days of 5 impressions each; `clickers` of them click every one.
        return Arm(Moments(1000, 5000, 5 * clickers, 25_000, 25 * clickers, 25 * clickers))

    a, b = heavy(40), heavy(55)
    naive = compare(independent(a.clicks, a.impressions), independent(b.clicks, b.impressions),
                    inference_name="fixed_horizon")
    honest = compare(a, b, inference_name="fixed_horizon")
    assert naive.verdict == "winner" and naive.p_value < 0.01
    assert honest.verdict == "inconclusive" and honest.p_value > 0.05


def test_the_adjusted_p_value_decides():
    control, treatment = independent(16, 400), independent(40, 400)
    assert compare(control, treatment, inference_name="fixed_horizon").verdict == "winner"
    c = compare(control, treatment, inference_name="fixed_horizon", p_adjusted=0.2, correction="bh")
    assert (c.verdict, c.p_adjusted, c.correction) == ("inconclusive", 0.2, "bh")
    assert c.p_value < 0.05


def test_no_meaningful_difference_when_the_interval_is_inside_the_smallest_effect():
    c = compare(independent(40_000, 1_000_000), independent(40_100, 1_000_000), smallest_effect=0.1)
    assert c.verdict == "inconclusive"
    assert -0.004 < c.diff_low < c.diff_high < 0.004
    assert (c.decision, c.days_to_decision) == ("no_meaningful_difference", None)
    # The same data against a smaller effect worth detecting: keep running.
    assert compare(independent(40_000, 1_000_000), independent(40_100, 1_000_000),
                   smallest_effect=0.01).decision == "keep_running"


def test_verdict_thresholds_are_parameters():
    control, treatment = independent(16, 150), independent(40, 150)
    assert compare(control, treatment, inference_name="fixed_horizon").verdict == "insufficient"
    assert compare(control, treatment, 100, inference_name="fixed_horizon").verdict == "winner"
    c = compare(independent(16, 400), independent(28, 400), inference_name="fixed_horizon")
    assert 0.01 < c.p_value < 0.1
    assert compare(independent(16, 400), independent(28, 400), alpha=0.1,
                   inference_name="fixed_horizon").verdict == "winner"
    assert compare(independent(16, 400), independent(28, 400), alpha=0.01,
                   inference_name="fixed_horizon").verdict == "inconclusive"


def test_p_value_exactly_alpha_is_not_significant():
    p = compare(independent(16, 400), independent(25, 400), inference_name="fixed_horizon").p_value
    c = compare(independent(16, 400), independent(25, 400), alpha=p, inference_name="fixed_horizon")
    assert c.verdict == "inconclusive"


def test_srm_warning_beside_any_verdict():
    c = compare(independent(16, 400, 5_000), independent(40, 400, 5_400), inference_name="fixed_horizon")
    assert c.srm_p_value < 0.001
    assert c.srm_warning is True
    assert (c.verdict, c.decision) == ("winner", "fix_split")
    balanced = compare(independent(16, 400, 5_000), independent(40, 400, 5_100))
    assert balanced.srm_warning is False


def test_srm_with_a_planned_uneven_split():
    # 90/10 rollout: 9,000 vs 1,000 page views is exactly as planned.
    c = compare(independent(300, 9_000), independent(40, 1_000), expected_share_b=0.1)
    assert c.srm_p_value == pytest.approx(1.0)
    assert not c.srm_warning
    assert compare(independent(300, 9_000), independent(40, 1_000)).srm_warning


def test_chance_to_beat_leans_with_the_verdict():
    for control, treatment in ((independent(16, 400), independent(40, 400)),
                               (independent(40, 400), independent(16, 400))):
        c = compare(control, treatment)
        if c.verdict == "winner":
            assert c.chance_to_beat > 0.5
        if c.verdict == "loser":
            assert c.chance_to_beat < 0.5


@settings(max_examples=200, deadline=None)
@given(
    st.integers(200, 20_000).flatmap(lambda n: st.tuples(st.integers(5, n // 4), st.just(n))),
    st.integers(200, 20_000).flatmap(lambda n: st.tuples(st.integers(5, n // 4), st.just(n))),
    st.sampled_from(["always_valid", "fixed_horizon"]),
)
def test_chance_to_beat_never_contradicts_the_verdict(a, b, inference_name):
    c = compare(independent(*a), independent(*b), inference_name=inference_name)
    assert c.verdict != "winner" or c.chance_to_beat > 0.5
    assert c.verdict != "loser" or c.chance_to_beat < 0.5
    assert c.decision in ("ship", "keep_control", "keep_running", "no_meaningful_difference", "fix_split")


def test_comparison_is_frozen():
    c = compare(independent(16, 400), independent(25, 400))
    assert isinstance(c, Comparison)
    with pytest.raises(AttributeError):
        c.verdict = "winner"  # type: ignore[misc]  # frozen: the assignment must fail


# --- summary sentence ------------------------------------------------------------------------


def test_sentence_inconclusive_matches_the_docs_example():
    c = compare(independent(16, 400), independent(21, 400))
    assert c.lift_rel == pytest.approx(0.3125)
    sentence = summary_sentence("hero-signup", c, "A", "B")
    assert sentence.startswith(
        f"B's hero-signup gets 31% more clicks per impression than A; "
        f"{round(c.chance_to_beat * 100)}% chance B is better; not yet significant at 5%. "
        "Keep the test running"
    )


def test_sentence_winner():
    c = compare(independent(1_600, 40_000), independent(2_000, 40_000))
    sentence = summary_sentence("hero-signup", c, "A", "B")
    assert sentence.startswith("B's hero-signup gets 25% more clicks per impression than A; ")
    assert "over 99.9% chance B is better; significant at 5% (p < 0.001)." in sentence
    assert sentence.endswith(
        "Ship B: it does better, with at most a 5% chance of a false alarm however often this page is read."
    )
    assert "not yet" not in sentence


def test_sentence_loser():
    c = compare(independent(40, 400), independent(20, 400), inference_name="fixed_horizon")
    assert c.verdict == "loser"
    sentence = summary_sentence("promo-annual", c, "control", "pricing-v2")
    assert sentence.startswith(
        "pricing-v2's promo-annual gets 50% fewer clicks per impression than control; "
    )
    assert "chance control is better" in sentence
    assert f"(p = {c.p_value:.3f})" in sentence
    assert "Keep control: pricing-v2 does worse" in sentence


def test_sentence_equal():
    c = compare(independent(20, 400), independent(20, 400))
    sentence = summary_sentence("nav-docs", c, "A", "B")
    assert sentence.startswith(
        "B's nav-docs gets as many clicks per impression as A (5% CTR); "
        "50% chance B is better; not yet significant at 5%. Keep the test running"
    )


def test_sentence_no_meaningful_difference():
    c = compare(independent(40_000, 1_000_000), independent(40_100, 1_000_000))
    assert summary_sentence("hero", c, "A", "B").endswith(
        "Stop the test: any difference is smaller than the 10% worth detecting; "
        "keep whichever version you prefer."
    )


def test_sentence_without_control_clicks():
    c = compare(independent(0, 500), independent(10, 500), min_impressions=0)
    c = dataclasses.replace(c, verdict="inconclusive")
    sentence = summary_sentence("link-changelog", c, "A", "B")
    assert sentence.startswith("B's link-changelog gets 2% CTR, against none for A; ")


def test_sentence_insufficient():
    c = compare(independent(3, 120), independent(4, 130))
    assert summary_sentence("hero-signup", c, "A", "B") == (
        "Not enough data yet: hero-signup needs at least 200 impressions, 5 clicks and 5 non-clicks "
        "in each variant (A has 120 impressions and 3 clicks, B has 130 impressions and 4 clicks)."
    )


def test_sentence_small_lifts_keep_a_decimal():
    c = compare(independent(4_000, 100_000), independent(4_020, 100_000))
    assert "gets 0.5% more clicks" in summary_sentence("hero-signup", c, "A", "B")


def test_sentence_mentions_srm():
    c = compare(independent(16, 400, 5_000), independent(40, 400, 5_400))
    sentence = summary_sentence("hero-signup", c, "A", "B")
    assert "sample ratio mismatch" in sentence and "Fix the split first" in sentence
    assert not math.isnan(c.srm_p_value)
