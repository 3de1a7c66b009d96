"""`ctrlens report SITE`: the overview in the terminal, as CSV and as JSON, equal to the API."""

from __future__ import annotations

import csv
import io
import json
import subprocess

from dashboard_seed import shop
from harness import CTRLENS, ROOT


def report(server, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CTRLENS, "report", *args, "--db", server.db],
        cwd=ROOT,
        env={**server.env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_report_prints_the_table_with_ratings(server):
    s = shop(server)
    out = report(server, s.site)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert s.site in lines[0]
    hero = next(line for line in lines if "hero-signup" in line)
    assert "800" in hero and "46" in hero and "5.75%" in hero and "Good" in hero
    promo = next(line for line in lines if "promo" in line)
    assert "Good ?" in promo  # tentative: the interval reaches below the banner's 1%


def test_report_json_and_csv_equal_the_api(server):
    s = shop(server)
    api = server.client.get(
        f"/api/sites/{s.site}/elements", params={"group": "variant"}, headers=server.auth
    ).json()
    expected = {(r["element"], r["variant"]): r for r in api["elements"]}

    out = report(server, s.site, "--group", "variant", "--format", "json")
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert (body["from"], body["to"]) == (api["from"], api["to"])
    assert {(r["element"], r["variant"]): r for r in body["elements"]} == expected

    out = report(server, s.site, "--group", "variant", "--format", "csv", "--sort", "element")
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [(r["element"], r["variant"]) for r in rows] == sorted(expected)
    assert {(r["element"], r["variant"]): int(r["clicks"]) for r in rows} == {
        k: v["clicks"] for k, v in expected.items()
    }


def test_report_filters_and_ranges(server):
    s = shop(server)
    out = report(server, s.site, "--variant", "B", "--kind", "cta", "--format", "json")
    assert [(r["element"], r["impressions"]) for r in json.loads(out.stdout)["elements"]] == [
        ("hero-signup", 400)
    ]
    out = report(server, s.site, "--from", "2020-01-01", "--to", "2020-01-31")
    assert out.returncode == 0 and "No impressions" in out.stdout


def test_report_errors_are_one_readable_line(server):
    out = report(server, "no-such-site")
    assert (
        out.returncode == 2
        and out.stderr.strip() == "ctrlens: unknown site 'no-such-site'; see ctrlens site list"
    )
    s = shop(server)
    out = report(server, s.site, "--from", "2024-13-01")
    assert out.returncode == 2 and "YYYY-MM-DD" in out.stderr
    out = report(server, s.site, "--period", "7d", "--from", "2024-01-01")
    assert out.returncode == 2 and "either --period or --from/--to" in out.stderr


def test_report_variants_equal_the_api(server):
    """`ctrlens report SITE --variants`: every comparison of the variants page, judged the same way
    (docs/design.md §4), as JSON, CSV and a table."""
    s = shop(server)
    api = server.client.get(
        f"/api/sites/{s.site}/variants", params={"correction": "holm", "limit": "500"}, headers=server.auth
    ).json()
    assert api["comparisons"]

    out = report(server, s.site, "--variants", "--correction", "holm", "--format", "json")
    assert out.returncode == 0, out.stderr
    body = json.loads(out.stdout)
    assert (body["correction"], body["day_from_utc"], body["day_to_utc"]) == (
        "holm", api["day_from_utc"], api["day_to_utc"]
    )
    assert body["comparisons"] == api["comparisons"]

    out = report(server, s.site, "--variants", "--correction", "holm", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [(r["element"], r["treatment"], r["decision"]) for r in rows] == [
        (r["element"], r["treatment"], r["decision"]) for r in api["comparisons"]
    ]

    out = report(server, s.site, "--variants")
    assert out.returncode == 0, out.stderr
    first = api["comparisons"][0]
    line = next(line for line in out.stdout.splitlines() if first["element"] in line)
    assert f"{first['treatment']} vs {first['control']}" in line
    assert "Benjamini–Hochberg across all" in " ".join(out.stdout.split())

    out = report(server, s.site, "--correction", "holm")
    assert out.returncode != 0 and "--correction goes with --variants" in out.stderr
