"""The test harness (imported by conftest.py and by test modules as `harness`): a real
`ctrlens serve` process, real HTTP, and Debian's Chromium for Playwright.

Every test that uses `server` (or `backend`, `fresh_db`) runs twice: against SQLite
and against PostgreSQL, one server per backend for the session. The PostgreSQL half needs
CTRLENS_TEST_PG_URL (`./dev.sh test` sets it with tests/pg_setup.sh); without it those tests
fail rather than skip. Each session works in PostgreSQL databases of its own, made from that
URL's server and dropped at the end.

Browser tests present a normal desktop Chrome user agent: the collector drops bots, and
headless Chromium announces itself as `HeadlessChrome`, which the bot list rightly matches.
That drop is asserted on its own in test_ingest.py; everywhere else the browser plays a user.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent
CTRLENS = [sys.executable, "-m", "ctrlens.cli"]
TOKEN = "test-admin-token-" + uuid.uuid4().hex[:8]
BROWSER_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)


def clean_copy(destination: Path) -> Path:
    """This checkout as a user would get it: the tracked tree (links kept) without virtualenvs,
    build leftovers, caches or databases. An old egg-info's file list, for one, would hide a
    missing package-data pattern from a wheel built here."""
    shutil.copytree(
        ROOT,
        destination,
        symlinks=True,
        ignore=shutil.ignore_patterns(
            ".git",
            ".venv",
            "build",
            "*.egg-info",
            "node_modules",
            "__pycache__",
            "*.secret",
            ".*cache",
            ".ctrlens",
            "test-results",
            "*.db",
            "*.db-wal",
            "*.db-shm",
        ),
    )
    return destination


class Origin:
    """A web origin of its own on 127.0.0.1 (a customer's site, for browser tests): every GET is
    answered by `respond(path)` with (body, media type, extra headers), never cached."""

    def __init__(self, respond: Callable[[str], tuple[bytes, str, dict[str, str]]]) -> None:
        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                body, media, headers = respond(self.path)
                self.send_response(200)
                self.send_header("Content-Type", f"{media}; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


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

    def __init__(
        self, db: str, extra_args: list[str] | None = None, env: dict[str, str] | None = None
    ) -> None:
        self.db = db
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = TOKEN
        self.extra_args = extra_args or []
        self.env = {**os.environ, "CTRLENS_TOKEN": TOKEN, "PYTHONUNBUFFERED": "1", **(env or {})}
        if "://" in db and "CTRLENS_SECRET_FILE" not in self.env:
            # A PostgreSQL server keeps its visitor-id secret in the working directory by default;
            # every server of one database shares one file here (as collectors must), outside the checkout.
            digest = hashlib.sha256(db.encode()).hexdigest()[:16]
            self.env["CTRLENS_SECRET_FILE"] = f"/tmp/ctrlens-test-{digest}.secret"
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = (
            Path(f"{db}.{self.port}.log") if "://" not in db else Path(f"/tmp/ctrlens-{self.port}.log")
        )
        self.client = httpx.Client(base_url=self.url, timeout=30, headers={"User-Agent": BROWSER_UA})

    def start(self) -> Server:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                *CTRLENS,
                "serve",
                "--db",
                self.db,
                "--port",
                str(self.port),
                "--rate-limit",
                "0",
                *self.extra_args,
            ],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
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
        r = self.client.post(
            "/api/sites", json={"key": key, "origins": origins, "settings": settings}, headers=self.auth
        )
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
        from ctrlens.collector.storage import open_storage

        async def read() -> list[dict[str, Any]]:
            storage = await open_storage(self.db, migrate=False)
            try:
                return await storage.raw_events(site)
            finally:
                await storage.close()

        return run_sync(read())

    def post(
        self, body: Any, origin: str | None, content_type: str = "text/plain", user_agent: str = BROWSER_UA
    ) -> httpx.Response:
        headers = {"Content-Type": content_type, "User-Agent": user_agent}
        if origin:
            headers["Origin"] = origin
        content = body if isinstance(body, (bytes, str)) else json.dumps(body)
        return self.client.post("/e", content=content, headers=headers)


# -- the two storage backends -----------------------------------------------------------------

BACKENDS = ("sqlite", "postgres")
PG_URL_VARIABLE = "CTRLENS_TEST_PG_URL"


def postgres_url() -> str:
    """The test server's URL (its role may create databases); fails the test when unset."""
    url = os.environ.get(PG_URL_VARIABLE)
    if not url:
        pytest.fail(
            f"{PG_URL_VARIABLE} is not set, so the PostgreSQL half of the suite cannot run. "
            'Run ./dev.sh test, or eval "$(tests/pg_setup.sh)" before pytest.',
            pytrace=False,
        )
    return url


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


class Databases:
    """Fresh, empty databases: SQLite files, or PostgreSQL databases dropped at the end."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.created: list[str] = []

    def new(self, backend: str) -> str:
        if backend == "sqlite":
            return str(self.directory / f"ctrlens-{uuid.uuid4().hex[:12]}.db")
        admin = postgres_url()
        name = f"ctrlens_test_{uuid.uuid4().hex[:12]}"
        run_sync(_pg_admin(admin, f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        return with_database(admin, name)

    def drop_all(self) -> None:
        for name in self.created:
            run_sync(_pg_admin(postgres_url(), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.created = []


async def _pg_admin(url: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Databases]:
    made = Databases(tmp_path_factory.mktemp("ctrlens"))
    yield made
    made.drop_all()


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """ "sqlite" or "postgres": every test that depends on it runs once with each."""
    return request.param


@pytest.fixture
def fresh_db(backend: str, databases: Databases) -> str:
    """A new, empty database of the current backend: a file path or a postgresql:// URL."""
    return databases.new(backend)


def private_loop(test: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., Any]:
    """Run an async test on a loop of its own, in a thread.

    Playwright's sync API leaves its event loop running in the main thread for the rest of
    the session, and pytest-asyncio cannot start another one there; storage tests that run
    after a browser test would fail for that reason alone.
    """

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> Any:
        return run_sync(test(*args, **kwargs))

    return run


@asynccontextmanager
async def opened(url: str) -> AsyncIterator[Any]:
    """`Storage` opened (and migrated) on `url`, closed afterwards."""
    from ctrlens.collector.storage import open_storage

    store = await open_storage(url)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture(scope="session")
def server(backend: str, databases: Databases) -> Iterator[Server]:
    """One `ctrlens serve` per backend for the whole session."""
    srv = Server(databases.new(backend)).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def sqlite_server(databases: Databases) -> Iterator[Server]:
    """A `ctrlens serve` on SQLite only, for tests whose subject is not storage (the snippet's
    browser tests): running them on both backends would test nothing more."""
    srv = Server(databases.new("sqlite")).start()
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
        # The context's user agent does not reach a beacon sent while its page unloads; the
        # browser-wide flag does, so a closing page is not mistaken for a headless bot.
        f"--user-agent={BROWSER_UA}",
    ]
    return args


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "user_agent": BROWSER_UA}


def sign_in(page: Any, server: Server, path: str) -> None:
    """Open `path` in a browser page, get sent to the sign-in form, sign in with the admin token
    and land back on `path`."""
    import re

    from playwright.sync_api import expect

    page.goto(f"{server.url}{path}")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.fill("#token", server.token)
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(re.escape(path.split("?")[0])))


def add_user(server: Server, password: str, role: str = "viewer") -> str:
    """A named user made with `ctrlens user add`, as an admin would; returns the name."""
    name = f"{role}-" + uuid.uuid4().hex[:6]
    r = subprocess.run(
        [*CTRLENS, "user", "add", name, "--role", role, "--password-stdin", "--db", server.db],
        input=password + "\n", capture_output=True, text=True, cwd=ROOT, timeout=60,
    )
    assert r.returncode == 0, r.stderr
    return name
