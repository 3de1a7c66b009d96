"""Honest inference for ratio metrics: visitor-clustered variance, always-valid tests, many comparisons.

Pure functions over sums (no I/O), checked against numpy, scipy and statsmodels in
tests/test_inference.py. What they mean for a reader of the dashboard is in docs/design.md §4.

- **Clustered variance.** CTR is a ratio of sums over visitor-days: R = ΣC / ΣN, where visitor-day
  i had Nᵢ impressions and Cᵢ clicks. Impressions of one visitor are not independent, so the
  variance is the delta-method variance over clusters,
  Var(R) = n/(n−1) · Σ(Cᵢ − R·Nᵢ)² / (ΣNᵢ)², computed from the running sums ΣN, ΣC, ΣN², ΣC²,
  ΣNC that storage keeps (docs/design.md §5), so no report scans raw events.
- **Always valid.** The difference of two arms is tested with a mixture sequential probability
  ratio test (mSPRT; Johari, Koomen, Pekelis & Walsh, "Always Valid Inference", 2017/2022) on
  the normal approximation of the difference, with a normal mixing distribution N(0, τ²):
      Λ = sqrt(V / (V + τ²)) · exp(τ² · d² / (2 · V · (V + τ²)))
  where d is the observed difference and V its variance. Under no difference, the chance that Λ
  ever reaches 1/α, at any of as many looks as anyone likes, is at most α (Ville's inequality),
  so a verdict may be read every day. The always-valid p-value is min(1, 1/Λ), and the
  confidence sequence is the set of differences θ₀ the test would not reject:
      d ± sqrt(V · (V + τ²) / τ² · (2·log(1/α) + log((V + τ²) / V))).
  τ is the smallest effect worth detecting (absolute): the boundary is tightest near effects of
  that size. The price: an always-valid interval is wider than a fixed-horizon one read once, so
  it takes more traffic to reach a verdict (the README gives the power figures).
- **Many comparisons.** Benjamini–Hochberg (false discovery rate) or Holm (family-wise error)
  adjusted p-values, as statsmodels' multipletests computes them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

#: Two-sided 95% critical value of the standard normal.
Z95 = 1.959963984540054

CORRECTIONS = ("bh", "holm", "none")


@dataclass(frozen=True)
class Moments:
    """Sums over the clusters (visitor-days) of one arm: what a clustered ratio needs."""

    clusters: int  # visitor-days with at least one unit (impression)
    units: int  # ΣN: impressions
    successes: int  # ΣC: clicks (or conversions)
    units_sq: int  # ΣN²
    successes_sq: int  # ΣC²
    cross: int  # ΣN·C

    @property
    def ratio(self) -> float:
        return self.successes / self.units if self.units else 0.0

    def __add__(self, other: Moments) -> Moments:
        return Moments(
            self.clusters + other.clusters, self.units + other.units, self.successes + other.successes,
            self.units_sq + other.units_sq, self.successes_sq + other.successes_sq, self.cross + other.cross,
        )

    def astuple(self) -> tuple[int, int, int, int, int, int]:
        return (self.clusters, self.units, self.successes, self.units_sq, self.successes_sq, self.cross)


def ratio_variance(m: Moments) -> float:
    """Delta-method variance of ΣC/ΣN, clustered: n/(n−1) · Σ(Cᵢ − R·Nᵢ)² / (ΣN)².

    Infinite with fewer than two clusters (nothing is known about the spread yet).
    """
    if m.clusters < 2 or m.units <= 0:
        return math.inf
    r = m.ratio
    residuals = m.successes_sq - 2.0 * r * m.cross + r * r * m.units_sq
    # Rounding can leave a tiny negative where every cluster has the same ratio.
    residuals = max(residuals, 0.0)
    return m.clusters / (m.clusters - 1) * residuals / (m.units * m.units)


def normal_two_sided_p(z: float) -> float:
    return math.erfc(abs(z) / math.sqrt(2.0))


def normal_cdf(z: float) -> float:
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def normal_quantile(p: float) -> float:
    return Z95 if p == 0.975 else NormalDist().inv_cdf(p)


def fixed_horizon_p(difference: float, variance: float) -> float:
    """Two-sided p-value of a z-test of the difference (valid for one look only)."""
    if not math.isfinite(variance):
        return 1.0
    if variance <= 0.0:
        return 0.0 if difference != 0.0 else 1.0
    return normal_two_sided_p(difference / math.sqrt(variance))


def fixed_horizon_interval(difference: float, variance: float, z: float = Z95) -> tuple[float, float]:
    if not math.isfinite(variance):
        return (-math.inf, math.inf)
    half = z * math.sqrt(max(variance, 0.0))
    return (difference - half, difference + half)


def msprt_log_ratio(difference: float, variance: float, tau2: float) -> float:
    """log Λ of the normal-mixture SPRT of "no difference" (module docstring)."""
    if not math.isfinite(variance) or tau2 <= 0.0:
        return 0.0
    if variance <= 0.0:
        return math.inf if difference != 0.0 else 0.0
    total = variance + tau2
    return 0.5 * math.log(variance / total) + tau2 * difference * difference / (2.0 * variance * total)


def always_valid_p(difference: float, variance: float, tau2: float) -> float:
    """min(1, 1/Λ): below α at any look means the difference is real, at error rate α."""
    log_ratio = msprt_log_ratio(difference, variance, tau2)
    return 1.0 if log_ratio <= 0.0 else math.exp(-log_ratio)


def confidence_sequence(
    difference: float, variance: float, tau2: float, alpha: float = 0.05
) -> tuple[float, float]:
    """The always-valid interval of the difference at level 1 − α (module docstring)."""
    if not math.isfinite(variance) or tau2 <= 0.0:
        return (-math.inf, math.inf)
    half = confidence_sequence_half_width(variance, tau2, alpha)
    return (difference - half, difference + half)


def confidence_sequence_half_width(variance: float, tau2: float, alpha: float = 0.05) -> float:
    if not math.isfinite(variance):
        return math.inf
    if variance <= 0.0:
        return 0.0
    total = variance + tau2
    return math.sqrt(variance * total / tau2 * (2.0 * math.log(1.0 / alpha) + math.log(total / variance)))


def chance_to_beat(difference: float, variance: float) -> float:
    """P(treatment better) under a flat prior and the same normal approximation as the test:
    it never contradicts the verdict's direction."""
    if not math.isfinite(variance):
        return 0.5
    if variance <= 0.0:
        return 0.5 if difference == 0.0 else float(difference > 0.0)
    return normal_cdf(difference / math.sqrt(variance))


def adjust(p_values: Sequence[float], method: str = "bh") -> list[float]:
    """Adjusted p-values for comparisons shown together: Benjamini–Hochberg, Holm, or none."""
    if method not in CORRECTIONS:
        raise ValueError(f"correction must be one of {', '.join(CORRECTIONS)}")
    m = len(p_values)
    if method == "none" or m == 0:
        return [min(1.0, p) for p in p_values]
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    if method == "bh":
        running = 1.0
        for rank in range(m, 0, -1):  # from the largest p-value down
            i = order[rank - 1]
            running = min(running, p_values[i] * m / rank)
            adjusted[i] = min(1.0, running)
        return adjusted
    running = 0.0
    for rank, i in enumerate(order):  # Holm: step down from the smallest
        running = max(running, (m - rank) * p_values[i])
        adjusted[i] = min(1.0, running)
    return adjusted


def days_to_decision(
    difference: float,
    variance: float,
    tau2: float,
    smallest_effect: float,
    days_so_far: float,
    alpha: float = 0.05,
    horizon: float = 365.0,
    fixed: bool = False,
) -> float | None:
    """Days from now until the always-valid interval decides, at the traffic seen so far, if the
    observed difference holds: it excludes zero (|d| beyond the half-width) or lies within
    ±smallest_effect. None beyond `horizon` days or without data to project from. `fixed`: the
    fixed-horizon interval instead (read once, at that day).

    The variance of a difference shrinks as 1/traffic, and traffic grows with days, so after t
    more days it is variance · days_so_far / (days_so_far + t).
    """
    if not math.isfinite(variance) or days_so_far <= 0.0 or smallest_effect <= 0.0:
        return None
    target = max(abs(difference), smallest_effect - abs(difference))

    z = normal_quantile(1.0 - alpha / 2.0)

    def half(extra: float) -> float:
        projected = variance * days_so_far / (days_so_far + extra)
        if fixed:
            return z * math.sqrt(projected)
        return confidence_sequence_half_width(projected, tau2, alpha)

    if half(0.0) <= target:
        return 0.0
    if half(horizon) > target:
        return None
    # The variance at which the half-width equals the target: for the fixed-horizon interval
    # directly; for the confidence sequence by fixed-point iteration on
    # v(v + τ²) = target² τ² / (2·log(1/α) + log((v + τ²)/v)), whose log moves slowly, so a few
    # rounds settle it (each solves the quadratic in its stable form).
    if fixed:
        goal = (target / z) ** 2
    else:
        goal, bound = variance, 2.0 * math.log(1.0 / alpha)
        for _ in range(100):
            k = target * target * tau2 / (bound + math.log((goal + tau2) / goal))
            new = 2.0 * k / (tau2 + math.sqrt(tau2 * tau2 + 4.0 * k))
            settled = abs(new - goal) <= 1e-13 * goal
            goal = new
            if settled:
                break
    return days_so_far * (variance / goal - 1.0)
