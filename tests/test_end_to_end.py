"""The whole product path: `ctrlens demo` serves the example site, real Chromium browses it,
the snippet reports to the collector, and the JSON API and dashboard show the result."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from harness import BROWSER_UA, ROOT, TOKEN, free_port


class Demo:
    def __init__(self, tmp: Path, days: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / "demo.log"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ctrlens.cli",
                "demo",
                "--db",
                str(tmp / "demo.db"),
                "--port",
                str(self.port),
                "--days",
                str(days),
                "--rate-limit",
                "0",
            ],
            cwd=ROOT,
            env={**os.environ, "CTRLENS_TOKEN": TOKEN},
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        self.client = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()
            try:
                if self.client.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        raise AssertionError(f"demo did not start:\n{self.log.read_text()}")

    def elements(self, **params: str) -> dict:
        r = self.client.get("/api/sites/demo/elements", params=params)
        assert r.status_code == 200, r.text
        return r.json()["elements"]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def empty_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    demo = Demo(tmp_path_factory.mktemp("demo-empty"), days=0)
    yield demo
    demo.stop()


@pytest.fixture(scope="module")
def seeded_demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    demo = Demo(tmp_path_factory.mktemp("demo-seeded"), days=7)
    yield demo
    demo.stop()


def test_scrolled_and_clicked_cta_counts_once_and_unseen_element_counts_zero(empty_demo: Demo, page: Page):
    page.goto(f"{empty_demo.url}/example/a/")
    target = page.locator('[data-ctr="pricing-trial"]')
    target.scroll_into_view_if_needed()
    page.wait_for_timeout(1600)  # > 1 s continuously in view
    target.click()
    page.close()  # page hide: the snippet flushes with sendBeacon

    rows: dict[str, dict] = {}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rows = {r["element"]: r for r in empty_demo.elements()}
        if rows.get("pricing-trial", {}).get("clicks"):
            break
        time.sleep(0.2)
    trial = rows["pricing-trial"]
    assert (trial["impressions"], trial["clicks"], trial["total_clicks"]) == (1, 1, 1)
    assert trial["kind"] == "cta"
    # Far below the fold and never scrolled to: no impression at all.
    assert rows.get("footer-contact", {"impressions": 0})["impressions"] == 0
    by_variant = {(r["element"], r["variant"]) for r in empty_demo.elements(group="variant")}
    assert ("pricing-trial", "A") in by_variant


def test_demo_dashboard_shows_rated_elements_for_both_variants(seeded_demo: Demo, page: Page):
    rows = seeded_demo.elements(group="variant")
    rated = {(r["variant"], r["rating"]) for r in rows if r["rating"] != "insufficient"}
    assert {v for v, _ in rated} == {"A", "B"}
    assert len({rating for _, rating in rated}) >= 2  # a spread of ratings, not one colour

    page.goto(f"{seeded_demo.url}/sites/demo?group=variant")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.fill("#token", TOKEN)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(r"/sites/demo\?group=variant$"))
    expect(page.locator("table.elements")).to_be_visible()
    assert page.locator(".badge.rating-good").count() > 0
    assert page.locator(".badge.rating-poor").count() > 0
    assert page.get_by_text("hero-signup").count() >= 2  # one row per variant


def test_snippet_is_served_small_and_cacheable(empty_demo: Demo):
    r = httpx.get(f"{empty_demo.url}/ctr.js", headers={"Accept-Encoding": "gzip", "User-Agent": BROWSER_UA})
    assert r.status_code == 200
    assert r.headers["content-encoding"] == "gzip"
    assert int(r.headers["content-length"]) <= 2400  # the contract's budget (docs/design.md §2)
    etag = r.headers["etag"]
    again = httpx.get(f"{empty_demo.url}/ctr.js", headers={"If-None-Match": etag})
    assert again.status_code == 304
