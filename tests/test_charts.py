"""The element page's CTR chart: an axis that ends where the data does (never past 100%), Good
and Poor labels that never overlap, the newest point always labelled. The geometry as pure
functions, then the page as a user sees it in Chromium."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from ctrlens.dashboard.charts import (
    GUIDE_LABEL_HEIGHT,
    PHONE,
    WIDE,
    ctr_chart,
    guide_label_baselines,
    interval_plot,
    x_label_indexes,
    y_axis_top,
)
from ctrlens.dashboard.ratings import Thresholds
from dashboard_seed import new_seeder
from harness import sign_in


def point(ctr: float | None, low: float | None = None, high: float | None = None) -> dict:
    return {"ctr": ctr, "ctr_low": ctr if low is None else low, "ctr_high": ctr if high is None else high,
            "impressions": 10, "clicks": 1}


@pytest.mark.parametrize("peak", [1.0, 0.95, 0.91, 0.6])
def test_the_axis_of_a_high_ctr_ends_at_100_percent_at_most(peak):
    chart = ctr_chart([point(peak, peak * 0.8, 1.0)] * 3, ["a", "b", "c"], Thresholds(0.04, 0.015))
    assert chart.y_max <= 1.0
    assert chart.y_ticks[0].label == "0%" and chart.y_ticks[-1].label == "100%"
    assert chart.phone is not None and chart.phone.y_ticks[-1].label == "100%"


def test_the_axis_scales_to_the_data():
    assert y_axis_top(0.03, 0.05, 0.04) == pytest.approx(0.05)
    assert y_axis_top(0.2, 0.24, 0.04) == pytest.approx(0.25)
    assert y_axis_top(1.0, 1.0, 0.04) == 1.0
    assert y_axis_top(0.0, 0.0, 0.0) == pytest.approx(0.005)
    plot = interval_plot([("A", 0.98, 0.9, 1.0), ("B", 1.0, 0.95, 1.0)])
    assert plot.ticks[-1].label == "100%"


def label_box(baseline: float) -> tuple[float, float]:
    """The vertical extent of an 11px guide label drawn at `baseline`, its halo included."""
    return baseline - GUIDE_LABEL_HEIGHT + 5, baseline + 5


@pytest.mark.parametrize("gap", [0.0, 0.5, 3.0, 9.0, 14.0, 19.9, 20.0, 40.0])
def test_guide_labels_never_overlap(gap):
    good_y = 100.0
    good, poor = guide_label_baselines(good_y, good_y + gap)
    (good_top, good_bottom), (poor_top, poor_bottom) = label_box(good), label_box(poor)
    assert good_bottom <= poor_top or poor_bottom <= good_top


def test_close_thresholds_get_labels_apart_in_both_drawings():
    chart = ctr_chart([point(0.05, 0.03, 0.07)] * 5, list("abcde"), Thresholds(0.04, 0.039))
    for drawing in (chart, chart.phone):
        assert drawing is not None
        good, poor = (g["label_y"] for g in drawing.guides)
        assert abs(poor - good) >= GUIDE_LABEL_HEIGHT


@pytest.mark.parametrize("count", [1, 2, 4, 7, 8, 9, 24, 30, 31, 91, 168])
@pytest.mark.parametrize("most", [WIDE.x_labels, PHONE.x_labels])
def test_the_newest_point_is_always_labelled(count, most):
    chosen = x_label_indexes(count, most)
    assert chosen[0] == 0 and chosen[-1] == count - 1
    assert len(chosen) <= most and chosen == sorted(set(chosen))


def test_the_last_x_label_ends_inside_the_chart():
    chart = ctr_chart([point(0.02)] * 30, [f"{d} Nov" for d in range(1, 31)])
    last = chart.x_ticks[-1]
    assert last.label == "30 Nov" and last.anchor == "end"
    assert last.position <= chart.width - chart.right


# -- In the browser ------------------------------------------------------------------------------

def test_a_100_percent_ctr_chart_ends_at_100_percent(server, page: Page):
    seeder = new_seeder(server)
    seeder.many("always", "cta", 3, 3)  # every impression clicked: 100% CTR, interval up to 100%
    sign_in(page, server, f"/sites/{seeder.site}/elements/always")
    y_labels = page.locator("svg.chart text.axis:not(.x-label)")
    expect(y_labels.last).to_have_text("100%")
    assert "200%" not in (page.locator("svg.chart").text_content() or "")


def test_close_good_and_poor_labels_do_not_overlap(server, page: Page):
    # Good at 4%, Poor at 3.9%: on a 0-100% axis their lines are a pixel apart.
    seeder = new_seeder(server, thresholds={"cta": {"good": 0.04, "poor": 0.039}})
    seeder.many("close", "cta", 4, 4)
    sign_in(page, server, f"/sites/{seeder.site}/elements/close")
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        chart = page.locator("svg.chart:visible, svg.phone-chart:visible")
        expect(chart).to_have_count(1)
        labels = chart.locator("text.guide-label")
        expect(labels).to_have_count(2)
        good, poor = (labels.nth(i).bounding_box() for i in range(2))
        assert good is not None and poor is not None
        apart = (good["y"] + good["height"] <= poor["y"] or poor["y"] + poor["height"] <= good["y"]
                 or good["x"] + good["width"] <= poor["x"] or poor["x"] + poor["width"] <= good["x"])
        assert apart, (width, good, poor)
