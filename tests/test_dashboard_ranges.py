"""Date ranges and the pure pieces behind the pages: the daily/hourly range plan (checked against
brute force on both backends), site-local periods, charts, accounts, sorting and CSV cells."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ctrlens.collector.events import StoredEvent
from ctrlens.collector.storage import WriteBatch
from ctrlens.collector.storage.reads import DAY, HOUR, plan_range
from ctrlens.dashboard.accounts import summarize_accounts
from ctrlens.dashboard.charts import axis_ticks, ctr_chart, nice_ceiling, sparkline
from ctrlens.dashboard.export import csv_text
from ctrlens.dashboard.periods import parse_period
from ctrlens.dashboard.ratings import DEFAULT_THRESHOLDS
from ctrlens.dashboard.reports import element_row, sort_rows
from harness import opened, private_loop

# -- the range plan ---------------------------------------------------------------------------


def covered_hours(plan) -> list[int]:
    """Hour starts the plan counts, with multiplicity (subtractions as -1)."""
    counts: dict[int, int] = defaultdict(int)
    days = [d for a, b in plan.days for d in range(a, b + 1)]
    if plan.weeks:
        days += [d for w in range(plan.weeks[0], plan.weeks[1] + 1) for d in range(7 * w - 3, 7 * w + 4)]
    for day in days:
        for h in range(24):
            counts[day * DAY + h * HOUR] += 1
    for a, b in plan.add:
        for h in range(a, b, HOUR):
            counts[h] += 1
    for a, b in plan.subtract:
        for h in range(a, b, HOUR):
            counts[h] -= 1
    return sorted(h for h, n in counts.items() for _ in range(n))


@settings(max_examples=400, deadline=None)
@given(st.integers(0, 40 * 24 * 3600), st.integers(0, 40 * 24 * 3600))
def test_the_plan_counts_every_hour_of_the_range_exactly_once(a, b):
    plan = plan_range(a, b)
    first = -(-a // HOUR) * HOUR
    expected = list(range(first, b, HOUR))
    assert covered_hours(plan) == expected
    touched = sum((y - x) // HOUR for x, y in (*plan.add, *plan.subtract))
    assert touched <= 24  # never more than a day of hourly rows per cell
    assert sum(y - x + 1 for x, y in plan.days) <= 12  # and fewer than two weeks of daily rows


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 40 * 24 * 3600), st.integers(0, 40 * 24 * 3600))
def test_a_plan_without_subtraction_reads_only_hours_inside_the_range(a, b):
    """The plan for tests of existence (`impressions > 0` on each row read, no sum)."""
    plan = plan_range(a, b, subtract_hours=False)
    first = -(-a // HOUR) * HOUR
    assert covered_hours(plan) == list(range(first, b, HOUR))
    assert not plan.subtract
    assert sum((y - x) // HOUR for x, y in plan.add) <= 46  # at most 23 hours at either end


def test_a_utc_range_reads_weeks_and_days_only():
    plan = plan_range(10 * DAY, 40 * DAY)  # days 10..39; weeks start on days 11, 18, 25, 32
    assert plan.weeks == (2, 5) and plan.days == ((10, 10), (39, 39))
    assert not plan.add and not plan.subtract


# -- the plan on real storage, against brute force ------------------------------------------------

ELEMENTS = ("hero", "nav", "promo")
START = (int(datetime(2025, 3, 25, tzinfo=UTC).timestamp()) // DAY) * DAY  # across a DST change


def stored(i: int, element: str, hour: int, click: bool, variant: str, page: str) -> list[StoredEvent]:
    common = {
        "site": "range",
        "pageview": f"pv{i}",
        "element": element,
        "kind": "cta",
        "variant": variant,
        "account": "",
        "page": page,
        "url": f"https://shop.example{page}",
        "referrer": "",
        "source": "(direct)",
        "device": "desktop",
        "visitor": f"v{i}",
        "via_click": False,
    }
    ts = (hour + 60) * 1000
    events = [StoredEvent(event_id=f"{i}-i", type="impression", ts_client=ts, ts_server=ts, **common)]
    if click:
        events.append(
            StoredEvent(event_id=f"{i}-c", type="click", ts_client=ts + 5, ts_server=ts + 5, **common)
        )
    return events


@private_loop
async def test_ranges_in_any_zone_match_brute_force(fresh_db: str):
    rng = random.Random(5)
    truth: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
    events: list[StoredEvent] = []
    for i in range(2500):
        hour = START + rng.randrange(30 * 24) * HOUR
        element = rng.choice(ELEMENTS)
        click = rng.random() < 0.2
        events += stored(i, element, hour, click, rng.choice("AB"), rng.choice(["/", "/pricing"]))
        truth[(element, hour)][0] += 1
        truth[(element, hour)][1] += click
    async with opened(fresh_db) as storage:
        for part in range(0, len(events), 1000):
            await storage.write(WriteBatch(events[part : part + 1000]))
        for tz in ("UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"):
            for _ in range(6):
                first = date(2025, 3, 24) + timedelta(days=rng.randrange(20))
                last = first + timedelta(days=rng.choice([0, 1, 3, 8, 15]))
                period = parse_period({"from": first.isoformat(), "to": last.isoformat()}, tz)
                got = {
                    r["element"]: (r["impressions"], r["clicks"])
                    for r in await storage.element_counts("range", period.hour_from, period.hour_to)
                }
                want: dict[str, list[int]] = defaultdict(lambda: [0, 0])
                for (element, hour), (i, c) in truth.items():
                    if period.hour_from <= hour < period.hour_to:
                        want[element][0] += i
                        want[element][1] += c
                assert got == {e: tuple(v) for e, v in want.items() if v[0]}, (tz, first, last)
                totals = await storage.element_totals("range", period.hour_from, period.hour_to)
                assert {r["element"]: (r["impressions"], r["clicks"]) for r in totals} == got
                # Some counts only (impressions always, for the rows kept): the same numbers.
                narrow = await storage.element_totals(
                    "range", period.hour_from, period.hour_to, counts=("clicks",)
                )
                assert narrow == [{k: r[k] for k in ("element", "kind", "impressions", "clicks")} for r in totals]
                # The cells with impressions in the range, read without their counts.
                cells = await storage.element_cells("range", period.hour_from, period.hour_to)
                keys = await storage.cell_keys("range", period.hour_from, period.hour_to)
                assert sorted(keys) == sorted((c["element"], c["variant"], c["page"]) for c in cells)
        # The daily and weekly tables are the sums of their hours, whatever wrote them.
        daily = await storage.element_days("range", START // DAY, START // DAY + 30)
        per_day: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
        for (element, hour), (i, c) in truth.items():
            per_day[(element, hour // DAY)][0] += i
            per_day[(element, hour // DAY)][1] += c
        assert {(e, d): [i, c] for e, d, i, c in daily} == dict(per_day)
        filtered = await storage.element_days("range", START // DAY, START // DAY + 30, variant="A")
        assert sum(i for _, _, i, _ in filtered) < sum(i for _, _, i, _ in daily)
        weekly = await storage.db.fetch(
            "SELECT element, week, SUM(impressions), SUM(clicks) FROM rollups_weekly GROUP BY element, week"
        )
        per_week: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
        for (element, day), (i, c) in per_day.items():
            per_week[(element, (day + 3) // 7)][0] += i
            per_week[(element, (day + 3) // 7)][1] += c
        assert {(e, int(w)): [int(i), int(c)] for e, w, i, c in weekly} == dict(per_week)
        hours = await storage.element_hours("range", "hero", START, START + 30 * DAY)
        assert {h["hour"]: [h["impressions"], h["clicks"]] for h in hours} == {
            hour: v for (e, hour), v in truth.items() if e == "hero"
        }
        # A cell seen only in hours of a partial UTC day that lie outside the range is not one of
        # the range's cells, though the day's row has impressions (the plan reads hours inside).
        lonely = int(datetime(2025, 4, 1, 2, tzinfo=UTC).timestamp())
        await storage.write(WriteBatch(stored(9999, "lonely", lonely, False, "C", "/x")))
        period = parse_period({"from": "2025-04-01", "to": "2025-04-02"}, "America/New_York")
        assert period.hour_from // DAY * DAY <= lonely < period.hour_from
        keys = await storage.cell_keys("range", period.hour_from, period.hour_to)
        assert keys and ("lonely", "C", "/x") not in keys
        assert ("lonely", "C", "/x") in await storage.cell_keys("range", lonely, period.hour_to)


# -- periods --------------------------------------------------------------------------------------


def test_a_period_is_local_days_as_utc_hours():
    p = parse_period({"from": "2025-03-30", "to": "2025-03-30"}, "Europe/Berlin")
    # The day clocks go forward: 23 hours, from 23:00 UTC the evening before.
    assert p.hour_from == int(datetime(2025, 3, 29, 23, tzinfo=UTC).timestamp())
    assert p.hour_to - p.hour_from == 23 * HOUR
    assert p.previous().end == date(2025, 3, 29) and p.previous().days == 1
    week = parse_period({"period": "7d"}, "UTC", today=date(2025, 1, 10))
    assert (week.start, week.end, week.days) == (date(2025, 1, 4), date(2025, 1, 10), 7)
    assert week.previous().start == date(2024, 12, 28)
    assert parse_period({}, "Not/AZone", today=date(2025, 1, 10)).tz == "UTC"


def test_day_bounds_follow_the_zone_through_the_whole_range():
    p = parse_period({"from": "2025-01-01", "to": "2025-12-31"}, "America/New_York")
    local = datetime.combine(date(2025, 1, 1), time(0), ZoneInfo("America/New_York"))
    assert p.hour_from == int(local.timestamp()) and p.days == 365


# -- the pure pieces ---------------------------------------------------------------------------------


def test_textbook_rates():
    def row(clicks: int, impressions: int, kind: str = "cta") -> dict:
        counts = {
            "element": "e",
            "kind": kind,
            "impressions": impressions,
            "clicks": clicks,
            "total_clicks": clicks,
            "viewers": impressions,
            "clickers": clicks,
        }
        return element_row(counts, None, 200)

    assert (row(16, 400)["ctr"], row(16, 400)["rating"]) == (0.04, "good")
    assert (row(150, 10_000)["ctr"], row(150, 10_000)["rating"]) == (0.015, "average")
    assert row(150, 10_000)["rating_firm"] is False  # 1.5% is the poor line itself
    assert row(3, 100)["rating"] == "insufficient"
    summary = summarize_accounts(
        [
            {
                "element": "e",
                "account": f"a{i}",
                "impressions": 3,
                "clicks": 1 if i < 20 else 0,
                "total_clicks": 1,
            }
            for i in range(80)
        ]
    )
    assert (summary["accounts_viewed"], summary["accounts_clicked"], summary["account_ctr"]) == (80, 20, 0.25)


def test_sorting_puts_missing_values_last_and_ratings_in_order():
    rows = [
        {"element": "a", "rating": "poor", "impressions": 5, "change_rel": None},
        {"element": "b", "rating": "good", "impressions": 9, "change_rel": 0.2},
        {"element": "c", "rating": "insufficient", "impressions": 1, "change_rel": -0.1},
        {"element": "d", "rating": "average", "impressions": 7, "change_rel": 0.5},
    ]
    sort_rows(rows, "change", "desc")
    assert [r["element"] for r in rows] == ["d", "b", "c", "a"]
    sort_rows(rows, "change", "asc")
    assert [r["element"] for r in rows] == ["c", "b", "d", "a"]
    sort_rows(rows, "rating", "desc")
    assert [r["element"] for r in rows] == ["b", "d", "a", "c"]
    sort_rows(rows, "rating", "asc")
    assert [r["element"] for r in rows] == ["a", "d", "b", "c"]


def test_csv_cells_are_safe_for_spreadsheets():
    text = csv_text([{"e": '=HYPERLINK("x")', "n": -0.5, "ok": True, "pages": ["/a", "/b"], "none": None}])
    assert text.splitlines()[1] == '"\'=HYPERLINK(""x"")",-0.5,true,/a; /b,'


def test_chart_geometry():
    assert [nice_ceiling(v) for v in (0.031, 0.04, 0.07, 0.0021)] == [0.05, 0.05, 0.1, 0.0025]
    assert axis_ticks(0.05) == pytest.approx([0, 0.01, 0.02, 0.03, 0.04, 0.05])
    spark = sparkline([0.01, None, 0.02, 0.03])
    assert len(spark.dots) == 1 and len(spark.lines) == 1  # a gap splits the line
    assert sparkline([None, None]).lines == []
    empty = [{"ctr": None, "ctr_low": None, "ctr_high": None, "impressions": 0, "clicks": 0}] * 3
    chart = ctr_chart(empty, ["a", "b", "c"], DEFAULT_THRESHOLDS["cta"])
    assert chart.bands == [] and chart.lines == [] and chart.y_ticks
    point = {"ctr": 0.04, "ctr_low": 0.02, "ctr_high": 0.9, "impressions": 50, "clicks": 2}
    chart = ctr_chart([point, point], ["a", "b"], DEFAULT_THRESHOLDS["cta"])
    ys = [float(xy.split(",")[1]) for xy in chart.bands[0].split()]
    assert min(ys) >= chart.top  # a wide interval is clipped to the chart, not drawn off it
