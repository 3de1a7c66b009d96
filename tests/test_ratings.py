"""dashboard.ratings: the Good / average / poor / insufficient rating of docs/design.md §4."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.proportion import proportion_confint

from ctrlens.dashboard.ratings import (
    DEFAULT_MIN_IMPRESSIONS,
    DEFAULT_THRESHOLDS,
    RATINGS,
    Rating,
    Thresholds,
    parse_thresholds,
    rate,
)


def test_defaults_are_the_documented_table():
    assert DEFAULT_THRESHOLDS == {
        "cta": Thresholds(good=0.04, poor=0.015),
        "banner": Thresholds(good=0.01, poor=0.003),
        "link": Thresholds(good=0.02, poor=0.005),
        "nav": Thresholds(good=0.03, poor=0.005),
    }
    assert DEFAULT_MIN_IMPRESSIONS == 200
    assert RATINGS == ("good", "average", "poor", "insufficient")


# --- textbook cases --------------------------------------------------------------------------


def test_cta_seen_400_times_clicked_16_times_is_good():
    r = rate(16, 400, "cta")
    assert r.rating == "good"
    assert r.ctr == 0.04
    # 4.0% sits exactly on the threshold, so the interval straddles it: a tentative "good".
    assert r.firm is False
    assert (r.low, r.high) == pytest.approx(proportion_confint(16, 400, method="wilson"), abs=1e-9)


def test_banner_150_of_10000_is_firmly_good():
    r = rate(150, 10_000, "banner")
    assert r == Rating("good", True, 0.015, r.low, r.high)
    assert r.low > 0.01


def test_one_click_fewer_drops_below_good():
    assert rate(15, 400, "cta").rating == "average"


# --- bands and firmness ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("clicks", "impressions", "kind", "rating", "firm"),
    [
        # cta: good >= 4%, poor < 1.5%
        (600, 10_000, "cta", "good", True),
        (48, 1_000, "cta", "good", False),
        (250, 10_000, "cta", "average", True),
        (25, 1_000, "cta", "average", True),
        (20, 1_000, "cta", "average", False),
        (50, 10_000, "cta", "poor", True),
        (10, 1_000, "cta", "poor", False),
        (0, 5_000, "cta", "poor", True),
        # banner: good >= 1%, poor < 0.3%
        (30, 1_000, "banner", "good", True),
        (6, 1_000, "banner", "average", False),
        (60, 10_000, "banner", "average", True),
        (1, 1_000, "banner", "poor", False),
        (10, 100_000, "banner", "poor", True),
        # link: good >= 2%, poor < 0.5%
        (300, 10_000, "link", "good", True),
        (100, 10_000, "link", "average", True),
        (4, 1_000, "link", "poor", False),
        # nav: good >= 3%, poor < 0.5%
        (30, 1_000, "nav", "good", False),
        (150, 10_000, "nav", "average", True),
        (20, 10_000, "nav", "poor", True),
    ],
)
def test_rating_and_firmness(clicks, impressions, kind, rating, firm):
    r = rate(clicks, impressions, kind)
    assert (r.rating, r.firm) == (rating, firm)
    assert r.ctr == clicks / impressions


@settings(max_examples=500)
@given(
    st.integers(min_value=0, max_value=10**6).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
    st.sampled_from(["cta", "banner", "link", "nav"]),
)
def test_firm_means_the_whole_interval_is_in_the_band(case, kind):
    clicks, impressions = case
    r = rate(clicks, impressions, kind)
    t = DEFAULT_THRESHOLDS[kind]
    if impressions < DEFAULT_MIN_IMPRESSIONS:
        assert r.rating == "insufficient" and r.firm is False
        return
    ctr = clicks / impressions
    expected = "good" if ctr >= t.good else "poor" if ctr < t.poor else "average"
    assert r.rating == expected
    band = {"good": (t.good, 1.0), "average": (t.poor, t.good), "poor": (0.0, t.poor)}[expected]
    whole_interval_inside = band[0] <= r.low and (r.high < band[1] or expected == "good")
    assert r.firm == whole_interval_inside
    assert r.low <= r.ctr <= r.high


# --- insufficient ----------------------------------------------------------------------------


def test_insufficient_below_min_impressions():
    r = rate(100, 199, "cta")
    assert r.rating == "insufficient"
    assert r.firm is False
    assert r.ctr == pytest.approx(100 / 199)
    assert rate(100, 200, "cta").rating == "good"


def test_min_impressions_is_a_parameter():
    assert rate(10, 100, "cta", min_impressions=100).rating == "good"
    assert rate(16, 400, "cta", min_impressions=1_000).rating == "insufficient"


def test_no_impressions():
    assert rate(0, 0, "cta") == Rating("insufficient", False, 0.0, 0.0, 1.0)
    assert rate(0, 0, "cta", min_impressions=0).rating == "poor"


def test_ctr_is_never_above_one():
    r = rate(500, 300, "cta")
    assert r.ctr == 1.0
    assert r.high == 1.0


# --- kinds and custom thresholds -------------------------------------------------------------


def test_unknown_kind_is_rated_as_a_banner():
    assert rate(60, 10_000, "carousel") == rate(60, 10_000, "banner")
    assert rate(60, 10_000, "carousel").rating == "average"


def test_custom_thresholds():
    strict = {"cta": Thresholds(good=0.08, poor=0.03)}
    assert rate(16, 400, "cta", strict).rating == "average"
    # kinds the site does not override keep the defaults
    assert rate(30, 1_000, "banner", strict).rating == "good"


def test_custom_banner_thresholds_also_rate_unknown_kinds():
    custom = {"banner": Thresholds(good=0.1, poor=0.05)}
    assert rate(60, 1_000, "carousel", custom).rating == "average"


# --- parse_thresholds ------------------------------------------------------------------------


def test_parse_thresholds_merges_over_defaults():
    parsed = parse_thresholds({"cta": {"good": 0.05, "poor": 0.02}, "link": {"poor": 0.001}})
    assert parsed["cta"] == Thresholds(good=0.05, poor=0.02)
    assert parsed["link"] == Thresholds(good=0.02, poor=0.001)
    assert parsed["banner"] == DEFAULT_THRESHOLDS["banner"]
    assert parsed["nav"] == DEFAULT_THRESHOLDS["nav"]


def test_parse_thresholds_empty():
    assert parse_thresholds({}) == DEFAULT_THRESHOLDS
    assert parse_thresholds(None) == DEFAULT_THRESHOLDS


def test_parse_thresholds_accepts_integers_and_thresholds():
    parsed = parse_thresholds({"nav": {"good": 1, "poor": 0.5}, "cta": Thresholds(0.1, 0.01)})
    assert parsed["nav"] == Thresholds(good=1.0, poor=0.5)
    assert parsed["cta"] == Thresholds(good=0.1, poor=0.01)


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"cta": {"good": 0.01, "poor": 0.02}}, "good (0.01) must be greater than poor (0.02)"),
        ({"cta": {"good": 0.02, "poor": 0.02}}, "must be greater than poor"),
        ({"cta": {"good": 4, "poor": 1.5}}, "fraction in (0, 1]"),
        ({"cta": {"good": 0.04, "poor": 0}}, "fraction in (0, 1]"),
        ({"cta": {"good": 0.04, "poor": -0.01}}, "fraction in (0, 1]"),
        ({"cta": {"good": float("nan"), "poor": 0.01}}, "fraction in (0, 1]"),
        ({"cta": {"good": "4%", "poor": 0.01}}, "must be a number"),
        ({"cta": {"good": True, "poor": 0.01}}, "must be a number"),
        ({"cta": {"god": 0.04}}, "unknown key(s) 'god'"),
        ({"cta": 0.04}, "must be a table"),
        ({"button": {"good": 0.04, "poor": 0.01}}, "unknown element kind 'button'"),
        ([("cta", 0.04)], "must be a table of kinds"),
        ({"banner": {"good": 0.002}}, "good (0.002) must be greater than poor (0.003)"),
    ],
)
def test_parse_thresholds_rejects_bad_settings(mapping, message):
    with pytest.raises(ValueError) as error:
        parse_thresholds(mapping)
    assert message in str(error.value)


def test_rating_is_frozen():
    r = rate(16, 400, "cta")
    with pytest.raises(AttributeError):
        r.rating = "poor"  # type: ignore[misc]
