"""The settings form speaks percent, so do its errors; the API keeps speaking fractions."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect
from test_charts import sign_in

from ctrlens.collector.errors import InvalidRequest
from ctrlens.dashboard.site_settings import form_changes
from dashboard_seed import new_seeder


def form(**fields: str) -> dict[str, str]:
    return {"name": "Shop", "origins": "https://shop.example", "timezone": "UTC", "min_impressions": "200",
            **fields}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"cta_good": "1.5", "cta_poor": "4"}, "cta: Good must be above Poor (Good 1.5% ≤ Poor 4%)"),
        ({"banner_good": "0.3", "banner_poor": "0.3"},
         "banner: Good must be above Poor (Good 0.3% ≤ Poor 0.3%)"),
        ({"link_good": "0.4"}, "link: Good must be above Poor (Good 0.4% ≤ Poor 0.5%)"),  # Poor's default
        ({"nav_good": "150"}, "nav good must be a percentage above 0 and at most 100, got 150%"),
        ({"cta_poor": "0"}, "cta poor must be a percentage above 0 and at most 100, got 0%"),
        ({"cta_good": "four"}, "cta good must be a percentage such as 4 or 1.5, got 'four'"),
    ],
)
def test_form_errors_are_in_percent(fields, message):
    with pytest.raises(InvalidRequest) as error:
        form_changes(form(**fields))
    assert error.value.message == message
    assert "0.0" not in message


def test_a_good_form_becomes_fractions():
    changes = form_changes(form(cta_good="5", cta_poor="1.5%"))
    assert changes["thresholds"] == {"cta": {"good": 0.05, "poor": 0.015}}


def test_the_settings_page_says_what_is_wrong_in_percent(server, page: Page):
    seeder = new_seeder(server)
    sign_in(page, server, f"/sites/{seeder.site}/settings")
    page.fill("input[name=cta_good]", "1.5")
    page.click("button:has-text('Save settings')")
    expect(page.locator(".error")).to_have_text("cta: Good must be above Poor (Good 1.5% ≤ Poor 1.5%)")
    expect(page.locator("input[name=cta_good]")).to_have_value("1.5")
