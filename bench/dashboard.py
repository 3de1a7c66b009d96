"""Dashboard read performance on a large site: the overview page and the elements API against
a direct GROUP BY over the raw events of the same range.

    .venv/bin/python bench/dashboard.py                      # 10M events, 200 elements, 3 variants, 90 days
    .venv/bin/python bench/dashboard.py --events 1000000     # a quicker run
    git worktree add /tmp/before v-old && .venv/bin/python bench/dashboard.py --db F --against /tmp/before

How the data is made (the bulk path, minutes not hours): for every hour of the last `--days`
days and every (element, variant, page) cell, impressions are drawn from a Poisson law with a
day/night rhythm, clicks from a binomial at the element's CTR (varying by variant). Those are
exactly the rows the write path produces, so they go straight into `rollups` (whose triggers
fill `rollups_daily`), `breakdowns` (device, source, account), `pageview_rollups` and
`experiment_moments` (per element, variant and day: visitor-days of about 1.5 impressions; the
visitor-day ledger itself is not read by any page, so it is left empty), the funnel's
`presence_rollups` (each element present in more page views than it is seen in: its viewability
drawn per element) and `goal_rollups` (the goal `signup`, defined for the site: conversions drawn
from each cell's clicks, plus some credited to no element), whose triggers fill the daily tables; the raw
`events` table gets one row per impression and per click with the same counts per element and
hour, inserted with executemany, for the baseline query. Timing then runs over HTTP against a
real `ctrlens serve` subprocess (bearer token, default 30-day range), the baseline in-process
with sqlite3. Needs numpy (installed with the test extras, via scipy).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ctrlens.collector.storage import open_storage  # noqa: E402 - after the path above

SITE = "bench"
TOKEN = "bench-token-" + secrets.token_hex(16)
HOUR, DAY = 3600, 86400
KINDS = ("cta", "banner", "link", "nav")
DEVICES = (("desktop", 0.58), ("mobile", 0.36), ("tablet", 0.06))
SOURCES = (
    ("(direct)", 0.35),
    ("google.com", 0.3),
    ("newsletter", 0.15),
    ("news.ycombinator.com", 0.1),
    ("twitter", 0.1),
)
ACCOUNTS = 40
ACCOUNT_SHARE = 0.15
PAGES = 20
GOAL = "signup"


class Layout:
    """Elements, their pages and CTRs, variants, and the expected impressions of every cell."""

    def __init__(self, elements: int, variants: int, rng: np.random.Generator) -> None:
        self.variants = [chr(ord("A") + i) for i in range(variants)]
        self.elements = [f"el-{i:03d}" for i in range(elements)]
        self.kinds = [KINDS[i % len(KINDS)] for i in range(elements)]
        base_ctr = {"cta": 0.03, "banner": 0.008, "link": 0.015, "nav": 0.02}
        self.cells: list[tuple[int, int, int]] = []  # (element, variant, page)
        ctr, weight = [], []
        popularity = 1.0 / (1 + np.arange(elements)) ** 0.6  # a few elements get most views
        for e in range(elements):
            pages = [e % PAGES] + ([(e * 7 + 3) % PAGES] if e % 3 == 0 else [])
            element_ctr = base_ctr[self.kinds[e]] * rng.uniform(0.3, 2.0)
            for v in range(variants):
                lift = 1.0 + (0.12 if v == 1 else -0.05 * v if v else 0.0)
                for p in dict.fromkeys(pages):
                    self.cells.append((e, v, p))
                    ctr.append(min(0.5, element_ctr * lift))
                    weight.append(popularity[e] / len(pages))
        self.ctr = np.array(ctr)
        self.weight = np.array(weight) / np.sum(weight)
        # The funnel: per cell, unseen page views per seen one, and the chance a click converts.
        self.unseen_odds = rng.choice([0, 0, 1, 2, 4], size=len(self.cells))
        self.converts = rng.uniform(0.02, 0.3, size=len(self.cells))

    def cell_names(self, i: int) -> tuple[str, str, str, str]:
        e, v, p = self.cells[i]
        return self.elements[e], self.variants[v], f"/page-{p:02d}", self.kinds[e]


def build(db: str, events: int, elements: int, variants: int, days: int, seed: int) -> dict[str, float]:
    asyncio.run(_create(db))
    rng = np.random.default_rng(seed)
    layout = Layout(elements, variants, rng)
    n_cells = len(layout.cells)
    diurnal = 0.35 + 0.65 * np.sin(np.linspace(0, np.pi, 24)) ** 2  # quiet nights
    per_hour = events / (days * 24) / (1 + float(np.average(layout.ctr, weights=layout.weight)) * 1.08)
    lam = (per_hour * layout.weight)[None, :] * (diurnal / diurnal.mean())[:, None]

    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-262144")
    now_hour = int(time.time()) // HOUR * HOUR
    first_day = (now_hour - (days - 1) * DAY) // DAY
    names = [layout.cell_names(i) for i in range(n_cells)]
    device_p = np.array([w for _, w in DEVICES])
    source_p = np.array([w for _, w in SOURCES])
    account_p = 1.0 / (1 + np.arange(ACCOUNTS))
    account_p /= account_p.sum()
    written = {"events": 0, "rollups": 0, "breakdowns": 0}
    started = time.monotonic()
    event_seq = 0
    for d in range(days):
        day = first_day + d
        hours = np.arange(24) * HOUR + day * DAY
        keep_hours = hours <= now_hour
        imps = rng.poisson(lam) * keep_hours[:, None]
        clicks = rng.binomial(imps, layout.ctr[None, :])
        total = clicks + rng.binomial(clicks, 0.08)
        via = rng.binomial(clicks, 0.05)
        viewers = imps - rng.binomial(imps, 0.03)
        clickers = clicks - rng.binomial(clicks, 0.02)

        conn.execute("BEGIN")
        hh, cc = np.nonzero(imps)
        rollups = [
            (
                SITE,
                names[c][0],
                names[c][1],
                names[c][2],
                int(hours[h]),
                names[c][3],
                int(imps[h, c]),
                int(via[h, c]),
                int(clicks[h, c]),
                int(total[h, c]),
                int(viewers[h, c]),
                int(clickers[h, c]),
            )
            for h, c in zip(hh.tolist(), cc.tolist(), strict=False)
        ]
        conn.executemany(
            "INSERT INTO rollups (site, element, variant, page, hour, kind, impressions, via_click, clicks, "
            "total_clicks, viewers, clickers) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            rollups,
        )
        written["rollups"] += len(rollups)

        # The funnel: page views with each element present, and the conversions of its clicks.
        present = imps + rng.binomial(imps * layout.unseen_odds[None, :], 0.5) * 2
        conversions = rng.binomial(clicks, layout.converts[None, :])
        conn.executemany(
            "INSERT INTO presence_rollups (site, element, variant, page, hour, present) VALUES (?,?,?,?,?,?)",
            [
                (SITE, *names[c][:3], int(hours[h]), int(present[h, c]))
                for h, c in zip(hh.tolist(), cc.tolist(), strict=False)
            ],
        )
        hh_c, cc_c = np.nonzero(conversions)
        goal_rows = [
            (
                SITE,
                GOAL,
                *names[c][:3],
                int(hours[h]),
                int(conversions[h, c]),
                0,
                float(conversions[h, c]) * 20.0,
            )
            for h, c in zip(hh_c.tolist(), cc_c.tolist(), strict=False)
        ]
        for h in np.nonzero(keep_hours)[0].tolist():  # conversions after no click: the site's only
            goal_rows.append((SITE, GOAL, "", "A", "/page-00", int(hours[h]), int(rng.poisson(3)), 0, 0.0))
        conn.executemany(
            "INSERT INTO goal_rollups (site, goal, element, variant, page, hour, conversions, assisted, value) "
            "VALUES (?,?,?,?,?,?,?,?,?)",
            goal_rows,
        )

        # Breakdowns: the day's impressions and clicks of each cell split across values.
        day_imps, day_clicks, day_total = imps.sum(0), clicks.sum(0), total.sum(0)
        breakdowns: dict[tuple[str, str, str, str], list[int]] = {}
        for c in np.nonzero(day_imps)[0].tolist():
            element, variant, _, _ = names[c]
            splits = [
                ("device", DEVICES, device_p, day_imps[c], day_clicks[c], day_total[c]),
                ("source", SOURCES, source_p, day_imps[c], day_clicks[c], day_total[c]),
            ]
            with_account = rng.binomial(day_imps[c], ACCOUNT_SHARE)
            account_clicks = rng.binomial(day_clicks[c], ACCOUNT_SHARE) if with_account else 0
            account_clicks = min(account_clicks, with_account)
            splits.append(
                (
                    "account",
                    [(f"acct-{i:02d}", 0) for i in range(ACCOUNTS)],
                    account_p,
                    with_account,
                    account_clicks,
                    account_clicks,
                )
            )
            for dimension, values, p, n_imps, n_clicks, _ in splits:
                imp_split = rng.multinomial(n_imps, p)
                click_split = rng.multinomial(n_clicks, p)
                click_split = np.minimum(click_split, imp_split)
                for (value, _), i, k in zip(values, imp_split.tolist(), click_split.tolist(), strict=False):
                    if i:
                        row = breakdowns.setdefault((element, variant, dimension, value), [0, 0, 0])
                        row[0] += i
                        row[1] += k
                        row[2] += k
        conn.executemany(
            "INSERT INTO breakdowns (site, element, variant, day, dimension, value, impressions, clicks, "
            "total_clicks) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (site, element, variant, day, dimension, "
            "value) DO UPDATE SET impressions = breakdowns.impressions + excluded.impressions, "
            "clicks = breakdowns.clicks + excluded.clicks, total_clicks = breakdowns.total_clicks + excluded.total_clicks",
            [(SITE, e, v, day, dim, val, *counts) for (e, v, dim, val), counts in breakdowns.items()],
        )
        written["breakdowns"] += len(breakdowns)

        # Visitor-day moments per (element, variant): the day's counts, as if each visitor-day saw
        # the element about 1.5 times; plausible sums for timing, not a model of anyone's clicks.
        cell_of = [(names[c][0], names[c][1]) for c in range(n_cells)]
        per_arm: dict[tuple[str, str], list[int]] = {}
        for c in np.nonzero(day_imps)[0].tolist():
            arm = per_arm.setdefault(cell_of[c], [0, 0])
            arm[0] += int(day_imps[c])
            arm[1] += int(day_clicks[c])
        moments = []
        for (element, variant), (n, k) in per_arm.items():
            clusters = max(1, round(n / 1.5))
            repeat = n - clusters  # impressions beyond a visitor-day's first
            moments.append(
                (
                    SITE,
                    day,
                    element,
                    variant,
                    clusters,
                    n,
                    k,
                    n + 2 * repeat + repeat // 2,
                    k + k // 3,
                    k + k // 2,
                )
            )
        conn.executemany(
            "INSERT INTO experiment_moments (site, day, element, variant, clusters, impressions, clicks, "
            "impressions_sq, clicks_sq, cross_products) VALUES (?,?,?,?,?,?,?,?,?,?)",
            moments,
        )

        # Page views: about the busiest element's impressions on each (variant, page) per hour.
        pageviews: dict[tuple[str, str, int], int] = {}
        for h, c in zip(hh.tolist(), cc.tolist(), strict=False):
            key = (names[c][1], names[c][2], int(hours[h]))
            pageviews[key] = max(pageviews.get(key, 0), int(imps[h, c] * 1.1) + 1)
        conn.executemany(
            "INSERT INTO pageview_rollups (site, variant, page, hour, pageviews) VALUES (?,?,?,?,?)",
            [(SITE, *k, n) for k, n in pageviews.items()],
        )

        # Raw events: one row per impression and per click, same counts per element and hour.
        flat_imps, flat_total = imps.ravel(), total.ravel()
        for kind_name, counts in (("impression", flat_imps), ("click", flat_total)):
            idx = np.repeat(np.arange(counts.size), counts)
            if not idx.size:
                continue
            ts = hours[idx // n_cells] * 1000 + rng.integers(0, HOUR * 1000, idx.size)
            cells = (idx % n_cells).tolist()
            rows = []
            for cell, t in zip(cells, ts.tolist(), strict=False):
                event_seq += 1
                element, variant, page, kind = names[cell]
                rows.append(
                    (
                        SITE,
                        f"e{event_seq}",
                        f"p{event_seq}",
                        kind_name,
                        element,
                        kind,
                        variant,
                        "",
                        page,
                        "https://bench.example" + page,
                        "",
                        "(direct)",
                        "desktop",
                        "v",
                        0,
                        t,
                        t,
                    )
                )
            conn.executemany(
                "INSERT INTO events (site, event_id, pageview, type, element, kind, variant, account, page, url, "
                "referrer, source, device, visitor, via_click, ts_client, ts_server) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                rows,
            )
            written["events"] += len(rows)
        conn.execute("COMMIT")
        if d % 10 == 9 or d == days - 1:
            print(
                f"  day {d + 1}/{days}: {written['events']:,} events, {written['rollups']:,} hourly rollup rows "
                f"({time.monotonic() - started:.0f} s)",
                flush=True,
            )
    # The weekly and all-time moments, as moments.py would have kept them beside the daily rows.
    conn.execute(
        "INSERT INTO experiment_moments_weekly (site, week, element, variant, clusters, impressions, clicks, "
        "impressions_sq, clicks_sq, cross_products) SELECT site, (day + 3) / 7, element, variant, "
        "SUM(clusters), SUM(impressions), SUM(clicks), SUM(impressions_sq), SUM(clicks_sq), "
        "SUM(cross_products) FROM experiment_moments GROUP BY site, (day + 3) / 7, element, variant"
    )
    conn.execute(
        "INSERT INTO experiment_moments_total (site, element, variant, clusters, impressions, clicks, "
        "impressions_sq, clicks_sq, cross_products) SELECT site, element, variant, "
        "SUM(clusters), SUM(impressions), SUM(clicks), SUM(impressions_sq), SUM(clicks_sq), "
        "SUM(cross_products) FROM experiment_moments GROUP BY site, element, variant"
    )
    shape = {"events": written["events"], "elements": elements, "variants": variants, "days": days}
    conn.execute("INSERT INTO meta (key, value) VALUES ('bench_shape', ?)", (json.dumps(shape),))
    conn.execute("ANALYZE")
    conn.close()
    return {**written, "seconds": time.monotonic() - started}


async def _create(db: str) -> None:
    storage = await open_storage(db)
    try:
        await storage.add_site(SITE, "Bench", ["https://bench.example"])
        await storage.define_goal(SITE, GOAL)
    finally:
        await storage.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(clients: list[httpx.Client], url: str, n: int) -> list[list[float]]:
    """`n` timings of `url` per client, the clients taking turns request by request."""
    for client in clients:
        client.get(url).raise_for_status()  # warm caches, like any page after the first visit
    times: list[list[float]] = [[] for _ in clients]
    for _ in range(n):
        for client, own in zip(clients, times, strict=True):
            start = time.perf_counter()
            r = client.get(url)
            own.append((time.perf_counter() - start) * 1000)
            r.raise_for_status()
    return times


class Server:
    """`ctrlens serve` on the database, from the checkout at `root` (this one, or --against's)."""

    def __init__(self, db: str, root: Path) -> None:
        self.db, self.root = db, root
        self.port = free_port()
        self.client = httpx.Client(
            base_url=f"http://127.0.0.1:{self.port}", timeout=120, headers={"Authorization": f"Bearer {TOKEN}"}
        )
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {**os.environ, "CTRLENS_TOKEN": TOKEN, "CTRLENS_LOG_LEVEL": "warning"}
        if self.root != ROOT:
            env["PYTHONPATH"] = str(self.root)  # its own `ctrlens`, before the installed one
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ctrlens.cli", "serve", "--db", self.db, "--port", str(self.port),
             "--rate-limit", "0"],
            cwd=self.root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if self.client.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"ctrlens serve from {self.root} did not start")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=30)


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def baseline(db: str, ts_from: int, ts_to: int, n: int) -> list[float]:
    """The raw-event GROUP BY a dashboard without rollups would run for the same range."""
    conn = sqlite3.connect(db)
    times = []
    for _ in range(n):
        start = time.perf_counter()
        conn.execute(
            "SELECT element, SUM(CASE WHEN type = 'impression' THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN type = 'click' THEN 1 ELSE 0 END) FROM events "
            "WHERE site = ? AND ts_server >= ? AND ts_server < ? GROUP BY element",
            (SITE, ts_from, ts_to),
        ).fetchall()
        times.append((time.perf_counter() - start) * 1000)
    conn.close()
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--elements", type=int, default=200)
    parser.add_argument("--variants", type=int, default=3)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--requests", type=int, default=50, help="timed requests per endpoint")
    parser.add_argument("--db", help="reuse (or keep) this SQLite file instead of a temporary one")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--against", metavar="DIR",
        help="also time a ctrlens checkout in DIR (e.g. a `git worktree` of the last release) on the same "
        "file, request by request in turn with this one, and print the ratio",
    )
    args = parser.parse_args()

    tmp = tempfile.TemporaryDirectory()
    db = args.db or str(Path(tmp.name) / "bench.db")
    if not Path(db).exists():
        print(
            f"seeding {args.events:,} events: {args.elements} elements × {args.variants} variants × {args.days} days → {db}"
        )
        built = build(db, args.events, args.elements, args.variants, args.days, args.seed)
        print(
            f"seeded {built['events']:,} raw events, {built['rollups']:,} hourly rollup rows, "
            f"{built['breakdowns']:,} breakdown rows in {built['seconds']:.0f} s"
        )
    size = sum(Path(db + s).stat().st_size for s in ("", "-wal") if Path(db + s).exists())
    with sqlite3.connect(db) as conn:
        shape = json.loads(conn.execute("SELECT value FROM meta WHERE key = 'bench_shape'").fetchone()[0])
    print(f"database: {size / 1e9:.2f} GB, {shape['events']:,} raw events")

    servers = [Server(db, ROOT)]
    if args.against:
        # Another checkout of ctrlens on the same file, its requests interleaved with this one's:
        # both meet the same machine, so their ratio holds on a busy one (docs/performance.md).
        servers.append(Server(db, Path(args.against).resolve()))
    n, few = args.requests, max(10, args.requests // 5)
    routes = [
        ("overview page, 30 days", f"/sites/{SITE}", n),
        ("elements API, 30 days", f"/api/sites/{SITE}/elements", n),
        ("overview page, 90 days", f"/sites/{SITE}?period=90d", n),
        ("element page, 30 days", f"/sites/{SITE}/elements/el-000", few),
        ("variants API, 30 days", f"/api/sites/{SITE}/variants?period=30d", few),
        ("variants API, since the first event", f"/api/sites/{SITE}/variants", few),
        ("variants page, since the first event", f"/sites/{SITE}/variants", few),
        ("compare API, since the first event", f"/api/sites/{SITE}/compare?element=el-000&control=A&treatment=B", few),
    ]
    results: list[tuple[str, list[list[float]]]] = []
    try:
        for server in servers:
            server.start()
        for name, url, count in routes:
            results.append((name, timed([s.client for s in servers], url, count)))
        for server in servers:
            r = server.client.put(f"/api/sites/{SITE}/settings", json={"timezone": "America/New_York"})
            r.raise_for_status()
        results.append(("overview page, 30 days, New York", timed([s.client for s in servers], f"/sites/{SITE}", n)))
        for server in servers:
            server.client.put(f"/api/sites/{SITE}/settings", json={"timezone": "UTC"}).raise_for_status()
        range_json = servers[0].client.get(f"/api/sites/{SITE}/elements").json()
    finally:
        for server in servers:
            server.stop()

    raw = baseline(db, range_json["hour_from"] * 1000, range_json["hour_to"] * 1000, 5)
    overview_p50 = p(results[0][1][0], 0.5)
    print()
    other = f" | {Path(args.against).name} p50 ms | this ÷ that (p50)" if args.against else ""
    print(
        f"| {shape['events'] / 1e6:.1f}M events, {shape['elements']} elements, {shape['variants']} variants, "
        f"{shape['days']} days | p50 ms | p95 ms | raw GROUP BY p50 ÷ this p50{other} |"
    )
    print("| --- | ---: | ---: | ---: |" + (" ---: | ---: |" if args.against else ""))
    for name, times in results:
        line = f"| {name} | {p(times[0], 0.5):.1f} | {p(times[0], 0.95):.1f} | {p(raw, 0.5) / p(times[0], 0.5):.0f}× |"
        if args.against:
            line += f" {p(times[1], 0.5):.1f} | {p(times[0], 0.5) / p(times[1], 0.5):.2f} |"
        print(line)
    print(
        f"| baseline: raw-event GROUP BY, 30 days (sqlite3, in-process) | {p(raw, 0.5):.0f} | {p(raw, 0.95):.0f} | 1× |"
    )
    print()
    print(f"target overview p50 < 50 ms: {'met' if overview_p50 < 50 else 'NOT met'} ({overview_p50:.1f} ms)")
    for name, times in results:
        if name.startswith(("variants", "compare", "element page")):
            met = "met" if p(times[0], 0.5) < 50 else "NOT met"
            print(f"target {name} p50 < 50 ms: {met} ({p(times[0], 0.5):.1f} ms)")
    tmp.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
