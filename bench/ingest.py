"""Ingest benchmark: the ctrlens collector against a bare Starlette endpoint, driven by wrk.

    .venv/bin/python bench/ingest.py                      # SQLite in a temporary file
    .venv/bin/python bench/ingest.py --db postgresql://... --workers 4

One run measures, with the same uvicorn settings and the same wrk load:
  1. `bare`: bench/bare.py, a Starlette route that answers 204 without reading the body;
  2. `floor`: bench/floor.py, the least a durable collector can do in Python (decode, one
     group-committed INSERT of the raw events into SQLite, 202), a ceiling for the collector;
  3. the collector (`ctrlens serve --rate-limit 0`) at --events events per request (default 10);
  4. the same with each body opened by a `pageview` event, the page view's report of its five
     present elements (docs/design.md §3): what the funnel costs a real snippet's requests;
  5. the collector at --events-large events per request (default 50).
It prints requests/s, events/s, p50/p99 latency and each server's peak RSS (all its
processes), checks that every acknowledged event is in the database, and prints the ratio
of each server's requests/s to the bare endpoint's. Needs `wrk` on PATH.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LUA = Path(__file__).resolve().parent / "ingest.lua"
SITE = "bench"
ORIGIN = "https://bench.example"


@dataclass
class Result:
    name: str
    events_per_request: int
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int
    rss_mb: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def eps(self) -> float:
        return self.rps * self.events_per_request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_bytes(pid: int) -> int:
    """Resident memory of a process and all its descendants (uvicorn workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


class PeakRss:
    """Samples RSS every 100 ms while the load runs."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak = pid, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes(self.pid))
            self._stop.wait(0.1)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited early:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"server did not start:\n{log.read_text()}")


def start(cmd: list[str], ready: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CTRLENS_TOKEN": "bench-" + uuid.uuid4().hex}
    process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    wait_ready(ready, process, log)
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wrk(
    args: argparse.Namespace, url: str, events: int, run: str, pid: int, name: str, pageview: bool = False
) -> Result:
    """`events` impressions and clicks per request; `pageview`: plus the page view's report
    (counted apart: events/s stays impressions and clicks, comparable with the run without)."""
    env = {
        **os.environ,
        "BENCH_SITE": SITE,
        "BENCH_ORIGIN": ORIGIN,
        "BENCH_EVENTS": str(events),
        "BENCH_RUN": run,
        "BENCH_PAGEVIEW": "1" if pageview else "0",
    }
    cmd = [
        "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{args.duration}s",
        "--latency",
        "-s",
        str(LUA),
        url + "/e",
    ]
    with PeakRss(pid) as rss:
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("BENCH_JSON "))
    data = json.loads(line.removeprefix("BENCH_JSON "))
    non_2xx = 0
    for x in out.splitlines():
        if "Non-2xx" in x:
            non_2xx = int(x.split(":")[1])
    errors = non_2xx + sum(data[k] for k in ("connect_errors", "read_errors", "write_errors", "timeouts"))
    return Result(
        name,
        events,
        data["requests"] - non_2xx,
        data["duration_us"] / 1e6,
        data["p50_us"] / 1000,
        data["p99_us"] / 1000,
        errors,
        rss.peak / 2**20,
    )


async def _prepare(db: str) -> None:
    from ctrlens.collector.storage import open_storage

    storage = await open_storage(db)
    try:
        if await storage.get_site(SITE) is None:
            await storage.add_site(SITE, "Benchmark", [ORIGIN])
    finally:
        await storage.close()


async def _stored(db: str, prefix: str) -> int:
    from ctrlens.collector.storage import open_storage

    storage = await open_storage(db, migrate=False)
    try:
        rows = await storage.db.fetch(
            "SELECT COUNT(*) FROM events WHERE site = ? AND event_id LIKE ?", (SITE, prefix + "-%")
        )
        return int(rows[0][0])
    finally:
        await storage.close()


def uvicorn_settings() -> list[str]:
    """The flags that make `uvicorn` run bench/bare.py the way `ctrlens serve` runs the app."""
    return [
        "--log-level",
        "info",
        "--no-access-log",
        "--no-proxy-headers",
        "--no-server-header",
        "--timeout-graceful-shutdown",
        "30",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--db", help="SQLite file path or postgresql:// URL (default: a temporary SQLite file)"
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="collector processes (ctrlens serve --workers)"
    )
    parser.add_argument("--events", type=int, default=10, help="events per request (default 10)")
    parser.add_argument(
        "--events-large",
        type=int,
        default=50,
        help="events per request of the second run (default 50; 0 skips it)",
    )
    parser.add_argument("--duration", type=int, default=15, help="seconds per wrk run (default 15)")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections (default 50)")
    parser.add_argument(
        "--threads", type=int, default=1, help="wrk threads (default 1: the machine has 2 cores)"
    )
    parser.add_argument("--skip-bare", action="store_true", help="measure the collector only")
    parser.add_argument("--skip-floor", action="store_true", help="do not measure bench/floor.py")
    parser.add_argument(
        "--profile",
        metavar="SVG",
        help="record the collector with py-spy: a flame graph (.svg) or collapsed stacks (.txt)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")

    workdir = Path(tempfile.mkdtemp(prefix="ctrlens-bench-"))
    db = args.db or str(workdir / "bench.db")
    asyncio.run(_prepare(db))
    results: list[Result] = []
    python = sys.executable

    if not args.skip_bare:
        results.append(_reference(args, workdir, "bench.bare:app", "bare Starlette (204, body unread)", {}))
    if not args.skip_floor:
        env = {"CTRLENS_FLOOR_DB": str(workdir / "floor.db")}
        results.append(
            _reference(args, workdir, "bench.floor:app", "floor (decode + raw INSERT, SQLite)", env)
        )

    port = free_port()
    log = workdir / "collector.log"
    cmd = [python, "-m", "ctrlens.cli", "serve", "--db", db, "--port", str(port), "--rate-limit", "0"]
    if args.workers != 1:
        cmd += ["--workers", str(args.workers)]
    server = start(cmd, f"http://127.0.0.1:{port}/healthz", log)
    profiler = None
    if args.profile:
        profiler = subprocess.Popen(
            [
                str(Path(python).parent / "py-spy"),
                "record",
                "-o",
                args.profile,
                "--pid",
                str(server.pid),
                "--format",
                "raw" if args.profile.endswith(".txt") else "flamegraph",
                "--subprocesses",
                "--rate",
                "250",
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    try:
        runs = [(args.events, False), (args.events, True)]
        if args.events_large:
            runs.append((args.events_large, False))
        for events, pageview in runs:
            run = f"r{uuid.uuid4().hex[:8]}"
            name = f"ctrlens ({'SQLite' if '://' not in db else 'PostgreSQL'}, {args.workers} process{'es' if args.workers > 1 else ''})"
            if pageview:
                name += " + a pageview report per request"
            result = wrk(args, f"http://127.0.0.1:{port}", events, run, server.pid, name, pageview)
            stored = asyncio.run(_stored(db, run))
            acknowledged = result.requests * events
            # wrk stops with up to one request per connection in flight: stored, never counted.
            if not acknowledged <= stored <= acknowledged + args.connections * events:
                print(f"!! {acknowledged} events acknowledged but {stored} stored", file=sys.stderr)
                return 1
            results.append(result)
    finally:
        if profiler is not None:
            profiler.send_signal(2)
            profiler.wait(timeout=60)
        stop(server)

    _report(results, args)
    if args.json:
        Path(args.json).write_text(
            json.dumps([r.__dict__ | {"rps": r.rps, "eps": r.eps} for r in results], indent=2)
        )
    return 0


def _reference(
    args: argparse.Namespace, workdir: Path, target: str, name: str, env: dict[str, str]
) -> Result:
    """One of the reference servers, under the same uvicorn settings and wrk load."""
    port = free_port()
    log = workdir / f"{target.split(':')[0]}.log"
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", target, "--port", str(port), *uvicorn_settings()],
        cwd=ROOT,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        env={**os.environ, **env},
    )
    _wait_port(port, server, log)
    try:
        return wrk(
            args, f"http://127.0.0.1:{port}", args.events, f"ref{uuid.uuid4().hex[:8]}", server.pid, name
        )
    finally:
        stop(server)


def _wait_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited early:\n{log.read_text()}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit("bare server did not start")


def _report(results: list[Result], args: argparse.Namespace) -> None:
    bare = next((r for r in results if r.name.startswith("bare")), None)
    floor = next((r for r in results if r.name.startswith("floor")), None)
    print(f"\nwrk -t{args.threads} -c{args.connections} -d{args.duration}s, {os.cpu_count()} cores\n")
    print("| server | events/request | requests/s | events/s | p50 ms | p99 ms | errors | RSS MB | vs bare |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        ratio = f"{r.rps / bare.rps:.2f}" if bare and r is not bare else ""
        if floor and r is not floor and r is not bare:
            ratio += f" ({r.rps / floor.rps:.2f} of floor)"
        print(
            f"| {r.name} | {r.events_per_request} | {r.rps:,.0f} | {r.eps:,.0f} | {r.p50_ms:.1f} | "
            f"{r.p99_ms:.1f} | {r.errors} | {r.rss_mb:.0f} | {ratio} |"
        )


if __name__ == "__main__":
    raise SystemExit(main())
