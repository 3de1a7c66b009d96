"""What leaves the dashboard: a CSV download names its period and keeps the order the page shows;
`ctrlens report` fits an 80-column terminal without breaking a name into pieces."""

from __future__ import annotations

import csv
import re
import subprocess

from playwright.sync_api import Page, expect
from rich.cells import cell_len
from test_charts import sign_in

from dashboard_seed import new_seeder, shop
from harness import CTRLENS, ROOT


def download_rows(page: Page, link: str) -> tuple[str, list[dict[str, str]]]:
    with page.expect_download() as info:
        page.click(link)
    download = info.value
    with open(download.path(), encoding="utf-8") as f:
        return download.suggested_filename, list(csv.DictReader(f))


def shown_elements(page: Page) -> list[str]:
    return page.locator("table.elements tbody td.element a:not(.open-on-page)").all_inner_texts()


def test_the_csv_names_its_period_and_keeps_the_pages_order(server, page: Page):
    s = shop(server)
    sign_in(page, server, f"/sites/{s.site}?period=30d")
    api = server.client.get(f"/api/sites/{s.site}/elements", params={"period": "30d"}, headers=server.auth)
    period = api.json()
    name, rows = download_rows(page, "a.export:has-text('Export CSV')")
    assert name == f"{s.site}-elements-{period['from']}_{period['to']}.csv"
    shown = shown_elements(page)
    assert shown[0] == "hero-signup" and shown != sorted(shown)  # the busiest first, not A to Z
    assert [r["element"] for r in rows] == shown

    page.click("th a.sort:has-text('CTR')")  # largest CTR first
    expect(page).to_have_url(re.compile(r"sort=ctr"))
    name, rows = download_rows(page, "a.export:has-text('Export CSV')")
    assert [r["element"] for r in rows] == shown_elements(page) != shown

    page.goto(f"{server.url}/sites/{s.site}/accounts?from=2026-01-01&to=2026-01-31")
    name, _ = download_rows(page, "a.export:has-text('Export CSV')")
    assert name == f"{s.site}-accounts-2026-01-01_2026-01-31.csv"


LONG_NAME = "checkout-page-primary-call-to-action-button-in-the-sticky-footer-on-mobile"


def test_the_report_fits_80_columns_and_keeps_names_whole(server):
    seeder = new_seeder(server)
    seeder.many(LONG_NAME, "cta", 210, 9)
    seeder.many("hero", "cta", 205, 30)
    out = subprocess.run(
        [*CTRLENS, "report", seeder.site, "--db", server.db],
        cwd=ROOT, env={**server.env, "COLUMNS": "80"},  # rich takes the terminal's width from COLUMNS
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert max(cell_len(line) for line in lines) <= 80, out.stdout
    # The long name is shortened on its own line, with an ellipsis, never continued on the next.
    holding = [line for line in lines if LONG_NAME[:12] in line]
    assert len(holding) == 1 and "…" in holding[0], out.stdout
    assert not any(LONG_NAME[-12:] in line for line in lines)
    row = holding[0]
    assert "4.29%" in row and "Good ?" in row  # 9 / 210: its CTR and rating stay on the screen
    hero = next(line for line in lines if "│ hero " in line)
    assert "14.63%" in hero and "Good" in hero
