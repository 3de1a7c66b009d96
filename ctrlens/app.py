"""Builds the one ASGI application: collector (snippet, POST /e), dashboard and JSON API."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import ipaddress
import logging
import time
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ctrlens import dashboard, snippet
from ctrlens.collector.config import Config
from ctrlens.collector.errors import CtrlensError
from ctrlens.collector.ingest import Collector, preflight
from ctrlens.collector.metrics import Metrics
from ctrlens.collector.privacy import visitor_secret
from ctrlens.collector.ratelimit import ClientAddress
from ctrlens.collector.storage import Storage, open_storage
from ctrlens.collector.tracker import Scripts
from ctrlens.collector.writer import Writer
from ctrlens.dashboard import routes as dashboard_routes
from ctrlens.dashboard.alerts import run_periodically as run_alerts
from ctrlens.dashboard.auth import Auth, ensure_token, session_secret
from ctrlens.dashboard.pages import error_answer

log = logging.getLogger("ctrlens")

# Paths that never need a session or dashboard headers: the hot ingest path stays lean.
COLLECTOR_PATHS = ("/e", "/ctr.js", "/ctr-debug.js", "/ctr-overlay.js", "/healthz", "/metrics")
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
RETENTION_EVERY_SECONDS = 3600
GC_THRESHOLD = 20_000


class DashboardMiddleware:
    """Sessions and security headers for the dashboard, skipped on the collector's paths.

    The session secret lives in the database (shared by all collector processes), so the
    session middleware is built on the first request, after the lifespan has opened storage.

    A request a trusted proxy received over TLS (`X-Forwarded-Proto: https`) is an https request
    here too, and its cookies are `Secure`; with `secure_cookies` (set by an https public_url)
    every cookie is. Plain http on a local address keeps working without (docs/design.md §6).
    """

    def __init__(self, app: ASGIApp, secure_cookies: bool, trusted_proxies: tuple[str, ...] = ()) -> None:
        self.app = app
        self.secure_cookies = secure_cookies
        # The same networks as ClientAddress's: only their X-Forwarded-Proto is believed.
        self.proxies = [ipaddress.ip_network(p, strict=False) for p in trusted_proxies]
        self.sessions: dict[bool, ASGIApp] = {}

    def _via_tls_proxy(self, scope: Scope) -> bool:
        peer = scope.get("client")
        if not self.proxies or not peer:
            return False
        try:
            address = ipaddress.ip_address(peer[0])
        except ValueError:
            return False
        if not any(address in net for net in self.proxies):
            return False
        proto: str = dict(scope["headers"]).get(b"x-forwarded-proto", b"").decode("latin-1")
        # The nearest proxy's word is the last one: anything to its left came from the client.
        return proto.rsplit(",", 1)[-1].strip().lower() == "https"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in COLLECTOR_PATHS:
            await self.app(scope, receive, send)
            return
        if self._via_tls_proxy(scope):
            scope["scheme"] = "https"
        secure = self.secure_cookies or scope["scheme"] == "https"
        if secure not in self.sessions:
            # gzip here, not around the whole app: the collector's answers are tiny, and the
            # snippet is gzipped once at start (tracker.py).
            self.sessions[secure] = GZipMiddleware(
                SessionMiddleware(
                    self.app,
                    secret_key=scope["app"].state.session_secret,
                    session_cookie="ctrlens_session",
                    max_age=7 * 24 * 3600,
                    same_site="lax",
                    https_only=secure,
                ),
                minimum_size=1024,
                # zlib's default level: level 9 (Starlette's default) took 2 ms more on a 180 KB
                # overview page for 4% fewer bytes.
                compresslevel=6,
            )

        private_path: str = scope["path"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                headers += [
                    (b"content-security-policy", CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    (b"x-frame-options", b"DENY"),
                ]
                # Dashboard pages, /api/* and the login are private: no shared or browser cache
                # keeps them (docs/design.md §6). The stylesheet and scripts are not.
                if not private_path.startswith("/static/") and not any(
                    name.lower() == b"cache-control" for name, _ in headers
                ):
                    headers.append((b"cache-control", b"no-store"))
            await send(message)

        await self.sessions[secure](scope, receive, send_with_headers)


class CtrlensApp(Starlette):
    """The Starlette application, with POST /e taken straight to the collector.

    The hot path skips the middleware stack and the router, which POST /e has no use for:
    `Collector.handle` answers every error itself, the only thing they would do for it.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/e" and scope["method"] == "POST":
            collector: Collector | None = getattr(self.state, "collector", None)
            if collector is not None:
                scope["app"] = self
                response = await collector.handle(Request(scope, receive))
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app(
    config: Config, storage: Storage | None = None, extra_routes: list[BaseRoute] | None = None
) -> Starlette:
    """The application; storage is opened in the lifespan unless one is given."""
    metrics = Metrics()
    scripts = Scripts(snippet.DIST)
    # Resolved once, before serving: a missing or weak secret stops the start (docs/design.md §5).
    secret = visitor_secret(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        _log_to_stderr(config.log_level)
        store = storage or await open_storage(config.db)
        new_token, replaced = await ensure_token(store, config.token)
        if new_token:
            # Printed once, on the very first start; only its hash is stored.
            print(f"\n  ctrlens admin token (shown once, keep it safe): {new_token}\n", flush=True)
        if replaced:
            log.warning("CTRLENS_TOKEN differs from the stored admin token: it replaces it, and every "
                        "session ends (a `ctrlens token reset` is undone while CTRLENS_TOKEN is set)")
        writer = Writer(
            store,
            config.batch_window_ms,
            config.queue_limit,
            on_commit=metrics.observe_commit,
            on_failure=metrics.observe_failure,
        )
        writer.start()
        app.state.config = config
        app.state.storage = store
        app.state.writer = writer
        app.state.metrics = metrics
        app.state.collector = Collector(config, store, writer, metrics, secret)
        app.state.auth = Auth(store, addresses=ClientAddress(config.trusted_proxies))
        app.state.session_secret = await session_secret(store)
        retention = asyncio.create_task(_retention(store, config.retention_days))
        # Alerts (docs/design.md §4): one check per alert_interval across all processes; 0 turns it off.
        alerts = asyncio.create_task(run_alerts(store, config)) if config.alert_interval > 0 else None
        # Everything built so far lives as long as the process: keep it out of the collector's
        # way, and collect the young generation less often (each batch allocates thousands of
        # short-lived objects; the default threshold ran a collection every few requests).
        gc.freeze()
        gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])
        try:
            yield
        finally:
            retention.cancel()
            if alerts is not None:
                alerts.cancel()
            log.info("shutting down: committing %d queued events", writer.depth)
            await writer.close()
            if storage is None:
                await store.close()

    async def collect(request: Request) -> Response:
        collector: Collector = request.app.state.collector
        return await collector.handle(request)

    async def healthz(request: Request) -> Response:
        try:
            await request.app.state.storage.get_meta("schema")
        except Exception as exc:  # the answer an operator's probe needs, not a stack trace
            return JSONResponse({"status": "error", "error": type(exc).__name__}, status_code=503)
        if not request.app.state.writer.alive:
            return JSONResponse({"status": "error", "error": "writer stopped"}, status_code=503)
        return JSONResponse({"status": "ok", "queue": request.app.state.writer.depth})

    async def prometheus(request: Request) -> Response:
        if config.metrics_token and not _bearer_matches(request, config.metrics_token):
            return PlainTextResponse(
                "/metrics needs Authorization: Bearer <CTRLENS_METRICS_TOKEN>\n",
                status_code=401,
                headers={"WWW-Authenticate": "Bearer", "Cache-Control": "no-store"},
            )
        text = request.app.state.metrics.render(request.app.state.writer.depth)
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")

    routes = [
        Route("/ctr.js", scripts.serve),
        Route("/ctr-debug.js", scripts.serve),
        Route("/ctr-overlay.js", scripts.serve),
        Route("/e", collect, methods=["POST"]),
        Route("/e", preflight, methods=["OPTIONS"]),
        Route("/healthz", healthz),
        Route("/metrics", prometheus),
        *dashboard_routes.routes,
        Mount("/static", StaticFiles(directory=dashboard.STATIC), name="static"),
        *(extra_routes or []),
    ]
    return CtrlensApp(
        routes=routes,
        middleware=[
            Middleware(
                DashboardMiddleware,
                secure_cookies=config.secure_cookies,
                trusted_proxies=config.trusted_proxies,
            )
        ],
        # Every error a route raises is answered in one place, as a page or as JSON.
        exception_handlers={CtrlensError: error_answer, HTTPException: error_answer},
        lifespan=lifespan,
    )


def _bearer_matches(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    # Compared in constant time: the answer must not tell how much of a guess was right.
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def _log_to_stderr(level: str) -> None:
    """ctrlens's own log lines (shutdown, retention, writer failures) beside uvicorn's."""
    logger = logging.getLogger("ctrlens")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(level.upper())
        logger.propagate = False


async def _retention(storage: Storage, days: int) -> None:
    """Hourly: raw events past retention go (rollups stay), and so do expired visitor salts
    and the caps' names of days before yesterday, even when no event arrives."""
    while True:
        try:
            now = time.time()
            await storage.salt(int(now // 86400))
            await storage.forget_old_names()
            if days > 0:
                cutoff = int((now - days * 86400) * 1000)
                removed = await storage.delete_raw_before(cutoff)
                if removed:
                    log.info("retention: deleted %d raw events older than %d days", removed, days)
        except Exception:
            log.exception("retention pass failed")
        await asyncio.sleep(RETENTION_EVERY_SECONDS)
