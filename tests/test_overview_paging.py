"""The overview with 20,000 elements (docs/design.md §4): pages of 50 rows, a search on names,
a small HTML page with links to the pages either side, and a CSV that still has every row."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest

from dashboard_seed import many_elements
from harness import Server

ELEMENTS = 20_000


@pytest.fixture(scope="module")
def site(server: Server) -> str:
    return many_elements(server, ELEMENTS)


def api(server: Server, site: str, **params: Any) -> Any:
    r = server.client.get(f"/api/sites/{site}/elements", params=params, headers=server.auth)
    assert r.status_code == 200, r.text
    return r.json()


def test_json_comes_in_pages_of_50_with_the_total(server: Server, site: str) -> None:
    data = api(server, site)
    assert (data["total_rows"], data["limit"], data["offset"]) == (ELEMENTS, 50, 0)
    assert [r["element"] for r in data["elements"]] == [f"el-{i:05d}" for i in range(50)]
    assert data["totals"]["elements"] == ELEMENTS


def test_limit_and_offset_pick_any_page(server: Server, site: str) -> None:
    data = api(server, site, limit=500, offset=19_900)
    assert (data["total_rows"], data["limit"], data["offset"]) == (ELEMENTS, 500, 19_900)
    assert [r["element"] for r in data["elements"]] == [f"el-{i:05d}" for i in range(19_900, ELEMENTS)]
    assert api(server, site, offset=ELEMENTS)["elements"] == []


def test_search_matches_part_of_a_name_ignoring_case(server: Server, site: str) -> None:
    data = api(server, site, q="EL-0012")
    assert data["total_rows"] == 10
    assert [r["element"] for r in data["elements"]] == [f"el-{i:05d}" for i in range(120, 130)]
    assert data["totals"]["elements"] == 10
    assert api(server, site, q="nothing-like-this")["total_rows"] == 0


def test_sparklines_are_read_for_the_page_asked_for(server: Server, site: str) -> None:
    """Sparklines are read for the rows shown only (reports.fill_sparklines): the last page's
    rows get their own lines, the ones 19,998 rows behind the first page."""
    data = api(server, site, limit=2, offset=ELEMENTS - 2, include="sparkline", period="7d")
    assert [r["element"] for r in data["elements"]] == ["el-19998", "el-19999"]
    assert len(data["sparkline_starts"]) == 7
    for row in data["elements"]:
        assert row["sparkline"] == [None] * 6 + [0.0]  # seen once today, not clicked
    assert "sparkline" not in api(server, site, limit=2)["elements"][0]


@pytest.mark.parametrize("params", [{"limit": "0"}, {"limit": "501"}, {"limit": "ten"}, {"offset": "-1"}])
def test_bad_paging_is_a_readable_400(server: Server, site: str, params: dict[str, str]) -> None:
    r = server.client.get(f"/api/sites/{site}/elements", params=params, headers=server.auth)
    assert r.status_code == 400
    assert ("limit" if "limit" in params else "offset") in r.json()["error"]


def test_csv_still_exports_every_row_or_the_searched_ones(server: Server, site: str) -> None:
    r = server.client.get(f"/api/sites/{site}/elements", params={"format": "csv"}, headers=server.auth)
    assert r.status_code == 200
    assert len(list(csv.DictReader(io.StringIO(r.text)))) == ELEMENTS
    r = server.client.get(
        f"/api/sites/{site}/elements", params={"format": "csv", "q": "el-1999"}, headers=server.auth
    )
    assert len(list(csv.DictReader(io.StringIO(r.text)))) == 10


def html(server: Server, url: str) -> str:
    r = server.client.get(url, headers={"Accept": "text/html", **server.auth})
    assert r.status_code == 200, r.text
    return r.text


def test_the_page_stays_small_and_links_to_the_next_page_keeping_every_parameter(
    server: Server, site: str
) -> None:
    first = html(server, f"/sites/{site}?period=7d&sort=element&kind=cta")
    assert len(first.encode()) < 500_000
    assert first.count('class="element essential"') == 50
    assert "1–50 of 20,000" in first
    assert 'rel="prev"' not in first
    assert 'name="q"' in first  # the search box
    next_url = re.search(r'class="pager-next" rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    assert next_url.startswith(f"/sites/{site}?")
    for kept in ("period=7d", "sort=element", "kind=cta", "offset=50"):
        assert kept in next_url
    second = html(server, next_url)
    assert "51–100 of 20,000" in second
    assert ">el-00050<" in second
    previous = re.search(r'class="pager-previous" rel="prev" href="([^"]+)"', second).group(1).replace("&amp;", "&")
    assert "offset" not in previous and "kind=cta" in previous


def test_the_page_searches(server: Server, site: str) -> None:
    page = html(server, f"/sites/{site}?q=el-0012")
    assert page.count('class="element essential"') == 10
    assert "pager-range" not in page  # one page: no pager
    assert 'value="el-0012"' in page
