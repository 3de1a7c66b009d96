"""The overview of a site with 20,000 elements never holds ingest (docs/design.md §4): while the
overview page computes its statistics, `POST /e` keeps answering in a small fraction of the
page's time. Ratios within one run, no absolute thresholds: the machine may be busy.

SQLite only: on PostgreSQL asyncpg decodes the reads' rows on the event loop itself (the SUMs as
NUMERIC in Python where a read does not cast them), which the worker thread cannot take over;
docs/performance.md has the figures."""

from __future__ import annotations

import statistics
import threading
import time
import uuid

import pytest

from dashboard_seed import many_elements
from harness import Server

ORIGIN = "https://shop.example"
ELEMENTS = 20_000


@pytest.fixture(scope="module")
def site(sqlite_server: Server) -> str:
    return many_elements(sqlite_server, ELEMENTS)


def timed_post(server: Server, site: str) -> float:
    """One page view's impression of an element that exists, as the snippet sends it: seconds."""
    pageview = uuid.uuid4().hex
    body = {
        "site": site, "pageview": pageview, "url": f"{ORIGIN}/list",
        "events": [{"id": f"{pageview}-0", "type": "impression", "element": "el-00007", "kind": "cta"}],
    }
    start = time.perf_counter()
    r = server.post(body, ORIGIN)
    elapsed = time.perf_counter() - start
    assert r.status_code == 202, r.text
    return elapsed


def test_ingest_answers_while_the_overview_renders(sqlite_server: Server, site: str) -> None:
    server = sqlite_server
    url = f"/sites/{site}"
    assert server.client.get(url, headers=server.auth).status_code == 200  # warm caches
    alone = statistics.median(timed_post(server, site) for _ in range(7))

    page_times: list[float] = []
    worst_per_load: list[float] = []
    for _ in range(3):
        posts: list[float] = []
        done = threading.Event()

        def load_page(done: threading.Event = done) -> None:
            start = time.perf_counter()
            r = server.client.get(url, headers=server.auth)
            page_times.append(time.perf_counter() - start)
            assert r.status_code == 200
            done.set()

        reader = threading.Thread(target=load_page)
        reader.start()
        # A steady stream of single posts across the whole page load: one of them lands while
        # the statistics run, whichever step that is.
        while not done.is_set():
            posts.append(timed_post(server, site))
        reader.join()
        assert len(posts) >= 3, f"too few posts during the page ({len(posts)}): page {page_times[-1]:.3f} s"
        worst_per_load.append(max(posts))

    page = statistics.median(page_times)
    # The longest wait of a typical page load (the median of three): with the statistics on the
    # event loop every load made a POST wait ~0.67 x the page; a test file running beside this
    # one (the suite runs on two workers) can stall a single load, not all three.
    worst = statistics.median(worst_per_load)
    print(f"page {page:.3f} s, POST alone {alone:.4f} s, worst POST per page load {worst_per_load}")
    assert worst < 0.5 * page, (
        f"POST /e took up to {worst:.3f} s in a typical page load while the overview took {page:.3f} s "
        f"(alone: {alone:.3f} s; each load's worst: {', '.join(f'{w:.3f}' for w in worst_per_load)})"
    )


def test_the_overview_still_pages_every_row(sqlite_server: Server, site: str) -> None:
    server = sqlite_server
    r = server.client.get(f"/api/sites/{site}/elements", params={"sort": "element"}, headers=server.auth)
    data = r.json()
    assert data["total_rows"] == ELEMENTS
    assert [row["element"] for row in data["elements"]][:3] == ["el-00000", "el-00001", "el-00002"]
