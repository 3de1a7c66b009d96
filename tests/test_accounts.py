"""Account-level views cluster by account (docs/design.md §4 "Intervals", "Accounts").

Page views are sent through the real collector; the element's impression CTR across accounts and
its interval are checked against a reference computed here with numpy and statsmodels: the
delta-method variance with the account as the cluster, turned into a design effect, and the
Wilson interval on the effective counts.
"""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.proportion import proportion_confint

from dashboard_seed import Seen, new_seeder


def reference(impressions: np.ndarray, clicks: np.ndarray) -> tuple[float, float, float]:
    k = len(impressions)
    n, c = impressions.sum(), clicks.sum()
    ratio = c / n
    clustered = ((clicks - ratio * impressions) ** 2).sum() / n**2  # without k/(k-1): as a design effect
    deff = max(clustered / (ratio * (1 - ratio) / n), 1.0)
    assert k > 1
    low, high = proportion_confint(c / deff, n / deff, alpha=0.05, method="wilson")
    return ratio, low, high


def test_element_ctr_across_accounts_is_clustered_by_account(server):
    rng = np.random.default_rng(7)
    s = new_seeder(server)
    # 24 accounts; some click nearly every time, most never: clicks cluster within accounts.
    views = rng.integers(1, 7, size=24)
    propensity = np.where(rng.random(24) < 0.25, 0.8, 0.02)
    clicked = np.array([int((rng.random(v) < p).sum()) for v, p in zip(views, propensity, strict=True)])
    for a, (v, c) in enumerate(zip(views, clicked, strict=True)):
        for i in range(v):
            s.pageview([Seen("upgrade", "cta", 1 if i < c else 0)], "/app", account=f"acct-{a:02d}")

    r = server.client.get(f"/api/sites/{s.site}/accounts", headers=server.auth)
    assert r.status_code == 200, r.text
    (row,) = r.json()["elements"]
    ratio, low, high = reference(views, clicked)
    assert row["ctr"] == pytest.approx(ratio, abs=1e-9)
    assert row["ctr_low"] == pytest.approx(low, abs=1e-6)
    assert row["ctr_high"] == pytest.approx(high, abs=1e-6)
    # Clustering widens the interval against treating every impression as its own trial.
    naive_low, naive_high = proportion_confint(clicked.sum(), views.sum(), method="wilson")
    assert high - low > (naive_high - naive_low) * 1.2
    assert row["accounts_viewed"] == 24

    html = server.client.get(f"/sites/{s.site}/accounts", headers=server.auth)
    assert "interval (by account)" in html.text
