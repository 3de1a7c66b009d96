"""Login with the admin token: session cookie for people, `Authorization: Bearer` for scripts.

The token is never stored, only its SHA-256; comparisons are constant-time. Failed logins are
limited per client address (a guesser gets a few tries a minute; someone who knows the token is
never locked out by their own sign-ins); every form carries a CSRF token bound to the session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from functools import wraps
from urllib.parse import quote, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ctrlens.collector.errors import InvalidRequest, RateLimited, Unauthorized
from ctrlens.collector.ratelimit import bucket_key
from ctrlens.collector.storage import Storage
from ctrlens.dashboard.negotiation import wants_html

TOKEN_KEY = "admin_token_sha256"
TOKEN_CACHE_SECONDS = 5.0
SECRET_KEY = "session_secret"

Handler = Callable[[Request], Awaitable[Response]]


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def ensure_token(storage: Storage, configured: str | None) -> str | None:
    """Make the admin token exist. Returns a newly generated token (to print once), else None.

    A token given by CTRLENS_TOKEN always wins and replaces the stored hash.
    """
    if configured:
        await storage.set_meta(TOKEN_KEY, digest(configured))
        return None
    if await storage.get_meta(TOKEN_KEY):
        return None
    token = secrets.token_urlsafe(24)
    stored = await storage.meta_default(TOKEN_KEY, digest(token))
    return token if stored == digest(token) else None


async def reset_token(storage: Storage) -> str:
    token = secrets.token_urlsafe(24)
    await storage.set_meta(TOKEN_KEY, digest(token))
    return token


async def session_secret(storage: Storage) -> str:
    """Shared by every collector process, so a session survives restarts and load balancing."""
    return await storage.meta_default(SECRET_KEY, secrets.token_urlsafe(48))


class LoginThrottle:
    """At most `failures` failed sign-ins per client in any `window` seconds."""

    def __init__(self, failures: int = 5, window: float = 60.0, max_clients: int = 10_000) -> None:
        self.failures = failures
        self.window = window
        self.max_clients = max_clients
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, client: str, now: float) -> deque[float]:
        times = self._seen.get(bucket_key(client), deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        return times

    def blocked(self, client: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        return len(self._recent(client, now)) >= self.failures

    def failed(self, client: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        key = bucket_key(client)
        times = self._recent(client, now)
        times.append(now)
        self._seen.pop(key, None)
        self._seen[key] = times
        if len(self._seen) > self.max_clients:
            self._seen.popitem(last=False)


class Auth:
    def __init__(self, storage: Storage, throttle: LoginThrottle | None = None) -> None:
        self.storage = storage
        self.throttle = throttle or LoginThrottle()
        self._digest = ""
        self._read_at = -TOKEN_CACHE_SECONDS

    async def token_digest(self) -> str:
        # Re-read now and then: `ctrlens token reset` in another process takes effect here too.
        now = time.monotonic()
        if now - self._read_at >= TOKEN_CACHE_SECONDS:
            self._digest = await self.storage.get_meta(TOKEN_KEY) or ""
            self._read_at = now
        return self._digest

    async def sign_in(self, request: Request) -> None:
        """A session is bound to the token it was opened with: a token reset ends every session."""
        request.session.clear()
        request.session["user"] = "admin"
        request.session["token"] = (await self.token_digest())[:16]

    async def check(self, token: str) -> bool:
        expected = await self.token_digest()
        return bool(expected) and hmac.compare_digest(digest(token), expected)

    async def authenticated(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            client = request.client.host if request.client else ""
            if self.throttle.blocked(client):
                raise RateLimited("too many failed sign-ins from this address; retry in a minute", 60)
            if await self.check(header[7:].strip()):
                return True
            self.throttle.failed(client)
            return False
        if request.session.get("user") != "admin":
            return False
        return request.session.get("token") == (await self.token_digest())[:16]


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = request.session["csrf"] = secrets.token_urlsafe(24)
    return token


async def check_csrf(request: Request) -> dict[str, str]:
    """Read a submitted form and verify its CSRF token; return the form's fields."""
    form = await request.form()
    sent = str(form.get("csrf", ""))
    expected = request.session.get("csrf", "")
    if not expected or not hmac.compare_digest(sent, expected):
        raise InvalidRequest("the form expired or did not come from this dashboard; reload and retry")
    return {k: str(v) for k, v in form.items()}


def safe_next(target: str | None) -> str:
    """Only redirect to paths on this host after login."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    parts = urlsplit(target)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def login_required(handler: Handler) -> Handler:
    """A browser asking for a page is sent to /login; everything else gets a 401, as JSON."""

    @wraps(handler)
    async def wrapper(request: Request) -> Response:
        auth: Auth = request.app.state.auth
        if await auth.authenticated(request):
            return await handler(request)
        if not wants_html(request):
            raise Unauthorized("sign in or send Authorization: Bearer <token>")
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    return wrapper
