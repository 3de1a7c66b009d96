"""Screenshots of every dashboard page from a real run, for the README (docs/screenshots/*.png).

    .venv/bin/python bench/screenshots.py [--out docs/screenshots] [--days 28]

What it does, end to end: a temporary SQLite database gets the demo site and `--days` of
simulated traffic (`ctrlens.demo.simulate_traffic`, the same write path live events take),
`ctrlens serve` runs on it as a subprocess, and Playwright with Chromium signs in through the
login form and saves each page: light mode at 1280 px, then the overview and an element page in
dark mode and on a 390 px phone (light and dark).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ctrlens.collector.storage import open_storage  # noqa: E402  (after the path above)
from ctrlens.demo import DEMO_SITE, simulate_traffic  # noqa: E402

TOKEN = "screenshot-token-" + secrets.token_hex(16)
MAX_HEIGHT = 1500
UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def seed(db: str, base: str, days: int) -> int:
    storage = await open_storage(db)
    try:
        await storage.add_site(DEMO_SITE, "Acme Analytics", [base], {"timezone": "Europe/Berlin"})
        return await simulate_traffic(storage, DEMO_SITE, days=days, base_url=base)
    finally:
        await storage.close()


def chromium() -> str | None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        if Path(p.chromium.executable_path).exists():
            return None
    for path in ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"):
        if Path(path).exists():
            return path
    raise SystemExit("no Chromium found: apt-get install chromium")


def shoot(base: str, out: Path, share_url: str) -> list[Path]:
    from playwright.sync_api import sync_playwright

    site = f"{base}/sites/{DEMO_SITE}"
    shots = [
        ("overview", f"{site}?period=30d", "light", (1280, 900)),
        ("overview-variant-b", f"{site}?period=30d&variant=B&group=page", "light", (1280, 900)),
        ("element", f"{site}/elements/hero-signup?period=30d", "light", (1280, 900)),
        ("variants", f"{site}/variants?period=30d", "light", (1280, 900)),
        ("accounts", f"{site}/accounts?period=30d", "light", (1280, 900)),
        ("settings", f"{site}/settings", "light", (1280, 900)),
        ("overview-dark", f"{site}?period=30d", "dark", (1280, 900)),
        ("element-dark", f"{site}/elements/hero-signup?period=30d", "dark", (1280, 900)),
        ("overview-filtered", f"{site}?period=30d&source=newsletter&campaign=winter-sale", "light", (1280, 900)),
        ("overview-compare", f"{site}?period=7d&compare=custom&compare_from={days_ago(34)}&compare_to={days_ago(28)}",
         "light", (1280, 900)),
        ("annotations", f"{site}/annotations", "light", (1280, 900)),
        ("alerts", f"{site}/alerts", "light", (1280, 900)),
        ("users", f"{base}/users", "light", (1280, 900)),
        ("overview-phone", f"{site}?period=30d", "light", (390, 844)),
        ("element-phone", f"{site}/elements/hero-signup?period=30d", "light", (390, 844)),
        ("element-phone-dark", f"{site}/elements/hero-signup?period=30d", "dark", (390, 844)),
    ]
    saved = []
    executable = chromium()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=["--no-sandbox", "--disable-gpu"])
        # Sign in once through the form; every shot reuses the session (failed logins are throttled,
        # good ones are not, but one is enough).
        login = browser.new_context(user_agent=UA)
        page = login.new_page()
        page.goto(f"{base}/login")
        page.fill("#token", TOKEN)
        with page.expect_navigation():
            page.click("button[type=submit]")
        state = login.storage_state()
        login.close()
        for name, url, scheme, (width, height) in shots:
            context = browser.new_context(
                viewport={"width": width, "height": height}, color_scheme=scheme, user_agent=UA,
                device_scale_factor=1, storage_state=state,
            )
            page = context.new_page()
            page.goto(url)
            page.wait_for_load_state("networkidle")
            path = out / f"{name}.png"
            full = page.evaluate("document.documentElement.scrollHeight")
            # Long pages are cut at MAX_HEIGHT so each PNG stays small enough for the README.
            page.screenshot(path=str(path), full_page=True,
                            clip={"x": 0, "y": 0, "width": width, "height": min(full, MAX_HEIGHT)})
            saved.append(path)
            context.close()
        # A share link, opened by someone who is not signed in.
        context = browser.new_context(viewport={"width": 1280, "height": 900}, user_agent=UA, device_scale_factor=1)
        page = context.new_page()
        page.goto(share_url)
        page.wait_for_load_state("networkidle")
        path = out / "share.png"
        full = page.evaluate("document.documentElement.scrollHeight")
        page.screenshot(path=str(path), full_page=True, clip={"x": 0, "y": 0, "width": 1280, "height": min(full, MAX_HEIGHT)})
        saved.append(path)
        context.close()
        browser.close()
    return saved


def days_ago(days: int) -> str:
    return (date.today() - timedelta(days=days)).isoformat()


def around_the_numbers(base: str) -> str:
    """What a team adds around the numbers, through the real API: two annotations (a deploy hook's
    curl), alert channels, and a share link; returns the share link's URL."""
    auth = {"Authorization": f"Bearer {TOKEN}"}
    api = f"{base}/api/sites/{DEMO_SITE}"
    for days, text in ((12, "Deployed the new hero copy"), (5, "Winter sale newsletter sent")):
        r = httpx.post(f"{api}/annotations", json={"text": text, "at": days_ago(days)}, headers=auth)
        r.raise_for_status()
    httpx.put(f"{api}/alerts", json={"webhook": "https://hooks.slack.example/services/T000/B000/XXXX",
                                     "emails": ["growth@acme.example"]}, headers=auth).raise_for_status()
    r = httpx.post(f"{api}/share-links", json={"days": 30}, headers=auth)
    r.raise_for_status()
    return str(r.json()["url"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument("--days", type=int, default=63)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "screens.db")
        events = asyncio.run(seed(db, base, args.days))
        print(f"seeded {events:,} events over {args.days} days")
        log = (Path(tmp) / "serve.log").open("wb")
        server = subprocess.Popen(
            [sys.executable, "-m", "ctrlens.cli", "serve", "--db", db, "--port", str(port)],
            cwd=ROOT, env={**os.environ, "CTRLENS_TOKEN": TOKEN}, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"{base}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit((Path(tmp) / "serve.log").read_text())
                time.sleep(0.2)
            users = subprocess.run(
                [sys.executable, "-m", "ctrlens.cli", "user", "add", "maria", "--role", "viewer",
                 "--password-stdin", "--db", db],
                input="correct horse battery", text=True, cwd=ROOT, capture_output=True,
                env={**os.environ, "CTRLENS_TOKEN": TOKEN},
            )
            if users.returncode:
                raise SystemExit(users.stderr)
            for path in shoot(base, out, around_the_numbers(base)):
                shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
                print(f"{shown}  {path.stat().st_size // 1024} KB")
        finally:
            server.terminate()
            server.wait(timeout=30)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
