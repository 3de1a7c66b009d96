"""Comparing any two date ranges (docs/design.md §4 "Around the numbers"): page views POSTed to
/e on known days (the server's clock is the one fake, `CTRLENS_CLOCK_FILE`), then every "vs"
figure of the overview, its headline and the element page read against `compare=previous|year|
custom`, on both backends; bad comparison parameters are readable 400s."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from dashboard_seed import Seeder, new_seeder
from harness import Databases, Server

FEB = {"from": "2025-02-01", "to": "2025-02-28"}
JAN = {"compare": "custom", "compare_from": "2025-01-01", "compare_to": "2025-01-31"}


@pytest.fixture(scope="module")
def clock(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clock") / "now_ms"


@pytest.fixture(scope="module")
def dated_server(backend: str, databases: Databases, clock: Path) -> Iterator[Server]:
    srv = Server(databases.new(backend), env={"CTRLENS_CLOCK_FILE": str(clock)}).start()
    yield srv
    srv.stop()


def on(clock: Path, day: date) -> None:
    """The server's clock at noon UTC of `day`."""
    clock.write_text(str(int(datetime(day.year, day.month, day.day, 12, tzinfo=UTC).timestamp() * 1000)))


@pytest.fixture(scope="module")
def site(dated_server: Server, clock: Path) -> Iterator[str]:
    """hero (cta): 400 views / 8 clicks on 10 Jan 2025 (2%), 400 / 24 on 10 Feb 2025 (6%), 200 / 2
    on 10 Feb 2024 (1%). tiny (cta): 10 / 1 in January, 20 / 10 in February: too little data."""
    s: Seeder = new_seeder(dated_server)
    try:
        on(clock, date(2025, 1, 10))
        s.many("hero", "cta", 400, 8)
        s.many("tiny", "cta", 10, 1)
        on(clock, date(2025, 2, 10))
        s.many("hero", "cta", 400, 24)
        s.many("tiny", "cta", 20, 10)
        on(clock, date(2024, 2, 10))
        s.many("hero", "cta", 200, 2)
    finally:
        clock.write_text("")
    yield s.site


def answer(server: Server, path: str, **params: Any) -> dict[str, Any]:
    r = server.client.get(path, params=params, headers=server.auth)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def rows(server: Server, site: str, **params: Any) -> dict[str, dict[str, Any]]:
    return {r["element"]: r for r in answer(server, f"/api/sites/{site}/elements", **params)["elements"]}


def test_a_custom_range_sets_every_vs_figure(dated_server: Server, site: str) -> None:
    body = answer(dated_server, f"/api/sites/{site}/elements", **FEB, **JAN)
    assert body["compare"]["mode"] == "custom"
    assert (body["compare"]["from"], body["compare"]["to"], body["compare"]["days"]) == (
        "2025-01-01", "2025-01-31", 31
    )
    hero = {r["element"]: r for r in body["elements"]}["hero"]
    assert (hero["impressions"], hero["clicks"], hero["previous_impressions"]) == (400, 24, 400)
    assert hero["previous_ctr"] == pytest.approx(0.02)
    assert hero["change_abs"] == pytest.approx(0.04)
    assert hero["change_rel"] == pytest.approx(2.0)
    assert hero["change_reliable"] is True

    headline = body["headline"]
    assert headline["impressions"] == {"value": 420, "previous": 410, "change_rel": pytest.approx(10 / 410)}
    assert headline["clicks"] == {"value": 34, "previous": 9, "change_rel": pytest.approx(25 / 9)}
    ctr = headline["ctr"]
    assert ctr["value"] == pytest.approx(34 / 420)
    assert ctr["low"] < 34 / 420 < ctr["high"]
    assert ctr["previous"] == pytest.approx(9 / 410)
    assert ctr["change_abs"] == pytest.approx(34 / 420 - 9 / 410)
    assert ctr["change_reliable"] is True


def test_rows_with_too_little_data_carry_no_change(dated_server: Server, site: str) -> None:
    tiny = rows(dated_server, site, **FEB, **JAN)["tiny"]
    # 10% then 50%: a "+400%" that 30 page views cannot support.
    assert (tiny["impressions"], tiny["previous_impressions"]) == (20, 10)
    assert tiny["previous_ctr"] == pytest.approx(0.1)
    assert tiny["change_abs"] is None and tiny["change_rel"] is None
    assert tiny["change_reliable"] is False
    page = dated_server.client.get(
        f"/sites/{site}", params={**FEB, **JAN}, headers={**dated_server.auth, "Accept": "text/html"}
    )
    assert page.status_code == 200
    assert "hidden: too little data to compare (20 impressions now, 10 in 1 Jan – 31 Jan 2025" in page.text


def test_the_default_is_the_previous_period_and_year_goes_back_a_year(dated_server: Server, site: str) -> None:
    day = {"from": "2025-02-10", "to": "2025-02-10"}
    previous = answer(dated_server, f"/api/sites/{site}/elements", **day)
    assert previous["compare"]["mode"] == "previous"
    assert (previous["compare"]["from"], previous["compare"]["to"]) == ("2025-02-09", "2025-02-09")
    hero = {r["element"]: r for r in previous["elements"]}["hero"]
    assert hero["previous_impressions"] == 0 and hero["previous_ctr"] is None and hero["change_rel"] is None

    year = answer(dated_server, f"/api/sites/{site}/elements", **day, compare="year")
    assert (year["compare"]["from"], year["compare"]["to"]) == ("2024-02-10", "2024-02-10")
    hero = {r["element"]: r for r in year["elements"]}["hero"]
    assert (hero["previous_impressions"], hero["previous_ctr"]) == (200, pytest.approx(0.01))
    assert hero["change_rel"] == pytest.approx(5.0)
    assert year["headline"]["impressions"]["previous"] == 200

    # Dates alone mean a custom range; with `previous` they are ignored (the picker keeps them).
    dates = {"compare_from": "2025-01-10", "compare_to": "2025-01-10"}
    implied = answer(dated_server, f"/api/sites/{site}/elements", **day, **dates)
    assert implied["compare"]["mode"] == "custom"
    assert {r["element"]: r for r in implied["elements"]}["hero"]["previous_ctr"] == pytest.approx(0.02)
    ignored = answer(dated_server, f"/api/sites/{site}/elements", **day, **dates, compare="previous")
    assert ignored["compare"]["from"] == "2025-02-09"


def test_the_element_page_compares_with_the_same_range(dated_server: Server, site: str) -> None:
    body = answer(dated_server, f"/api/sites/{site}/elements/hero", **FEB, **JAN)
    compare = body["compare"]
    assert (compare["mode"], compare["from"], compare["to"]) == ("custom", "2025-01-01", "2025-01-31")
    assert (compare["impressions"], compare["clicks"]) == (400, 8)
    assert compare["change_rel"] == pytest.approx(2.0) and compare["change_reliable"] is True
    tiny = answer(dated_server, f"/api/sites/{site}/elements/tiny", **FEB, **JAN)["compare"]
    assert (tiny["impressions"], tiny["change_rel"], tiny["change_reliable"]) == (10, None, False)
    page = dated_server.client.get(
        f"/sites/{site}/elements/hero", params={**FEB, **JAN}, headers={**dated_server.auth, "Accept": "text/html"}
    )
    assert page.status_code == 200 and "+200%" in page.text and "vs 1 Jan – 31 Jan 2025" in page.text


def test_csv_carries_the_change_and_its_reliability(dated_server: Server, site: str) -> None:
    r = dated_server.client.get(
        f"/api/sites/{site}/elements", params={**FEB, **JAN, "format": "csv"}, headers=dated_server.auth
    )
    assert r.status_code == 200, r.text
    table = {row["element"]: row for row in csv.DictReader(io.StringIO(r.text))}
    assert table["hero"]["change_reliable"] == "true" and float(table["hero"]["change_rel"]) == pytest.approx(2)
    assert table["tiny"]["change_reliable"] == "false" and table["tiny"]["change_rel"] == ""


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"compare": "lastyear"}, "compare must be one of previous, year, custom"),
        ({"compare": "custom"}, "compare=custom needs compare_from and compare_to"),
        ({"compare": "custom", "compare_from": "2025-01-01"}, "compare=custom needs compare_from and compare_to"),
        ({"compare_from": "2025-13-01", "compare_to": "2025-01-31"}, "compare_from and compare_to must be dates"),
        ({"compare_from": "2025-01-31", "compare_to": "2025-01-01"}, "compare_to must not be before compare_from"),
        ({"compare_from": "1900-01-01", "compare_to": "1900-01-02"}, "must be dates from 1971-01-01"),
        ({"compare_from": "2020-01-01", "compare_to": "2025-01-01"}, "a range covers at most"),
        ({"compare_from": "x" * 5000, "compare_to": "2025-01-01"}, "compare_from and compare_to must be dates"),
    ],
)
def test_bad_comparisons_are_readable_400s(
    dated_server: Server, site: str, params: dict[str, str], message: str
) -> None:
    for path in (f"/api/sites/{site}/elements", f"/api/sites/{site}/elements/hero"):
        r = dated_server.client.get(path, params={**FEB, **params}, headers=dated_server.auth)
        assert r.status_code == 400, (path, r.text)
        assert message in r.json()["error"]
    page = dated_server.client.get(
        f"/sites/{site}", params={**FEB, **params}, headers={**dated_server.auth, "Accept": "text/html"}
    )
    assert page.status_code == 400 and message.split(" ")[0] in page.text
