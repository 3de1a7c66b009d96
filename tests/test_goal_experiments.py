"""Experiments on conversions per impression of a goal (docs/design.md §3 attribution, §4 "Variant
verdicts", §5), on both backends:

- the goal moments that storage keeps incrementally (ΣK, ΣK², ΣN·K per goal, UTC day, element and
  variant) equal a recount from the stored conversions and the raw events, after a randomised mix
  of batches from concurrent writers, replays, impressions that arrive after the conversions they
  change, and conversions crossing midnight;
- the compare API on that metric matches a numpy reference (delta-method variance clustered by
  visitor-day, the always-valid mixture SPRT) to 1e-6, through the real server;
- the experiment setting's metric and goal are validated with readable 400s.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
import uuid
from collections import defaultdict
from typing import Any

import numpy as np
import pytest

from ctrlens.collector.events import StoredEvent
from ctrlens.collector.storage import Storage, WriteBatch, open_storage
from harness import BROWSER_UA, Server, private_loop

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
GOALS = ("signup", "buy")
ELEMENTS = ("hero", "nav", "banner")
FIELDS = ("conversions", "conversions_sq", "cross_products")

# -- the goal moments against a recount ------------------------------------------------------------


def _event(event_id: str, type: str, pageview: str, visitor: str, ts: int, **more: Any) -> StoredEvent:
    fields: dict[str, Any] = {
        "site": "shop", "event_id": event_id, "pageview": pageview, "type": type, "element": "",
        "kind": "cta", "variant": "", "account": "", "page": "/", "url": "https://shop.example/",
        "referrer": "", "source": "(direct)", "device": "desktop", "visitor": visitor, "via_click": False,
        "ts_client": ts - 5, "ts_server": ts,
    }
    return StoredEvent(**{**fields, **more})


def _visitor(person: int, day: int) -> str:
    """Visitor ids change every UTC day (docs/design.md §5)."""
    return f"p{person}-d{day}"


def _traffic(rng: random.Random) -> tuple[list[StoredEvent], list[StoredEvent], list[StoredEvent]]:
    """Three waves, each sent after the one before: page views with impressions and clicks; then
    conversions (some just after midnight, after a click just before it); then impressions of
    more page views of the same visitor-days, which raise N where K is already counted."""
    today = int(time.time() * 1000) // DAY_MS
    first, conversions, late = [], [], []
    variants: dict[tuple[int, str], str] = {}
    n = 0
    for _ in range(400):
        person, day = rng.randrange(60), today - rng.randrange(1, 3)
        # Some page views at 23:5x, so a conversion at 00:0x of the next day finds its click.
        late_night = rng.random() < 0.25
        ts = day * DAY_MS + (23 * HOUR_MS + 3_000_000 if late_night else rng.randrange(1, 22) * HOUR_MS)
        ts += rng.randrange(100_000)
        n += 1
        pageview, visitor = f"pv{n}", _visitor(person, day)
        for element in rng.sample(ELEMENTS, rng.randint(1, 3)):
            variant = variants.setdefault((person, element), rng.choice("AB"))
            if rng.random() < 0.9:
                first.append(_event(f"{pageview}-{element}-i", "impression", pageview, visitor, ts,
                                    element=element, variant=variant))
            if rng.random() < 0.4:
                first.append(_event(f"{pageview}-{element}-c", "click", pageview, visitor, ts + 1000,
                                    element=element, variant=variant))
        for goal in GOALS:
            if rng.random() < 0.35:
                n += 1
                at = ts + rng.randrange(60_000, 1_200_000)  # past midnight for the late-night ones
                at_day = at // DAY_MS
                conversions.append(_event(
                    f"pv{n}-{goal}", "conversion", f"pv{n}", _visitor(person, at_day), at, goal=goal,
                    previous_visitor=_visitor(person, at_day - 1), kind="",
                ))
        if rng.random() < 0.5:  # a later page view of the same visitor-day: N rises
            n += 1
            element = rng.choice(ELEMENTS)
            variant = variants.setdefault((person, element), rng.choice("AB"))
            late.append(_event(f"pv{n}-{element}-i", "impression", f"pv{n}", visitor, ts + 2000,
                               element=element, variant=variant))
    return first, conversions, late


def _cut(rng: random.Random, events: list[StoredEvent], writers: int) -> list[list[list[StoredEvent]]]:
    """Per writer, its batches of `events`, with a fifth of them sent again (replays)."""
    sends: list[list[StoredEvent]] = [[] for _ in range(writers)]
    for e in events:
        sends[rng.randrange(writers)].append(e)
        if rng.random() < 0.2:
            sends[rng.randrange(writers)].append(e)
    batches = []
    for mine in sends:
        cuts = sorted(rng.sample(range(1, len(mine)), max(0, min(len(mine) - 1, len(mine) // 12))))
        batches.append([mine[a:b] for a, b in zip([0, *cuts], [*cuts, len(mine)], strict=True)])
    return batches


def _recount(raw: list[dict[str, Any]], conversions: list[dict[str, Any]]) -> dict[tuple[str, int, str, str], dict[str, int]]:
    """Per (goal, UTC day, element, variant): ΣK, ΣK², ΣN·K from the raw events and the stored
    conversions alone. N: a visitor-day's page views with the element (one impression each, as the
    rollups count them); K: its conversions credited to the element, by the click's visitor-day."""
    cells: dict[tuple[str, str], tuple[int, str, str]] = {}
    for e in raw:
        cells.setdefault((e["pageview"], e["element"]), (e["ts_server"] // DAY_MS, e["visitor"], e["variant"]))
    n: dict[tuple[int, str, str, str], int] = defaultdict(int)
    for (_, element), (day, visitor, variant) in cells.items():
        n[(day, visitor, element, variant)] += 1
    k: dict[tuple[int, str, str, str, str], int] = defaultdict(int)
    for c in conversions:
        if c["element"]:
            k[(c["click_day"], c["click_visitor"], c["element"], c["click_variant"], c["goal"])] += 1
    moments: dict[tuple[str, int, str, str], dict[str, int]] = defaultdict(lambda: dict.fromkeys(FIELDS, 0))
    for (day, visitor, element, variant, goal), kk in k.items():
        m = moments[(goal, day, element, variant)]
        m["conversions"] += kk
        m["conversions_sq"] += kk * kk
        m["cross_products"] += n[(day, visitor, element, variant)] * kk
    return dict(moments)


async def _stored(storage: Storage, days: list[int]) -> dict[tuple[str, int, str, str], dict[str, int]]:
    found = {}
    for goal in GOALS:
        for day in days:
            for m in await storage.variant_goal_moments("shop", goal, day, day):
                if any(getattr(m, f) for f in FIELDS):
                    found[(goal, day, m.element, m.variant)] = {f: getattr(m, f) for f in FIELDS}
    return found


@private_loop
async def test_goal_moments_equal_a_recount_from_raw_events(fresh_db: str):
    rng = random.Random(12)
    writers = [await open_storage(fresh_db) for _ in range(3)]
    try:
        first, conversions, late = _traffic(rng)

        async def run(storage: Storage, batches: list[list[StoredEvent]]) -> None:
            for batch in batches:
                await storage.write(WriteBatch(batch))

        # Three writers at once, as three collector processes; each wave after the one before,
        # the late impressions mixed with replayed conversions.
        for wave in (first, conversions, [*late, *rng.sample(conversions, len(conversions) // 3)]):
            rng.shuffle(wave)
            await asyncio.gather(*(run(w, b) for w, b in zip(writers, _cut(rng, wave, 3), strict=True)))
        storage = writers[0]
        raw = await storage.raw_events("shop")
        stored_conversions = await storage.conversions("shop", limit=100_000)
        credited = [c for c in stored_conversions if c["element"]]
        # One conversion per goal and page view, replays counted once; most credited to a click.
        assert len(stored_conversions) == len(conversions)
        assert len(credited) > 100
        # Some crossed midnight: the click's visitor-day is the day before the conversion's.
        assert any(c["click_day"] < c["ts_server"] // DAY_MS for c in credited)
        expected = _recount(raw, stored_conversions)
        days = sorted({day for _, day, _, _ in expected})
        assert await _stored(storage, days) == expected
        # Over a range, the days add up; ΣK is the credited conversions of the goal rollups.
        for goal in GOALS:
            total = await storage.variant_goal_moments("shop", goal, days[0], days[-1])
            counts = await storage.goal_counts("shop", goal, 0, 2**40, keys=("element", "variant"))
            assert {(m.element, m.variant): m.conversions for m in total} == {
                key: c[0] for key, c in counts.items() if key[0] and c[0]
            }
    finally:
        for w in writers:
            await w.close()


# -- the compare API against a numpy reference -----------------------------------------------------

ORIGIN = "https://shop.example"
SMALLEST_EFFECT = 0.3


def _reference(n: np.ndarray, k: np.ndarray) -> tuple[float, float]:
    """The ratio ΣK/ΣN and its delta-method variance clustered by visitor-day."""
    ratio = k.sum() / n.sum()
    clusters = len(n)
    variance = clusters / (clusters - 1) * ((k - ratio * n) ** 2).sum() / n.sum() ** 2
    return float(ratio), float(variance)


def _send(
    server: Server, site: str, user_agent: str, pageview: str, events: list[dict[str, Any]], variant: str
) -> None:
    """One page view's events, through POST /e, from the visitor `user_agent` makes."""
    body = {"site": site, "pageview": pageview, "url": f"{ORIGIN}/", "variant": variant, "events": events}
    r = server.post(body, ORIGIN, user_agent=user_agent)
    assert r.status_code == 202, r.text


def test_compare_on_conversions_per_impression_matches_a_reference(server: Server):
    rng = random.Random(7)
    site = server.new_site([ORIGIN], min_impressions=20)
    sent: dict[str, tuple[list[int], list[int]]] = {"A": ([], []), "B": ([], [])}
    clicks_sent: dict[str, list[int]] = {"A": [], "B": []}  # per visitor: page views with a click

    def post(user_agent: str, pageview: str, events: list[dict[str, Any]], variant: str) -> None:
        _send(server, site, user_agent, pageview, events, variant)

    for person in range(80):
        variant = "AB"[person % 2]
        user_agent = f"{BROWSER_UA} visitor/{person}"  # a visitor id of its own
        impressions = conversions = clicks = 0
        clicked = False
        for _ in range(rng.randint(1, 4)):
            pageview = uuid.uuid4().hex[:20]
            events = [{"id": f"{pageview}-0", "type": "impression", "element": "hero", "kind": "cta"}]
            impressions += 1
            if rng.random() < (0.3 if variant == "A" else 0.45):
                events.append({"id": f"{pageview}-1", "type": "click", "element": "hero"})
                clicked = True
                clicks += 1
            post(user_agent, pageview, events, variant)
            if clicked and rng.random() < 0.6:  # a thank-you page after the click: credited to hero
                thanks = uuid.uuid4().hex[:20]
                post(user_agent, thanks, [{"id": f"{thanks}-0", "type": "conversion", "goal": "signup"}], variant)
                conversions += 1
        sent[variant][0].append(impressions)
        sent[variant][1].append(conversions)
        clicks_sent[variant].append(clicks)

    url = f"/api/sites/{site}/settings"
    experiment = {"metric": "conversions_per_impression", "goal": "signup", "smallest_effect": SMALLEST_EFFECT,
                  "correction": "none"}
    r = server.client.put(url, json={"experiment": experiment}, headers=server.auth)
    assert r.status_code == 200, r.text
    assert r.json()["experiment"]["goal"] == "signup"

    r = server.client.get(f"/api/sites/{site}/compare", params={"element": "hero"}, headers=server.auth)
    assert r.status_code == 200, r.text
    c = r.json()
    assert (c["metric"], c["goal"]) == ("conversions_per_impression", "signup")
    (ra, va), (rb, vb) = (_reference(np.array(sent[v][0]), np.array(sent[v][1])) for v in "AB")
    assert c["control"]["impressions"] == sum(sent["A"][0])
    assert c["control"]["clicks"] == sum(sent["A"][1])  # the arm's successes: its conversions
    assert c["treatment"]["clicks"] == sum(sent["B"][1])
    assert c["control_ctr"] == pytest.approx(ra, abs=1e-6)
    assert c["treatment_ctr"] == pytest.approx(rb, abs=1e-6)
    # The always-valid mixture SPRT (Johari et al.) on d = rB − rA, V = Var(rA) + Var(rB),
    # τ = smallest effect × the pooled rate.
    d, v = rb - ra, va + vb
    pooled = (sum(sent["A"][1]) + sum(sent["B"][1])) / (sum(sent["A"][0]) + sum(sent["B"][0]))
    tau2 = (SMALLEST_EFFECT * pooled) ** 2
    log_ratio = 0.5 * math.log(v / (v + tau2)) + tau2 * d * d / (2 * v * (v + tau2))
    p = min(1.0, math.exp(-log_ratio))
    half = math.sqrt(v * (v + tau2) / tau2 * (2 * math.log(1 / 0.05) + math.log((v + tau2) / v)))
    assert c["lift_abs"] == pytest.approx(d, abs=1e-6)
    assert c["p_value"] == pytest.approx(p, abs=1e-6)
    assert c["diff_low"] == pytest.approx(d - half, abs=1e-6)
    assert c["diff_high"] == pytest.approx(d + half, abs=1e-6)
    assert "signup conversions per impression" in c["sentence"]

    # CTR beside it, for context (docs/design.md §4): the same clustered variance and always-valid
    # interval on the clicks, unadjusted.
    second = c["secondary"]
    (ca, cva), (cb, cvb) = (_reference(np.array(sent[v][0]), np.array(clicks_sent[v])) for v in "AB")
    assert second["secondary_metric"] == "ctr" and second["secondary_goal"] is None
    assert second["control_secondary_count"] == sum(clicks_sent["A"])
    assert second["treatment_secondary_count"] == sum(clicks_sent["B"])
    assert second["control_secondary_rate"] == pytest.approx(ca, abs=1e-6)
    assert second["treatment_secondary_rate"] == pytest.approx(cb, abs=1e-6)
    cd, cv = cb - ca, cva + cvb
    ctau2 = (SMALLEST_EFFECT * (sum(clicks_sent["A"]) + sum(clicks_sent["B"]))
             / (sum(sent["A"][0]) + sum(sent["B"][0]))) ** 2
    chalf = math.sqrt(cv * (cv + ctau2) / ctau2 * (2 * math.log(1 / 0.05) + math.log((cv + ctau2) / cv)))
    assert second["secondary_diff_low"] == pytest.approx(cd - chalf, abs=1e-6)
    assert second["secondary_diff_high"] == pytest.approx(cd + chalf, abs=1e-6)
    assert second["secondary_lift_rel"] == pytest.approx(cd / ca, abs=1e-6)

    # The variants page, its CSV and the compare agree, and say which metric they use.
    page = server.client.get(f"/sites/{site}/variants", headers=server.auth)
    assert page.status_code == 200
    assert "signup conversions per impression" in page.text
    rows = server.client.get(f"/api/sites/{site}/variants", headers=server.auth).json()
    assert rows["metric"] == "conversions_per_impression" and rows["goal"] == "signup"
    (row,) = rows["comparisons"]
    assert row["p_value"] == pytest.approx(c["p_value"], abs=1e-12) and row["metric"] == "conversions_per_impression"
    csv = server.client.get(f"/api/sites/{site}/variants", params={"format": "csv"}, headers=server.auth).text
    assert "metric,goal,sentence,secondary_metric," in csv.splitlines()[0]
    assert 'title="CTR, beside the verdict">CTR</th>' in page.text


def test_a_variant_that_lifts_ctr_and_lowers_conversions_is_called_out(server: Server):
    """docs/design.md §4: with CTR as the experiment's metric and a goal defined, the page shows
    the goal's conversions per impression beside it, and says so when they go the other way."""
    site = server.new_site([ORIGIN])
    r = server.client.post(f"/api/sites/{site}/goals", json={"name": "signup"}, headers=server.auth)
    assert r.status_code in (200, 201), r.text
    rng = random.Random(7)

    def post(user_agent: str, pageview: str, events: list[dict[str, Any]], variant: str) -> None:
        _send(server, site, user_agent, pageview, events, variant)

    for person in range(600):
        variant = "AB"[person % 2]
        user_agent = f"{BROWSER_UA} visitor/{person}"
        pageview = uuid.uuid4().hex[:20]
        events = [{"id": f"{pageview}-0", "type": "impression", "element": "hero", "kind": "cta"}]
        # B: clicked twice as often, but its clickers hardly ever sign up.
        if rng.random() < (0.2 if variant == "A" else 0.4):
            events.append({"id": f"{pageview}-1", "type": "click", "element": "hero"})
            if rng.random() < (0.8 if variant == "A" else 0.1):
                thanks = uuid.uuid4().hex[:20]
                post(user_agent, pageview, events, variant)
                events = [{"id": f"{thanks}-0", "type": "conversion", "goal": "signup"}]
                pageview = thanks
        post(user_agent, pageview, events, variant)

    # A bold change, judged as such: a smallest effect of 50% narrows the always-valid interval.
    experiment = {"metric": "ctr", "smallest_effect": 0.5}
    r = server.client.put(f"/api/sites/{site}/settings", json={"experiment": experiment}, headers=server.auth)
    assert r.status_code == 200, r.text
    data = server.client.get(f"/api/sites/{site}/variants", headers=server.auth).json()
    (row,) = data["comparisons"]
    assert row["metric"] == "ctr" and row["lift_abs"] > 0
    assert (row["secondary_metric"], row["secondary_goal"]) == ("conversions_per_impression", "signup")
    assert row["treatment_secondary_rate"] < row["control_secondary_rate"]
    assert row["secondary_diff_high"] < 0 and row["metrics_disagree"] is True
    assert row["secondary_sentence"].startswith("Careful: B gets more clicks per impression than A, but fewer")
    page = server.client.get(f"/sites/{site}/variants", headers=server.auth)
    assert page.status_code == 200
    assert 'class="sentence warn metrics-disagree"' in page.text
    assert "signup conversions per impression" in page.text and "opposite way" in page.text


# -- the setting ----------------------------------------------------------------------------------


def test_the_metric_setting_is_validated_with_readable_errors(server: Server):
    site = server.new_site([ORIGIN])
    url = f"/api/sites/{site}/settings"

    def put(experiment: Any) -> Any:
        return server.client.put(url, json={"experiment": experiment}, headers=server.auth)

    missing = put({"metric": "conversions_per_impression"})
    assert missing.status_code == 400 and "needs a goal" in missing.json()["error"]
    unknown = put({"metric": "conversions_per_impression", "goal": "signup"})
    assert unknown.status_code == 400 and "'signup' is not a goal of this site" in unknown.json()["error"]
    alone = put({"goal": "signup"})
    assert alone.status_code == 400 and "conversions_per_impression" in alone.json()["error"]
    assert put({"metric": "conversions_per_impression", "goal": "x" * 200}).status_code == 400

    r = server.client.post(f"/api/sites/{site}/goals", json={"name": "signup"}, headers=server.auth)
    assert r.status_code in (200, 201), r.text
    ok = put({"metric": "conversions_per_impression", "goal": "signup"})
    assert ok.status_code == 200, ok.text
    assert ok.json()["experiment"]["metric"] == "conversions_per_impression"
    # Back to CTR: the goal goes with it.
    back = put({"metric": "ctr"})
    assert back.status_code == 200 and "goal" not in back.json()["experiment"]


def test_the_settings_form_sets_the_goal_metric(server: Server):
    import re

    import httpx

    site = server.new_site([ORIGIN])
    with httpx.Client(base_url=server.url, timeout=30) as client:

        def csrf(path: str) -> str:
            found = re.search(r'name="csrf" value="([^"]+)"', client.get(path).text)
            assert found
            return found.group(1)

        signed_in = client.post("/login", data={"csrf": csrf("/login"), "name": "", "token": server.token,
                                                "next": "/"}, follow_redirects=False)
        assert signed_in.status_code == 303
        path = f"/sites/{site}/settings"
        fields = {"name": "Shop", "origins": ORIGIN, "timezone": "UTC", "min_impressions": "200",
                  "experiment_variants": "", "experiment_start": "", "experiment_effect": "10",
                  "experiment_metric": "conversions_per_impression", "experiment_goal": "",
                  "experiment_inference": "always_valid", "experiment_correction": "bh"}
        missing = client.post(path, data={"csrf": csrf(path), **fields})
        assert missing.status_code == 400 and "needs a goal" in missing.text
        unknown = client.post(path, data={"csrf": csrf(path), **fields, "experiment_goal": "signup"})
        assert unknown.status_code == 400 and "is not a goal of this site" in unknown.text
        r = server.client.post(f"/api/sites/{site}/goals", json={"name": "signup"}, headers=server.auth)
        assert r.status_code in (200, 201), r.text
        assert '<option value="signup"' in client.get(path).text
        saved = client.post(path, data={"csrf": csrf(path), **fields, "experiment_goal": "signup"},
                            follow_redirects=False)
        assert saved.status_code == 303, saved.text
    settings = server.client.get(f"/api/sites/{site}/settings", headers=server.auth).json()
    assert (settings["experiment"]["metric"], settings["experiment"]["goal"]) == ("conversions_per_impression", "signup")
