"""Honest inference (dashboard/inference.py) against independent references, to 1e-6.

- the clustered variance against statsmodels' cluster-robust OLS on unit-level rows;
- the mSPRT's closed form against the mixture integral computed numerically (scipy.integrate);
- the confidence sequence's ends: the points where that integral equals 1/α;
- the multiplicity corrections against statsmodels.stats.multitest.multipletests;
- always-valid error rates by simulation (pure; the end-to-end simulation is tests/test_experiments.py).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import integrate, stats
from statsmodels.stats.multitest import multipletests

from ctrlens.dashboard.inference import (
    Moments,
    adjust,
    always_valid_p,
    chance_to_beat,
    confidence_sequence,
    days_to_decision,
    fixed_horizon_p,
    msprt_log_ratio,
    ratio_variance,
)


def clustered_data(rng: np.random.Generator, clusters: int) -> tuple[np.ndarray, np.ndarray]:
    """Impressions and clicks per visitor-day: a few page views each, click propensity that
    differs between visitors."""
    n = rng.integers(1, 8, clusters)
    propensity = rng.beta(0.5, 12, clusters)
    return n, rng.binomial(n, propensity)


def moments(n: np.ndarray, c: np.ndarray) -> Moments:
    return Moments(
        len(n), int(n.sum()), int(c.sum()), int((n * n).sum()), int((c * c).sum()), int((n * c).sum())
    )


@pytest.mark.parametrize("seed", range(5))
def test_clustered_variance_equals_the_cluster_robust_ols_variance(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, c = clustered_data(rng, 300)
    # Unit-level rows: one per impression, 1 if clicked; the mean is ΣC/ΣN.
    groups = np.repeat(np.arange(len(n)), n)
    y = np.concatenate([np.r_[np.ones(ci), np.zeros(ni - ci)] for ni, ci in zip(n, c, strict=True)])
    fit = sm.OLS(y, np.ones(len(y))).fit(
        cov_type="cluster", cov_kwds={"groups": groups, "use_correction": False}
    )
    reference = fit.cov_params()[0, 0] * len(n) / (len(n) - 1)  # the delta method's n/(n−1)
    m = moments(n, c)
    assert m.ratio == pytest.approx(fit.params[0], abs=1e-12)
    assert ratio_variance(m) == pytest.approx(reference, rel=1e-6, abs=1e-12)


def test_clustered_variance_is_the_binomial_one_when_every_visitor_sees_once() -> None:
    rng = np.random.default_rng(9)
    c = rng.binomial(1, 0.04, 5000)
    n = np.ones_like(c)
    p = c.mean()
    assert ratio_variance(moments(n, c)) == pytest.approx(p * (1 - p) / (len(c) - 1), rel=1e-9)


def test_clustered_variance_grows_with_heterogeneous_visitors() -> None:
    """Visitors who click everything and visitors who click nothing: wider than binomial."""
    n = np.full(400, 5)
    c = np.r_[np.full(20, 5), np.zeros(380, dtype=int)]  # 5% CTR, all from 20 visitors
    m = moments(n, c)
    binomial = m.ratio * (1 - m.ratio) / m.units
    assert ratio_variance(m) > 4 * binomial


def test_fewer_than_two_clusters_is_unknown_spread() -> None:
    assert ratio_variance(Moments(1, 5, 1, 25, 1, 5)) == math.inf


def _mixture_ratio(d: float, v: float, tau2: float) -> float:
    """Λ by its definition: the likelihood of d under θ ~ N(0, τ²) over its likelihood under θ = 0."""

    def integrand(theta: float) -> float:
        return stats.norm.pdf(d, theta, math.sqrt(v)) * stats.norm.pdf(theta, 0, math.sqrt(tau2))

    scale = math.sqrt(v + tau2)
    numerator = integrate.quad(integrand, d - 40 * scale, d + 40 * scale, epsabs=0, epsrel=1e-12, limit=200)[
        0
    ]
    return numerator / stats.norm.pdf(d, 0, math.sqrt(v))


@pytest.mark.parametrize(
    ("d", "v", "tau2"),
    [
        (0.0, 1e-5, 1e-4),
        (0.004, 2e-6, 1.6e-5),
        (-0.01, 1e-5, 4e-6),
        (0.02, 4e-5, 1e-3),
        (0.001, 1e-7, 1e-6),
    ],
)
def test_msprt_closed_form_equals_the_mixture_integral(d: float, v: float, tau2: float) -> None:
    assert math.exp(msprt_log_ratio(d, v, tau2)) == pytest.approx(_mixture_ratio(d, v, tau2), rel=1e-6)
    assert always_valid_p(d, v, tau2) == pytest.approx(min(1.0, 1.0 / _mixture_ratio(d, v, tau2)), rel=1e-6)


@pytest.mark.parametrize(
    ("d", "v", "tau2", "alpha"), [(0.003, 2e-6, 1.6e-5, 0.05), (-0.02, 4e-5, 1e-4, 0.01)]
)
def test_confidence_sequence_ends_are_where_the_test_stops_rejecting(
    d: float, v: float, tau2: float, alpha: float
) -> None:
    low, high = confidence_sequence(d, v, tau2, alpha)
    for end in (low, high):
        # The test of "the difference is `end`" sees d − end: exactly at the 1/α boundary.
        assert _mixture_ratio(d - end, v, tau2) == pytest.approx(1 / alpha, rel=1e-6)
    assert low < d < high


@pytest.mark.parametrize("method", ["bh", "holm"])
def test_corrections_equal_statsmodels(method: str) -> None:
    rng = np.random.default_rng(4)
    for size in (1, 2, 7, 40):
        p = np.r_[rng.uniform(0, 0.05, size // 2), rng.uniform(0, 1, size - size // 2)]
        reference = multipletests(p, method={"bh": "fdr_bh", "holm": "holm"}[method])[1]
        assert adjust(list(p), method) == pytest.approx(list(reference), abs=1e-12)
    assert adjust([0.2, 0.01], "none") == [0.2, 0.01]
    with pytest.raises(ValueError):
        adjust([0.1], "bonferroni")


def test_fixed_horizon_p_and_chance_to_beat_use_the_same_normal() -> None:
    assert fixed_horizon_p(0.01, 0.0001) == pytest.approx(2 * stats.norm.sf(1.0), rel=1e-12)
    assert chance_to_beat(0.01, 0.0001) == pytest.approx(stats.norm.cdf(1.0), rel=1e-12)
    assert chance_to_beat(-0.01, 0.0001) == pytest.approx(stats.norm.cdf(-1.0), rel=1e-12)


def test_always_valid_error_rate_over_many_looks() -> None:
    """A/A: visitors randomised, heterogeneous propensities, 20 looks; at most 5% ever reject."""
    rng = np.random.default_rng(11)
    experiments, visitors, looks = 400, 4000, 20
    ever = 0
    fixed_ever = 0
    for _ in range(experiments):
        n, c = clustered_data(rng, visitors)
        arm = rng.integers(0, 2, visitors)
        tau2 = (0.1 * c.sum() / n.sum()) ** 2
        rejected = fixed_rejected = False
        for k in range(1, looks + 1):
            upto = visitors * k // looks
            a = moments(n[:upto][arm[:upto] == 0], c[:upto][arm[:upto] == 0])
            b = moments(n[:upto][arm[:upto] == 1], c[:upto][arm[:upto] == 1])
            v = ratio_variance(a) + ratio_variance(b)
            d = b.ratio - a.ratio
            rejected |= always_valid_p(d, v, tau2) < 0.05
            fixed_rejected |= fixed_horizon_p(d, v) < 0.05
        ever += rejected
        fixed_ever += fixed_rejected
    upper = stats.binomtest(ever, experiments).proportion_ci(0.95).high
    assert ever / experiments <= 0.05, (ever, upper)
    assert fixed_ever / experiments > 0.1  # peeking at a fixed-horizon test is not safe: the test can tell


def test_days_to_decision() -> None:
    tau2 = 0.004**2
    # Far from deciding: a positive number of days, and more days for less traffic.
    days = days_to_decision(0.001, 4e-6, tau2, 0.004, days_so_far=7)
    assert days is not None and days > 0
    slower = days_to_decision(0.001, 8e-6, tau2, 0.004, days_so_far=7)
    assert slower is not None and slower > days
    # At the projected day the interval is as narrow as the decision needs.
    from ctrlens.dashboard.inference import confidence_sequence_half_width

    v_then = 4e-6 * 7 / (7 + days)
    assert confidence_sequence_half_width(v_then, tau2) == pytest.approx(max(0.001, 0.004 - 0.001), rel=1e-6)
    assert days_to_decision(0.02, 1e-7, tau2, 0.004, days_so_far=7) == 0.0
    # Read once at a fixed horizon, the z-interval decides sooner than the confidence sequence.
    fixed = days_to_decision(0.001, 4e-6, tau2, 0.004, days_so_far=7, fixed=True)
    assert fixed is not None and 0 < fixed < days
    assert stats.norm.isf(0.025) * math.sqrt(4e-6 * 7 / (7 + fixed)) == pytest.approx(0.003, rel=1e-9)
    assert days_to_decision(0.0, math.inf, tau2, 0.004, days_so_far=7) is None
