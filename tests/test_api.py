"""The dashboard's JSON API (docs/design.md §4) against a real server on both backends: the numbers,
the statistics (checked against statsmodels/scipy), CSV twins, settings, OpenAPI, time zones."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from ctrlens.dashboard.statistics import srm_p_value
from dashboard_seed import Seen, new_seeder, shop


def get(server, path: str, **params: Any) -> dict[str, Any]:
    r = server.client.get(path, params=params, headers=server.auth)
    assert r.status_code == 200, r.text
    return r.json()


def csv_rows(server, path: str, **params: Any) -> list[dict[str, str]]:
    r = server.client.get(path, params={**params, "format": "csv"}, headers=server.auth)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    return list(csv.DictReader(io.StringIO(r.text)))


def as_csv(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "; ".join(value)
    return str(value)


# -- elements ---------------------------------------------------------------------------------


def test_elements_give_counts_ctr_wilson_interval_and_rating(server):
    s = shop(server)
    rows = server.elements(s.site, group="variant")
    a = rows[("hero-signup", "A")]
    assert (a["impressions"], a["clicks"], a["total_clicks"]) == (400, 16, 17)
    assert a["ctr"] == 0.04 and a["kind"] == "cta"
    low, high = proportion_confint(16, 400, alpha=0.05, method="wilson")
    assert a["ctr_low"] == pytest.approx(low, abs=1e-9) and a["ctr_high"] == pytest.approx(high, abs=1e-9)
    # The textbook CTA: 16 clicks in 400 impressions is Good, tentatively (the interval reaches below 4%).
    assert a["rating"] == "good" and a["rating_firm"] is False
    # 400 distinct visitors saw it and 16 clicked: visitor CTR 4%.
    assert (a["viewers"], a["clickers"], a["visitor_ctr"]) == (400, 16, 0.04)

    total = server.elements(s.site)["hero-signup"]
    assert (total["impressions"], total["clicks"]) == (800, 46)
    assert total["pages"] == ["/pricing"]
    promo = server.elements(s.site)["promo"]
    assert promo["rating"] == "good" and promo["ctr"] == pytest.approx(6 / 450)  # a banner: good from 1%


def test_filters_narrow_the_rows(server):
    s = shop(server)
    only_b = server.elements(s.site, variant="B")
    assert only_b["hero-signup"]["impressions"] == 400 and only_b["hero-signup"]["clicks"] == 30
    assert "footer-link" not in only_b and "pricing-table" not in only_b
    banners = server.elements(s.site, kind="banner")
    assert set(banners) == {"promo", "pricing-table"}
    on_promo = server.elements(s.site, page="/promo")
    assert set(on_promo) == {"promo"}
    by_page = server.elements(s.site, group="page")
    assert by_page[("footer-link", "/pricing")]["impressions"] == 50
    no_variant = server.elements(s.site, variant="(none)")
    assert set(no_variant) == {"pricing-table"}


def test_elements_carry_the_funnel_for_the_chosen_goal(server):
    """docs/design.md §4: present, viewability, conversions, post-click rate and its interval,
    per 1,000 impressions, and the diagnosis, for `goal=` (default: the first defined goal)."""
    s = new_seeder(server)
    url = f"{s.origin}/pricing"
    for i in range(250):  # 250 page views with the hero present; 50 see it, 20 click, 5 buy
        pv = f"pv{i}"
        events: list[dict[str, Any]] = [{"id": f"{pv}-0", "type": "pageview", "present": ["hero", "side"]}]
        if i < 50:
            events.append({"id": f"{pv}-1", "type": "impression", "element": "hero", "kind": "cta"})
        if i < 20:
            events.append({"id": f"{pv}-2", "type": "click", "element": "hero"})
        if i < 5:
            events.append({"id": f"{pv}-3", "type": "conversion", "goal": "buy", "value": 10, "ts": 2})
        if i == 249:
            events.append({"id": f"{pv}-4", "type": "conversion", "goal": "buy"})  # no click before it
        body = {"site": s.site, "pageview": pv, "url": url, "events": events}
        r = server.post(body, s.origin, user_agent=f"Mozilla/5.0 (X11; Linux x86_64) visitor/{i}")
        assert r.status_code == 202 and not r.json()["rejected"], r.text
    body = get(server, f"/api/sites/{s.site}/elements", goal="buy")
    assert (body["goal"], body["goals"]) == ("buy", ["buy"])
    assert (body["totals"]["conversions"], body["totals"]["unattributed"]) == (6, 1)
    rows = {r["element"]: r for r in body["elements"]}
    hero, side = rows["hero"], rows["side"]
    assert (hero["present"], hero["impressions"], hero["viewability_rate"]) == (250, 50, 0.2)
    assert (hero["clicks"], hero["conversions"], hero["assisted"]) == (20, 5, 0)
    assert hero["post_click_rate"] == 0.25 and hero["conversions_per_1000"] == 100.0
    low, high = proportion_confint(5, 20, alpha=0.05, method="wilson")
    assert hero["post_click_low"] == pytest.approx(low) and hero["post_click_high"] == pytest.approx(high)
    assert (hero["conversion_value"], hero["value_per_1000"]) == (50.0, 1000.0)
    assert hero["diagnosis"] == "not_seen"
    assert hero["diagnosis_text"] == "Seen in 20% of the page views that had it: move it up."
    # Present in every page view, never seen: a row of its own, with nothing to rate yet.
    assert (side["present"], side["impressions"], side["diagnosis"]) == (250, 0, "not_seen")
    table = csv_rows(server, f"/api/sites/{s.site}/elements", goal="buy")
    csv_hero = next(r for r in table if r["element"] == "hero")
    assert (csv_hero["present"], csv_hero["conversions"], csv_hero["diagnosis"]) == ("250", "5", "not_seen")
    # Another goal: no conversions, the same presence.
    other = {r["element"]: r for r in get(server, f"/api/sites/{s.site}/elements", goal="signup")["elements"]}
    assert other["hero"]["conversions"] == 0 and other["hero"]["present"] == 250
    r = server.client.get(f"/api/sites/{s.site}/elements", params={"goal": "x" * 129}, headers=server.auth)
    assert r.status_code == 400 and "goal" in r.json()["error"]


def test_elements_sort_and_change_against_the_previous_period(server):
    s = shop(server)
    body = get(server, f"/api/sites/{s.site}/elements", sort="ctr", dir="desc")
    ctrs = [r["ctr"] for r in body["elements"]]
    assert ctrs == sorted(ctrs, reverse=True)
    assert body["totals"]["elements"] == 4 and body["variants"] == ["", "A", "B"]
    # Everything was sent today: the previous 30 days are empty, so there is no change to show.
    assert all(r["previous_ctr"] is None and r["change_rel"] is None for r in body["elements"])
    with_spark = get(server, f"/api/sites/{s.site}/elements", include="sparkline", period="7d")
    hero = next(r for r in with_spark["elements"] if r["element"] == "hero-signup")
    assert with_spark["sparkline_interval"] == "day"
    assert len(with_spark["sparkline_starts"]) == 7 and with_spark["sparkline_starts"][-1] == with_spark["to"]
    assert hero["sparkline"] == [None] * 6 + [pytest.approx(46 / 800)]
    weekly = get(server, f"/api/sites/{s.site}/elements", include="sparkline", period="90d")
    assert weekly["sparkline_interval"] == "week" and len(weekly["sparkline_starts"]) in (13, 14, 15)
    hero = next(r for r in weekly["elements"] if r["element"] == "hero-signup")
    assert hero["sparkline"][-1] == pytest.approx(46 / 800) and hero["sparkline"][0] is None


def test_an_empty_range_is_empty_not_an_error(server):
    s = shop(server)
    body = get(server, f"/api/sites/{s.site}/elements", **{"from": "2020-01-01", "to": "2020-01-31"})
    assert body["elements"] == [] and body["totals"]["impressions"] == 0
    for path in ("variants", "accounts"):
        assert get(server, f"/api/sites/{s.site}/{path}", **{"from": "2020-01-01", "to": "2020-01-02"})
    detail = get(
        server, f"/api/sites/{s.site}/elements/hero-signup", **{"from": "2020-01-01", "to": "2020-01-02"}
    )
    assert detail["found"] is False and sum(p["impressions"] for p in detail["series"]) == 0


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2024-02-30"},
        {"from": "2024-03-02", "to": "2024-03-01"},
        {"period": "1y"},
        {"group": "account"},
        {"kind": "popup"},
        {"sort": "nonsense"},
    ],
)
def test_bad_parameters_are_a_readable_400(server, params):
    s = shop(server)
    r = server.client.get(f"/api/sites/{s.site}/elements", params=params, headers=server.auth)
    assert r.status_code == 400 and r.json()["error"]


def test_unknown_site_is_404(server):
    r = server.client.get("/api/sites/no-such-site/elements", headers=server.auth)
    assert r.status_code == 404


# -- one element --------------------------------------------------------------------------------


def test_series_by_hour_and_day_sum_to_the_totals(server):
    s = shop(server)
    day = get(server, f"/api/sites/{s.site}/elements/hero-signup/series", interval="day", period="7d")
    assert len(day["series"]) == 7
    assert sum(p["impressions"] for p in day["series"]) == 800
    today = day["series"][-1]
    assert (today["impressions"], today["clicks"]) == (800, 46)
    assert today["ctr_low"] < today["ctr"] < today["ctr_high"]
    assert day["series"][0]["ctr"] is None  # an empty day has no CTR, not 0%
    hour = get(
        server,
        f"/api/sites/{s.site}/elements/hero-signup/series",
        interval="hour",
        period="today",
        variant="B",
    )
    assert len(hour["series"]) in (23, 24, 25)  # a day, in the site's zone (DST days differ)
    assert sum(p["clicks"] for p in hour["series"]) == 30
    r = server.client.get(
        f"/api/sites/{s.site}/elements/hero-signup/series",
        params={"interval": "hour", "period": "90d"},
        headers=server.auth,
    )
    assert r.status_code == 400


def test_element_detail_shows_three_ctrs_and_breakdowns(server):
    s = shop(server)
    d = get(server, f"/api/sites/{s.site}/elements/hero-signup")
    assert d["found"] and d["kind"] == "cta" and d["variants"] == ["A", "B"]
    assert d["summary"]["impressions"] == 800 and d["summary"]["visitor_ctr"] == pytest.approx(46 / 800)
    by = {k: {r["value"]: r for r in rows} for k, rows in d["breakdowns"].items()}
    assert by["variant"]["A"]["clicks"] == 16 and by["variant"]["B"]["clicks"] == 30
    assert by["device"]["mobile"]["impressions"] == 100
    assert by["device"]["desktop"]["impressions"] == 700
    assert by["source"]["newsletter"]["impressions"] == 50
    assert by["page"]["/pricing"]["impressions"] == 800
    accounts = get(server, f"/api/sites/{s.site}/elements/pricing-table")["summary"]
    assert (accounts["accounts_viewed"], accounts["accounts_clicked"], accounts["account_ctr"]) == (
        80,
        20,
        0.25,
    )
    rows = csv_rows(server, f"/api/sites/{s.site}/elements/hero-signup/breakdown", by="device")
    assert {r["value"]: int(r["impressions"]) for r in rows} == {"desktop": 700, "mobile": 100}


def test_element_ids_with_slashes_and_spaces_round_trip(server):
    s = new_seeder(server)
    s.pageview([Seen("checkout/step 2?", "cta", 1)], "/checkout")
    d = get(server, f"/api/sites/{s.site}/elements/checkout%2Fstep%202%3F")
    assert d["found"] and d["summary"]["clicks"] == 1
    series = get(server, f"/api/sites/{s.site}/elements/checkout%2Fstep%202%3F/series", period="today")
    assert sum(p["impressions"] for p in series["series"]) == 1


# -- variants -------------------------------------------------------------------------------------


def test_compare_agrees_with_scipy(server):
    """Every shop visitor sees hero-signup once, so each visitor-day is one trial: the clustered
    variance of an arm is p(1 − p)/(n − 1), and the tests are normal tests of the difference."""
    s = shop(server)
    url = f"/api/sites/{s.site}/compare"
    c = get(server, url, element="hero-signup", control="A", treatment="B")
    assert (c["control"]["clicks"], c["control"]["impressions"], c["control"]["visitors"]) == (16, 400, 400)
    assert (c["treatment"]["clicks"], c["treatment"]["impressions"]) == (30, 400)
    d, v = 30 / 400 - 16 / 400, sum(p * (1 - p) / 399 for p in (16 / 400, 30 / 400))
    tau = 0.1 * 46 / 800  # the smallest effect worth detecting: 10% of the CTR
    # The mixture SPRT's ratio: the marginal density of d under θ ~ N(0, τ²) over its density under θ = 0.
    mixture = stats.norm.pdf(d, 0, (v + tau**2) ** 0.5) / stats.norm.pdf(d, 0, v**0.5)
    assert (c["inference"], c["correction"], c["comparisons"]) == ("always_valid", "bh", 2)
    assert c["p_value"] == pytest.approx(min(1.0, 1 / mixture), abs=1e-6)
    assert c["lift_abs"] == pytest.approx(0.035) and c["lift_rel"] == pytest.approx(0.875)
    assert c["chance_to_beat"] == pytest.approx(stats.norm.cdf(d / v**0.5), abs=1e-9)
    assert c["diff_low"] < 0 < 0.035 < c["diff_high"]
    # p = 0.033 at a fixed horizon, but read any day the evidence is far from enough.
    assert (c["verdict"], c["decision"]) == ("inconclusive", "keep_running")
    assert c["days_to_decision"] is None or c["days_to_decision"] > 0
    # Page views per arm on the pages where the element appeared: 400 each, a fair split.
    assert (c["control"]["pageviews"], c["treatment"]["pageviews"]) == (400, 400)
    assert c["srm_p_value"] == pytest.approx(1.0) and c["srm_warning"] is False
    assert (
        "B's hero-signup gets 87% more clicks per impression than A; 98% chance B is better" in c["sentence"]
    )
    assert "Keep the test running" in c["sentence"]

    fixed = get(server, url, element="hero-signup", inference="fixed", correction="none")
    assert (fixed["inference"], fixed["correction"]) == ("fixed_horizon", "none")
    assert fixed["p_value"] == pytest.approx(2 * stats.norm.sf(d / v**0.5), abs=1e-6)
    assert fixed["p_adjusted"] == fixed["p_value"]
    assert fixed["diff_low"] == pytest.approx(d - stats.norm.isf(0.025) * v**0.5, abs=1e-9)
    assert (fixed["verdict"], fixed["decision"]) == ("winner", "ship")  # p = 0.033 < 0.05
    assert fixed["sentence"].endswith("Ship B: it does better, with at most a 5% chance of a false alarm "
                                      "if this is the one planned reading.")
    # Benjamini–Hochberg across the page's two comparisons (hero-signup and promo).
    promo = get(server, url, element="promo", inference="fixed", correction="none")["p_value"]
    bh = get(server, url, element="hero-signup", inference="fixed")
    expected = min(fixed["p_value"] * 2, max(fixed["p_value"], promo))
    assert bh["p_adjusted"] == pytest.approx(expected, abs=1e-9)
    assert bh["verdict"] == "inconclusive"


def test_a_broken_split_is_flagged(server):
    s = shop(server)
    c = get(server, f"/api/sites/{s.site}/compare", element="promo")
    assert (c["control_variant"], c["treatment_variant"]) == ("A", "B")
    assert c["srm_p_value"] == pytest.approx(srm_p_value(300, 150), rel=1e-9) and c["srm_warning"] is True
    assert c["verdict"] == "insufficient"  # B has 150 impressions, below the 200 minimum
    assert "sample ratio mismatch" in c["sentence"] or "Not enough data" in c["sentence"]


def test_variants_lists_elements_seen_in_two_or_more_variants(server):
    s = shop(server)
    rows = get(server, f"/api/sites/{s.site}/variants")["comparisons"]
    assert {(r["element"], r["control"], r["treatment"]) for r in rows} == {
        ("hero-signup", "A", "B"),
        ("promo", "A", "B"),
    }
    flipped = get(server, f"/api/sites/{s.site}/variants", control="B", inference="fixed", correction="none")
    hero = next(r for r in flipped["comparisons"] if r["element"] == "hero-signup")
    assert (hero["control"], hero["treatment"], hero["verdict"], hero["decision"]) == (
        "B", "A", "loser", "keep_control"
    )
    assert (flipped["inference"], flipped["correction"]) == ("fixed_horizon", "none")
    assert {r["p_adjusted"] == r["p_value"] for r in flipped["comparisons"]} == {True}
    assert [r["sentence"] for r in csv_rows(server, f"/api/sites/{s.site}/variants")] == [
        r["sentence"] for r in rows
    ]


def test_compare_errors_are_readable(server):
    s = shop(server)
    for params, status in (
        ({}, 400),
        ({"element": "footer-link"}, 400),
        ({"element": "nope"}, 404),
        ({"element": "hero-signup", "treatment": "Z"}, 404),
        ({"element": "hero-signup", "control": "A", "treatment": "A"}, 400),
        ({"element": "hero-signup", "inference": "bayesian"}, 400),
        ({"element": "hero-signup", "correction": "bonferroni"}, 400),
    ):
        r = server.client.get(f"/api/sites/{s.site}/compare", params=params, headers=server.auth)
        assert r.status_code == status, (params, r.text)
        assert r.json()["error"]


# -- accounts --------------------------------------------------------------------------------------


def test_account_ctr_is_accounts_clicked_over_accounts_viewed(server):
    s = shop(server)
    body = get(server, f"/api/sites/{s.site}/accounts", element="pricing-table")
    # The textbook case: 20 of 80 accounts clicked, an account CTR of 25%.
    assert (body["accounts_viewed"], body["accounts_clicked"], body["account_ctr"]) == (80, 20, 0.25)
    assert len(body["accounts"]) == 80
    clicked = {a["account"] for a in body["accounts"] if a["clicked"]}
    assert clicked == {f"acct-{i:02d}" for i in range(20)}
    rows = csv_rows(server, f"/api/sites/{s.site}/accounts", element="pricing-table")
    assert [r["account"] for r in rows] == [a["account"] for a in body["accounts"]]
    everything = get(server, f"/api/sites/{s.site}/accounts")
    assert [e["element"] for e in everything["elements"]] == ["pricing-table"]


# -- CSV twins ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("accept", [False, True])
def test_elements_csv_has_the_json_rows(server, accept):
    s = shop(server)
    path = f"/api/sites/{s.site}/elements"
    rows = get(server, path, group="variant")["elements"]
    if accept:
        r = server.client.get(
            path, params={"group": "variant"}, headers={**server.auth, "Accept": "text/csv"}
        )
        table = list(csv.DictReader(io.StringIO(r.text)))
    else:
        table = csv_rows(server, path, group="variant")
    assert len(table) == len(rows)
    for line, row in zip(table, rows, strict=True):
        assert set(line) <= set(row)
        assert line == {k: as_csv(row[k]) for k in line}


# -- settings -------------------------------------------------------------------------------------------


def test_settings_round_trip_and_change_the_ratings(server):
    s = new_seeder(server)
    s.many("cta-1", "cta", 400, 16)
    url = f"/api/sites/{s.site}/settings"
    before = get(server, url)
    assert before["thresholds"]["cta"] == {"good": 0.04, "poor": 0.015, "custom": False}
    assert before["min_impressions"] == 200 and before["timezone"] == "UTC"
    assert f'data-site="{s.site}"' in before["install_tag"] and before["retention_days"] > 0
    assert server.elements(s.site)["cta-1"]["rating"] == "good"

    r = server.client.put(
        url,
        json={
            "thresholds": {"cta": {"good": 0.05}},
            "min_impressions": 100,
            "timezone": "Europe/Berlin",
            "origins": ["https://shop.example", "https://www.shop.example"],
            "allow_bots": True,
        },
        headers=server.auth,
    )
    assert r.status_code == 200, r.text
    after = r.json()
    assert after["thresholds"]["cta"] == {"good": 0.05, "poor": 0.015, "custom": True}
    assert after["origins"] == ["https://shop.example", "https://www.shop.example"]
    assert (after["timezone"], after["min_impressions"], after["allow_bots"]) == ("Europe/Berlin", 100, True)
    assert server.elements(s.site)["cta-1"]["rating"] == "average"
    assert get(server, url) == after


@pytest.mark.parametrize(
    "body",
    [
        {"thresholds": {"cta": {"good": 0.01, "poor": 0.02}}},
        {"thresholds": {"cta": {"good": 4}}},
        {"thresholds": {"popup": {"good": 0.1}}},
        {"origins": ["not a url"]},
        {"origins": []},
        {"timezone": "Mars/Olympus"},
        {"min_impressions": 0},
        {"allow_bots": "yes"},
        {"retention_days": 30},
        {"colour": "blue"},
        {"experiment": {"variants": [{"name": "A", "share": 1}]}},
        {"experiment": {"variants": [{"name": "A", "share": 1}, {"name": "A", "share": 1}]}},
        {"experiment": {"variants": [{"name": "A", "share": 1}, {"name": "B", "share": -1}]}},
        {"experiment": {"variants": "A, B"}},
        {"experiment": {"start": "yesterday"}},
        {"experiment": {"metric": "revenue"}},
        {"experiment": {"smallest_effect": 0}},
        {"experiment": {"smallest_effect": "10%"}},
        {"experiment": {"inference": "bayesian"}},
        {"experiment": {"correction": "bonferroni"}},
        {"experiment": {"goal": "signup"}},
        {"experiment": "on"},
        ["not", "an", "object"],
    ],
)
def test_settings_refuse_invalid_values(server, body):
    s = new_seeder(server)
    r = server.client.put(f"/api/sites/{s.site}/settings", json=body, headers=server.auth)
    assert r.status_code == 400, r.text
    assert r.json()["error"]


def test_an_experiment_setting_sets_split_start_control_and_method(server):
    s = new_seeder(server)
    # A planned 80/20 rollout: 400 page views of A and 100 of B is exactly as planned.
    s.many("hero", "cta", 400, 16, variant="A")
    s.many("hero", "cta", 100, 9, variant="B")
    url = f"/api/sites/{s.site}/settings"
    assert get(server, url)["experiment"] == {
        "variants": [], "start": None, "metric": "ctr", "smallest_effect": 0.1,
        "inference": "always_valid", "correction": "bh",
    }
    compare = f"/api/sites/{s.site}/compare"
    assert get(server, compare, element="hero")["srm_warning"] is True  # against an even split
    today = datetime.now(ZoneInfo("UTC")).date()
    experiment = {
        "variants": [{"name": "B", "share": 20}, {"name": "A", "share": 80}],
        "start": today.isoformat(),
        "smallest_effect": 0.25,
        "inference": "fixed_horizon",
        "correction": "holm",
    }
    r = server.client.put(url, json={"experiment": experiment}, headers=server.auth)
    assert r.status_code == 200, r.text
    saved = r.json()["experiment"]
    assert saved["variants"] == [{"name": "B", "share": 0.2}, {"name": "A", "share": 0.8}]
    assert (saved["start"], saved["smallest_effect"], saved["inference"], saved["correction"]) == (
        today.isoformat(), 0.25, "fixed_horizon", "holm"
    )
    c = get(server, compare, element="hero")
    # The declared control comes first; the split is checked against 20/80; the period starts at the start.
    assert (c["control_variant"], c["treatment_variant"]) == ("B", "A")
    assert c["srm_p_value"] == pytest.approx(1.0) and c["srm_warning"] is False
    assert (c["inference"], c["correction"], c["smallest_effect"]) == ("fixed_horizon", "holm", 0.25)
    assert c["from"] == today.isoformat()
    # A request's choice wins over the setting.
    assert get(server, compare, element="hero", inference="always_valid")["inference"] == "always_valid"
    r = server.client.put(url, json={"experiment": None}, headers=server.auth)
    assert r.status_code == 200 and r.json()["experiment"]["variants"] == []


def test_live_check_and_rejections_are_visible(server):
    s = new_seeder(server)
    s.pageview([Seen("hero", "cta")])
    live = get(server, f"/api/sites/{s.site}/live")
    assert live["events"] == 1 and live["last_active_hour"]
    r = server.post(
        {
            "site": s.site,
            "pageview": "p",
            "url": "https://evil.example/",
            "events": [{"id": "x", "type": "impression", "element": "hero"}],
        },
        "https://evil.example",
    )
    assert r.status_code == 403
    body = get(server, f"/api/sites/{s.site}/rejections")
    assert body["rejections"]["origin"] == 1
    assert csv_rows(server, f"/api/sites/{s.site}/rejections") == [{"reason": "origin", "count": "1"}]


# -- time zones -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tz", ["Pacific/Kiritimati", "Pacific/Pago_Pago", "Asia/Kolkata"])
def test_days_are_the_sites_local_days(server, tz):
    """UTC+14, UTC-11 and UTC+5:30: events sent now belong to today in the site's zone."""
    s = new_seeder(server, timezone=tz)
    s.pageview([Seen("hero", "cta", 1)])
    today = datetime.now(ZoneInfo(tz)).date()
    yesterday, tomorrow = today - timedelta(days=1), today + timedelta(days=1)
    assert server.elements(s.site, period="today")["hero"]["impressions"] == 1
    assert (
        server.elements(s.site, **{"from": today.isoformat(), "to": today.isoformat()})["hero"]["clicks"] == 1
    )
    assert server.elements(s.site, **{"from": yesterday.isoformat(), "to": yesterday.isoformat()}) == {}
    assert server.elements(s.site, **{"from": tomorrow.isoformat(), "to": tomorrow.isoformat()}) == {}
    day = get(server, f"/api/sites/{s.site}/elements/hero/series", interval="day", period="7d")
    assert day["series"][-1]["start"] == today.isoformat() and day["series"][-1]["impressions"] == 1


# -- the API as a whole -----------------------------------------------------------------------------------


def api_routes() -> list[tuple[str, set[str]]]:
    from ctrlens.dashboard.routes import api_routes

    return [(re.sub(r"\{(\w+):\w+\}", r"{\1}", r.path), set(r.methods or ()) - {"HEAD"}) for r in api_routes]


def test_openapi_describes_every_route(server):
    doc = get(server, "/api/openapi.json")
    assert doc["openapi"].startswith("3.")
    described = {path: {m.upper() for m in ops} for path, ops in doc["paths"].items()}
    routes = api_routes()
    for path, methods in routes:
        assert path in described, f"{path} is not in /api/openapi.json"
        assert methods <= described[path], f"{path}: {methods - described[path]} not described"
    assert set(described) == {p for p, _ in routes}, "the document describes routes that do not exist"
    refs = set(re.findall(r'"#/components/schemas/(\w+)"', str(doc).replace("'", '"')))
    assert refs <= set(doc["components"]["schemas"])


def test_every_api_route_requires_login(server):
    s = shop(server)
    for path, methods in api_routes():
        url = path.replace("{site}", s.site).replace("{element}", "hero-signup")
        for method in methods:
            r = server.client.request(method, url)
            assert r.status_code == 401, (method, url, r.status_code)


# -- one handler per page: both URLs, every rendering (docs/design.md §4 "Pages and API") -------------


BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def page_twins(site: str) -> list[tuple[str, str, dict[str, str]]]:
    """Each dashboard page, its /api twin, and a query both are asked with."""
    week = {"period": "7d"}
    return [
        (f"/sites/{site}", f"/api/sites/{site}/elements", {"group": "variant", "variant": "A", **week}),
        (
            f"/sites/{site}/elements/hero-signup",
            f"/api/sites/{site}/elements/hero-signup",
            {"variant": "B", **week},
        ),
        (f"/sites/{site}/variants", f"/api/sites/{site}/variants", {"control": "B", **week}),
        (f"/sites/{site}/accounts", f"/api/sites/{site}/accounts", {"element": "pricing-table", **week}),
        (f"/sites/{site}/settings", f"/api/sites/{site}/settings", {}),
        ("/", "/api/sites", {}),
    ]


def test_a_page_and_its_api_answer_the_same_json_and_csv(server):
    s = shop(server)
    for page, api, params in page_twins(s.site):
        as_json = server.client.get(page, params={**params, "format": "json"}, headers=server.auth)
        assert as_json.status_code == 200 and as_json.headers["content-type"] == "application/json", page
        assert as_json.json() == get(server, api, **params), page
        asked = server.client.get(page, params=params, headers={**server.auth, "Accept": "application/json"})
        assert asked.json() == as_json.json(), page
        assert "accept" in asked.headers["vary"].lower()
    for page, api, params in page_twins(s.site)[:4]:
        by_format = server.client.get(page, params={**params, "format": "csv"}, headers=server.auth)
        by_accept = server.client.get(page, params=params, headers={**server.auth, "Accept": "text/csv"})
        assert by_format.headers["content-type"].startswith("text/csv"), page
        assert by_format.text == by_accept.text == csv_text_of(server, api, **params), page


def csv_text_of(server, path: str, **params: Any) -> str:
    r = server.client.get(path, params={**params, "format": "csv"}, headers=server.auth)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv"), r.text
    return r.text


def test_the_api_url_gives_the_page_to_whoever_asks_for_html(server):
    s = shop(server)
    for page, api, params in page_twins(s.site)[:5]:
        html = server.client.get(page, params=params, headers=server.auth)
        assert html.headers["content-type"].startswith("text/html"), page
        for asked in ({"format": "html"}, {}):
            headers = {**server.auth, **({} if asked else {"Accept": BROWSER_ACCEPT})}
            twin = server.client.get(api, params={**params, **asked}, headers=headers)
            assert twin.status_code == 200 and twin.headers["content-type"].startswith("text/html"), (
                api,
                asked,
            )
            assert twin.text.count("<h1") == html.text.count("<h1") == 1
    # A page without HTML (a data table of the element page) keeps to JSON for a browser.
    r = server.client.get(
        f"/api/sites/{s.site}/rejections", headers={**server.auth, "Accept": BROWSER_ACCEPT}
    )
    assert r.headers["content-type"] == "application/json"
    r = server.client.get(f"/api/sites/{s.site}/live", params={"format": "csv"}, headers=server.auth)
    assert r.status_code == 400 and r.json()["error"] == "format must be one of json"


def test_errors_are_json_on_the_api_and_a_page_on_the_dashboard(server):
    s = shop(server)
    cases = [
        (f"/api/sites/{s.site}/elements", {"period": "1y"}, {}, 400, "json"),
        (f"/sites/{s.site}", {"period": "1y"}, {}, 400, "html"),
        (f"/sites/{s.site}", {"period": "1y", "format": "json"}, {}, 400, "json"),
        (f"/sites/{s.site}", {"period": "1y"}, {"Accept": "text/csv"}, 400, "json"),
        (f"/sites/{s.site}", {"format": "xml"}, {}, 400, "html"),
        ("/api/sites/no-such-site/elements", {}, {"Accept": BROWSER_ACCEPT}, 404, "json"),
        ("/sites/no-such-site", {}, {}, 404, "html"),
        ("/api/no-such-route", {}, {}, 404, "json"),
        ("/no-such-route", {}, {}, 404, "html"),
    ]
    for path, params, headers, status, rendering in cases:
        r = server.client.get(path, params=params, headers={**server.auth, **headers})
        assert r.status_code == status, (path, params, r.text)
        if rendering == "json":
            assert r.headers["content-type"] == "application/json" and r.json()["error"], (path, params)
        else:
            assert r.headers["content-type"].startswith("text/html") and 'class="error"' in r.text, (
                path,
                params,
            )
    # Signed out: a browser is sent to sign in, a script gets a 401 it can read.
    assert server.client.get(f"/sites/{s.site}", follow_redirects=False).status_code == 303
    r = server.client.get(f"/sites/{s.site}", params={"format": "json"}, follow_redirects=False)
    assert r.status_code == 401 and r.json()["error"]


@pytest.mark.parametrize(
    ("path", "accept", "query", "expected"),
    [
        ("/api/sites/s/elements", "", "", "json"),
        ("/api/sites/s/elements", "*/*", "", "json"),
        ("/api/sites/s/elements", BROWSER_ACCEPT, "", "html"),
        ("/api/sites/s/elements", "text/html", "format=csv", "csv"),
        ("/sites/s", "", "", "html"),
        ("/sites/s", "*/*", "", "html"),
        ("/sites/s", "application/json", "", "json"),
        ("/sites/s", "application/json;q=0.5, text/csv", "", "csv"),
        ("/sites/s", "text/html;q=0, */*", "", "json"),
        ("/sites/s", "image/png", "", "html"),
        ("/sites/s", "application/json;q=nonsense", "", "json"),
    ],
)
def test_negotiation(path, accept, query, expected):
    from starlette.requests import Request

    from ctrlens.dashboard.negotiation import RENDERINGS, default_rendering, negotiate

    headers = [(b"accept", accept.encode())] if accept else []
    request = Request({"type": "http", "path": path, "query_string": query.encode(), "headers": headers})
    assert negotiate(request, RENDERINGS, default_rendering(path)) == expected
