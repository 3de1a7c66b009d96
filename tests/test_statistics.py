"""dashboard.statistics against statsmodels and scipy (DESIGN §4: agree to 1e-6)."""

from __future__ import annotations

import dataclasses
import json
import math
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    proportions_ztest,
)

from ctrlens.dashboard.experiments import summary_sentence
from ctrlens.dashboard.statistics import (
    Z95,
    Arm,
    Comparison,
    chance_to_beat,
    compare,
    difference_interval,
    srm_p_value,
    two_proportion_z_test,
    wilson_interval,
)

TOL = 1e-6


@st.composite
def arms(draw, max_impressions: int = 200_000, min_impressions: int = 1) -> Arm:
    impressions = draw(st.integers(min_value=min_impressions, max_value=max_impressions))
    clicks = draw(st.integers(min_value=0, max_value=impressions))
    pageviews = draw(st.integers(min_value=0, max_value=max_impressions))
    return Arm(clicks, impressions, pageviews)


def reference_chance_to_beat(a: Arm, b: Arm) -> float:
    """P(p_b > p_a) by numerical integration of beta_b.sf(x) * beta_a.pdf(x)."""
    beta_a = stats.beta(1 + a.clicks, 1 + a.impressions - a.clicks)
    beta_b = stats.beta(1 + b.clicks, 1 + b.impressions - b.clicks)
    # Integrate where A's posterior has mass, and break the range where either posterior
    # changes fast, or quad can step over a narrow peak or a steep edge.
    low, high = beta_a.ppf(1e-14), beta_a.isf(1e-14)
    quantiles = [1e-12, 1e-6, 0.01, 0.5, 0.99, 1 - 1e-6]
    breaks = {float(x) for dist in (beta_a, beta_b) for x in dist.ppf(quantiles)}
    value, _ = integrate.quad(
        lambda x: beta_b.sf(x) * beta_a.pdf(x),
        low,
        high,
        points=sorted(x for x in breaks if low < x < high),
        epsabs=1e-12,
        epsrel=1e-12,
        limit=500,
    )
    return value


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
    assert Arm(16, 400, 400).ctr == 0.04
    assert Arm(150, 10_000, 10_000).ctr == 0.015
    assert 20 / 80 == 0.25
    low, high = wilson_interval(20, 80)
    assert low < 0.25 < high
    assert (low, high) == pytest.approx(proportion_confint(20, 80, method="wilson"), abs=1e-9)


# --- Arm -------------------------------------------------------------------------------------


def test_arm_ctr():
    assert Arm(0, 0, 0).ctr == 0.0
    assert Arm(3, 2, 2).ctr == 1.0  # never above 100%
    with pytest.raises(ValueError):
        Arm(-1, 10, 10)


# --- z-test ----------------------------------------------------------------------------------


@settings(max_examples=400)
@given(arms(), arms())
def test_z_test_matches_statsmodels(a, b):
    pooled = (a.clicks + b.clicks) / (a.impressions + b.impressions)
    p = two_proportion_z_test(a, b)
    if pooled in (0.0, 1.0):
        assert p == 1.0
        return
    _, ref = proportions_ztest([b.clicks, a.clicks], [b.impressions, a.impressions])
    assert p == pytest.approx(ref, abs=TOL)
    assert 0.0 <= p <= 1.0


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (Arm(16, 400, 400), Arm(25, 400, 400)),
        (Arm(1_500, 100_000, 0), Arm(1_620, 100_000, 0)),
        (Arm(1, 2, 0), Arm(2, 2, 0)),
        (Arm(100, 1_000, 0), Arm(100, 1_000, 0)),
    ],
)
def test_z_test_known_cases(a, b):
    _, ref = proportions_ztest([b.clicks, a.clicks], [b.impressions, a.impressions])
    assert two_proportion_z_test(a, b) == pytest.approx(ref, abs=TOL)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (Arm(0, 0, 0), Arm(5, 100, 100)),
        (Arm(5, 100, 100), Arm(0, 0, 0)),
        (Arm(0, 100, 0), Arm(0, 300, 0)),  # nobody clicked
        (Arm(100, 100, 0), Arm(300, 300, 0)),  # everybody clicked
    ],
)
def test_z_test_degenerate_inputs_are_not_evidence(a, b):
    assert two_proportion_z_test(a, b) == 1.0


def test_z_test_is_symmetric():
    a, b = Arm(30, 1_000, 0), Arm(52, 1_100, 0)
    assert two_proportion_z_test(a, b) == pytest.approx(two_proportion_z_test(b, a), abs=1e-15)


# --- difference interval ---------------------------------------------------------------------


@settings(max_examples=400)
@given(arms(), arms())
def test_difference_interval_matches_statsmodels(a, b):
    low, high = difference_interval(a, b)
    ref = confint_proportions_2indep(
        b.clicks, b.impressions, a.clicks, a.impressions, method="wald", compare="diff"
    )
    # statsmodels does not clip; a difference of proportions lies in [-1, 1].
    ref_low, ref_high = np.clip(ref, -1.0, 1.0)
    assert low == pytest.approx(ref_low, abs=TOL)
    assert high == pytest.approx(ref_high, abs=TOL)
    assert low <= b.ctr - a.ctr <= high


def test_difference_interval_textbook():
    a, b = Arm(16, 400, 400), Arm(25, 400, 400)
    ref = confint_proportions_2indep(25, 400, 16, 400, method="wald", compare="diff")
    assert difference_interval(a, b) == pytest.approx(ref, abs=TOL)


def test_difference_interval_without_impressions():
    assert difference_interval(Arm(0, 0, 0), Arm(3, 10, 10)) == (-1.0, 1.0)


# --- chance to beat --------------------------------------------------------------------------

CHANCE_CASES = [
    # small counts: a few terms of the closed-form sum
    (Arm(16, 400, 0), Arm(25, 400, 0)),
    (Arm(0, 10, 0), Arm(3, 10, 0)),
    (Arm(10, 10, 0), Arm(0, 5, 0)),
    (Arm(0, 0, 0), Arm(0, 0, 0)),
    (Arm(0, 0, 0), Arm(1, 1, 0)),
    (Arm(7, 300, 0), Arm(7, 300, 0)),
    # large counts: windowed sum around the largest term
    (Arm(1_500, 100_000, 0), Arm(1_620, 100_000, 0)),
    (Arm(1_620, 100_000, 0), Arm(1_500, 100_000, 0)),
    (Arm(50_000, 100_000, 0), Arm(50_300, 100_000, 0)),
    (Arm(99_990, 100_000, 0), Arm(99_985, 100_000, 0)),
    (Arm(30_000, 60_000, 0), Arm(29_000, 61_000, 0)),
    (Arm(5, 1_000_000, 0), Arm(9, 1_000_000, 0)),
    (Arm(400_000, 1_000_000, 0), Arm(401_000, 1_000_000, 0)),
    (Arm(12_000, 400_000, 0), Arm(3_100, 100_000, 0)),
    (Arm(1_500_000, 100_000_000, 0), Arm(1_503_000, 100_000_000, 0)),
]


@pytest.mark.parametrize(("a", "b"), CHANCE_CASES)
def test_chance_to_beat_matches_numerical_integration(a, b):
    assert chance_to_beat(a, b) == pytest.approx(reference_chance_to_beat(a, b), abs=TOL)


@settings(max_examples=150, deadline=None)
@given(arms(max_impressions=100_000, min_impressions=0), arms(max_impressions=100_000, min_impressions=0))
def test_chance_to_beat_matches_numerical_integration_generated(a, b):
    assert chance_to_beat(a, b) == pytest.approx(reference_chance_to_beat(a, b), abs=TOL)


@settings(max_examples=200)
@given(arms(min_impressions=0), arms(min_impressions=0))
def test_chance_to_beat_is_a_complementary_probability(a, b):
    p = chance_to_beat(a, b)
    assert 0.0 <= p <= 1.0
    assert p + chance_to_beat(b, a) == pytest.approx(1.0, abs=1e-9)


def test_chance_to_beat_textbook_values():
    assert chance_to_beat(Arm(16, 400, 0), Arm(25, 400, 0)) == pytest.approx(0.92352384555, abs=1e-9)
    large = chance_to_beat(Arm(1_500, 100_000, 0), Arm(1_620, 100_000, 0))
    assert large == pytest.approx(0.98481248902, abs=1e-9)
    assert chance_to_beat(Arm(5, 100, 0), Arm(5, 100, 0)) == pytest.approx(0.5, abs=1e-12)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (Arm(1_500, 100_000, 0), Arm(1_620, 100_000, 0)),
        (Arm(50_000, 100_000, 0), Arm(50_300, 100_000, 0)),
    ],
)
def test_chance_to_beat_is_fast_for_large_arms(a, b):
    chance_to_beat(a, b)
    runs = 50
    started = time.perf_counter()
    for _ in range(runs):
        chance_to_beat(a, b)
    assert (time.perf_counter() - started) / runs < 0.005


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


# --- compare and verdicts --------------------------------------------------------------------


def test_compare_reports_every_number():
    control, treatment = Arm(160, 4_000, 4_000), Arm(210, 4_000, 4_050)
    c = compare(control, treatment)
    assert c.control_ctr == 0.04 and c.treatment_ctr == 0.0525
    assert (c.control_low, c.control_high) == wilson_interval(160, 4_000)
    assert (c.treatment_low, c.treatment_high) == wilson_interval(210, 4_000)
    assert c.lift_abs == pytest.approx(0.0125)
    assert c.lift_rel == pytest.approx(0.3125)
    assert (c.diff_low, c.diff_high) == difference_interval(control, treatment)
    assert c.p_value == two_proportion_z_test(control, treatment)
    assert c.chance_to_beat == chance_to_beat(control, treatment)
    assert c.srm_p_value == srm_p_value(4_000, 4_050)
    assert c.srm_warning is False
    assert c.verdict == "winner"


def test_compare_to_dict_is_json_ready():
    c = compare(Arm(160, 4_000, 4_000), Arm(60, 4_000, 4_000))
    data = json.loads(json.dumps(c.to_dict()))
    assert data["verdict"] == "loser"
    assert data["control"] == {
        "clicks": 160,
        "impressions": 4_000,
        "pageviews": 4_000,
        "ctr": 0.04,
        "ctr_low": c.control_low,
        "ctr_high": c.control_high,
    }
    for field in (
        "control_ctr", "treatment_ctr", "control_low", "control_high", "treatment_low",
        "treatment_high", "lift_abs", "lift_rel", "diff_low", "diff_high", "p_value",
        "chance_to_beat", "srm_p_value", "srm_warning",
    ):
        assert data[field] == getattr(c, field)


def test_lift_rel_is_none_without_control_clicks():
    c = compare(Arm(0, 500, 500), Arm(10, 500, 500))
    assert c.lift_rel is None
    assert c.to_dict()["lift_rel"] is None
    assert c.verdict == "insufficient"  # the control has fewer than 5 clicks


@pytest.mark.parametrize(
    ("control", "treatment", "verdict"),
    [
        (Arm(16, 400, 400), Arm(40, 400, 400), "winner"),
        (Arm(40, 400, 400), Arm(16, 400, 400), "loser"),
        (Arm(16, 400, 400), Arm(25, 400, 400), "inconclusive"),
        (Arm(20, 400, 400), Arm(20, 400, 400), "inconclusive"),
        # below min_impressions in one arm, even with a large difference
        (Arm(10, 199, 199), Arm(60, 400, 400), "insufficient"),
        (Arm(60, 400, 400), Arm(10, 199, 199), "insufficient"),
        # fewer than 5 clicks, or fewer than 5 non-clicks
        (Arm(4, 1_000, 1_000), Arm(40, 1_000, 1_000), "insufficient"),
        (Arm(996, 1_000, 1_000), Arm(900, 1_000, 1_000), "insufficient"),
        (Arm(5, 1_000, 1_000), Arm(40, 1_000, 1_000), "winner"),
        (Arm(995, 1_000, 1_000), Arm(900, 1_000, 1_000), "loser"),
        (Arm(0, 0, 0), Arm(0, 0, 0), "insufficient"),
    ],
)
def test_verdicts(control, treatment, verdict):
    assert compare(control, treatment).verdict == verdict


def test_verdict_thresholds_are_parameters():
    control, treatment = Arm(16, 150, 150), Arm(40, 150, 150)
    assert compare(control, treatment).verdict == "insufficient"
    assert compare(control, treatment, min_impressions=100).verdict == "winner"
    c = compare(Arm(16, 400, 400), Arm(28, 400, 400))
    assert 0.01 < c.p_value < 0.1
    assert compare(Arm(16, 400, 400), Arm(28, 400, 400), alpha=0.1).verdict == "winner"
    assert compare(Arm(16, 400, 400), Arm(28, 400, 400), alpha=0.01).verdict == "inconclusive"


def test_p_value_exactly_alpha_is_not_significant():
    p = two_proportion_z_test(Arm(16, 400, 0), Arm(25, 400, 0))
    c = compare(Arm(16, 400, 400), Arm(25, 400, 400), alpha=p)
    assert c.verdict == "inconclusive"


def test_srm_warning_beside_any_verdict():
    c = compare(Arm(16, 400, 5_000), Arm(40, 400, 5_400))
    assert c.srm_p_value < 0.001
    assert c.srm_warning is True
    assert c.verdict == "winner"
    balanced = compare(Arm(16, 400, 5_000), Arm(40, 400, 5_100))
    assert balanced.srm_warning is False


def test_srm_with_a_planned_uneven_split():
    # 90/10 rollout: 9,000 vs 1,000 page views is exactly as planned.
    c = compare(Arm(300, 9_000, 9_000), Arm(40, 1_000, 1_000), expected_share_b=0.1)
    assert c.srm_p_value == pytest.approx(1.0)
    assert not c.srm_warning
    assert compare(Arm(300, 9_000, 9_000), Arm(40, 1_000, 1_000)).srm_warning


def test_comparison_is_frozen():
    c = compare(Arm(16, 400, 400), Arm(25, 400, 400))
    assert isinstance(c, Comparison)
    with pytest.raises(AttributeError):
        c.verdict = "winner"  # type: ignore[misc]


# --- summary sentence ------------------------------------------------------------------------


def test_sentence_inconclusive_matches_the_docs_example():
    c = compare(Arm(16, 400, 400), Arm(21, 400, 400))
    assert c.lift_rel == pytest.approx(0.3125)
    sentence = summary_sentence("hero-signup", c, "A", "B")
    assert sentence == (
        f"B's hero-signup gets 31% more clicks per impression than A; "
        f"{round(c.chance_to_beat * 100)}% chance B is better; not yet significant at 5%."
    )


def test_sentence_winner():
    c = compare(Arm(16, 400, 400), Arm(40, 400, 400))
    sentence = summary_sentence("hero-signup", c, "A", "B")
    assert sentence.startswith("B's hero-signup gets 150% more clicks per impression than A; ")
    assert "over 99.9% chance B is better" in sentence
    assert sentence.endswith("significant at 5% (p < 0.001).")
    assert "not yet" not in sentence


def test_sentence_loser():
    c = compare(Arm(40, 400, 400), Arm(20, 400, 400))
    assert c.verdict == "loser"
    sentence = summary_sentence("promo-annual", c, "control", "pricing-v2")
    assert sentence.startswith(
        "pricing-v2's promo-annual gets 50% fewer clicks per impression than control; "
    )
    assert "chance control is better" in sentence
    assert f"(p = {c.p_value:.3f})" in sentence


def test_sentence_equal():
    c = compare(Arm(20, 400, 400), Arm(20, 400, 400))
    sentence = summary_sentence("nav-docs", c, "A", "B")
    assert sentence == (
        "B's nav-docs gets as many clicks per impression as A (5% CTR); "
        "50% chance B is better; not yet significant at 5%."
    )


def test_sentence_without_control_clicks():
    c = compare(Arm(0, 500, 500), Arm(10, 500, 500), min_impressions=0)
    c = dataclasses.replace(c, verdict="inconclusive")
    sentence = summary_sentence("link-changelog", c, "A", "B")
    assert sentence.startswith("B's link-changelog gets 2% CTR, against none for A; ")


def test_sentence_insufficient():
    c = compare(Arm(3, 120, 120), Arm(4, 130, 130))
    assert summary_sentence("hero-signup", c, "A", "B") == (
        "Not enough data yet: hero-signup needs at least 200 impressions, 5 clicks and 5 non-clicks "
        "in each variant (A has 120 impressions and 3 clicks, B has 130 impressions and 4 clicks)."
    )


def test_sentence_small_lifts_keep_a_decimal():
    c = compare(Arm(4_000, 100_000, 100_000), Arm(4_020, 100_000, 100_000))
    assert "gets 0.5% more clicks" in summary_sentence("hero-signup", c, "A", "B")


def test_sentence_mentions_srm():
    c = compare(Arm(16, 400, 5_000), Arm(40, 400, 5_400))
    sentence = summary_sentence("hero-signup", c, "A", "B")
    assert "sample ratio mismatch" in sentence
    assert not math.isnan(c.srm_p_value)
