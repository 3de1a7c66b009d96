"""Shared fixtures: a real `ctrlens serve` process, real HTTP, and Debian's Chromium for Playwright.

Browser tests present a normal desktop Chrome user agent: the collector drops bots, and
headless Chromium announces itself as `HeadlessChrome`, which the bot list rightly matches.
That drop is asserted on its own in test_ingest.py; everywhere else the browser plays a user.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
CTRLENS = [sys.executable, "-m", "collector.cli"]
TOKEN = "test-admin-token-" + uuid.uuid4().hex[:8]
BROWSER_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_sync(coro: Any) -> Any:
    """Run a coroutine to completion on a private loop, even from inside a running loop."""
    result: list[Any] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            result.append(asyncio.run(coro))
        except BaseException as exc:  # re-raised in the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


class Server:
    """A `ctrlens serve` subprocess on a free port, and the calls tests make against it."""

    def __init__(self, db: str, extra_args: list[str] | None = None, env: dict[str, str] | None = None) -> None:
        self.db = db
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = TOKEN
        self.extra_args = extra_args or []
        self.env = {**os.environ, "CTRLENS_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1", **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = Path(f"{db}.{self.port}.log") if "://" not in db else Path(f"/tmp/ctrlens-{self.port}.log")
        self.client = httpx.Client(base_url=self.url, timeout=30, headers={"User-Agent": BROWSER_UA})

    def start(self) -> Server:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [*CTRLENS, "serve", "--db", self.db, "--port", str(self.port), "--rate-limit", "0", *self.extra_args],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"ctrlens serve exited early:\n{self.log_path.read_text()}")
            try:
                if self.client.get("/healthz").status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"ctrlens serve did not start:\n{self.log_path.read_text()}")

    def stop(self, sig: int | None = None) -> int | None:
        if self.process is None:
            return None
        if sig is None:
            self.process.terminate()
        else:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self.process = None
        return code

    # -- the API, as a user's script would call it -----------------------------------------

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def new_site(self, origins: list[str], **settings: Any) -> str:
        key = "t" + uuid.uuid4().hex[:12]
        r = self.client.post("/api/sites", json={"key": key, "origins": origins, "settings": settings}, headers=self.auth)
        assert r.status_code == 201, r.text
        return key

    def elements(self, site: str, **params: Any) -> dict[str, dict[str, Any]]:
        r = self.client.get(f"/api/sites/{site}/elements", params=params, headers=self.auth)
        assert r.status_code == 200, r.text
        key = params.get("group", "none")
        rows = r.json()["elements"]
        if key == "none":
            return {row["element"]: row for row in rows}
        return {(row["element"], row[key]): row for row in rows}

    def rejections(self, site: str) -> dict[str, int]:
        r = self.client.get(f"/api/sites/{site}/rejections", headers=self.auth)
        assert r.status_code == 200, r.text
        return r.json()["rejections"]

    def events(self, site: str) -> list[dict[str, Any]]:
        """The raw rows stored for a site, read from the database itself."""
        from collector.storage import open_storage

        async def read() -> list[dict[str, Any]]:
            storage = await open_storage(self.db, migrate=False)
            try:
                return await storage.raw_events(site)
            finally:
                await storage.close()

        return run_sync(read())

    def post(self, body: Any, origin: str | None, content_type: str = "text/plain", user_agent: str = BROWSER_UA) -> httpx.Response:
        headers = {"Content-Type": content_type, "User-Agent": user_agent}
        if origin:
            headers["Origin"] = origin
        content = body if isinstance(body, (bytes, str)) else json.dumps(body)
        return self.client.post("/e", content=content, headers=headers)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    db = str(tmp_path_factory.mktemp("ctrlens") / "ctrlens.db")
    srv = Server(db).start()
    yield srv
    srv.stop()


# -- Playwright with Debian's Chromium --------------------------------------------------------

def _system_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _playwright_has_browser() -> bool:
    try:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            return Path(p.chromium.executable_path).exists()
    except Exception:
        return False


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    args = dict(browser_type_launch_args)
    if not _playwright_has_browser():
        path = _system_chromium()
        if path is None:
            pytest.fail("no Chromium: run ./dev.sh test, which installs Debian's chromium package")
        args["executable_path"] = path
    args["args"] = [
        *args.get("args", []),
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ]
    return args


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "user_agent": BROWSER_UA}
