"""Sign-in with the admin token or a named user's password: session cookie for people,
`Authorization: Bearer` (the admin token or a user's personal API token) for scripts.

The token is never stored, only its SHA-256; comparisons are constant-time. Failed logins are
limited per client address, the real one behind a trusted proxy (a guesser gets a few tries a
minute; nobody else's failures lock a user out). Every form carries a CSRF token bound to the
session; a cookie-authenticated write to the JSON API must be JSON from the dashboard's own origin.

Sessions (docs/design.md §6): the signed cookie holds the user, the server-side session
generation and when it was opened, nothing derived from the token. Signing out, resetting the
token or changing it through CTRLENS_TOKEN starts a new generation, which ends every session
opened with the token; a session also ends `SESSION_LIFETIME` after sign-in however active it
is. A named user's session holds the user's id and that user's generation instead: a new
password, the user's removal or their sign-out ends it (docs/design.md §4 "Access").

What a request may do is decided in one place, `authorize`: viewers read, admins also write.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from dataclasses import replace
from functools import wraps
from typing import Literal
from urllib.parse import quote, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from ctrlens.collector.errors import (
    CtrlensError,
    InvalidRequest,
    RateLimited,
    Unauthorized,
    UnsupportedMediaType,
)
from ctrlens.collector.ratelimit import ClientAddress, bucket_key
from ctrlens.collector.storage import Storage, User
from ctrlens.dashboard.negotiation import wants_html
from ctrlens.dashboard.users import (
    ADMIN_TOKEN,
    TOKEN_PREFIX,
    Forbidden,
    Identity,
    identity_of,
    token_digest,
)

TOKEN_KEY = "admin_token_sha256"
GENERATION_KEY = "session_generation"
TOKEN_CACHE_SECONDS = 5.0
SECRET_KEY = "session_secret"
#: A session ends this long after sign-in, however active (an absolute lifetime).
SESSION_LIFETIME = 7 * 24 * 3600
#: The least strength of a token given by CTRLENS_TOKEN (a generated one has 192 bits).
MIN_TOKEN_BITS = 128
UNSAFE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

#: A personal token's last use is written at most this often (not one write per request).
TOKEN_USE_PRECISION = 60
#: The session's `user` of a sign-in with the admin token; a named user's is their id.
ADMIN_SESSION = "admin"

Handler = Callable[[Request], Awaitable[Response]]
#: Who may use a route: "read" (everyone signed in reads, admins write), "admin" (admins only,
#: reading too), "own" (everyone signed in, for their own things: the account page).
Access = Literal["read", "admin", "own"]


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_bits(token: str) -> float:
    """An upper estimate of a token's strength: its length times log2 of the alphabet its
    characters are drawn from (lower case, upper case, digits, other printable)."""
    classes = (str.islower, str.isupper, str.isdigit)
    alphabet = sum(size for size, test in zip((26, 26, 10), classes, strict=True) if any(map(test, token)))
    alphabet += 33 if any(not (c.isalnum() and c.isascii()) for c in token) else 0
    return len(token) * math.log2(alphabet) if alphabet > 1 else 0.0


def check_token_strength(token: str) -> None:
    if token_bits(token) < MIN_TOKEN_BITS or len(set(token)) < 8:
        raise CtrlensError(
            f"CTRLENS_TOKEN is too weak: use at least {MIN_TOKEN_BITS} bits, for example "
            "$(openssl rand -hex 24)",
            status=400,
        )


async def ensure_token(storage: Storage, configured: str | None) -> tuple[str | None, bool]:
    """Make the admin token exist. Returns a newly generated token (to print once) or None, and
    whether a configured token replaced a different stored one (every session then ends).

    A token given by CTRLENS_TOKEN always wins and replaces the stored hash.
    """
    if configured:
        check_token_strength(configured)
        if await storage.get_meta(TOKEN_KEY) == digest(configured):
            return None, False
        replaced = await storage.get_meta(TOKEN_KEY) is not None
        await storage.set_meta(TOKEN_KEY, digest(configured))
        await new_generation(storage)
        return None, replaced
    if await storage.get_meta(TOKEN_KEY):
        return None, False
    token = secrets.token_urlsafe(24)
    stored = await storage.meta_default(TOKEN_KEY, digest(token))
    return (token if stored == digest(token) else None), False


async def reset_token(storage: Storage) -> str:
    token = secrets.token_urlsafe(24)
    await storage.set_meta(TOKEN_KEY, digest(token))
    await new_generation(storage)
    return token


async def new_generation(storage: Storage) -> str:
    """End every session: cookies of an older generation are refused."""
    generation = secrets.token_urlsafe(16)
    await storage.set_meta(GENERATION_KEY, generation)
    return generation


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
    def __init__(
        self,
        storage: Storage,
        throttle: LoginThrottle | None = None,
        addresses: ClientAddress | None = None,
    ) -> None:
        self.storage = storage
        self.throttle = throttle or LoginThrottle()
        self.addresses = addresses or ClientAddress(())
        self._digest = ""
        self._generation = ""
        self._read_at = -TOKEN_CACHE_SECONDS

    async def _refresh(self) -> None:
        # Re-read now and then: a token reset or a sign-out in another process takes effect here too.
        now = time.monotonic()
        if now - self._read_at >= TOKEN_CACHE_SECONDS:
            self._digest = await self.storage.get_meta(TOKEN_KEY) or ""
            self._generation = await self.storage.get_meta(GENERATION_KEY) or ""
            if not self._generation:
                self._generation = await self.storage.meta_default(GENERATION_KEY, secrets.token_urlsafe(16))
            self._read_at = now

    async def token_digest(self) -> str:
        await self._refresh()
        return self._digest

    def client(self, request: Request) -> str:
        """The client's address, the real one behind a trusted proxy: what the throttle counts by."""
        peer = request.client.host if request.client else ""
        return self.addresses.resolve(peer, request.headers.get("x-forwarded-for"))

    async def sign_in(self, request: Request, user: User | None = None) -> None:
        """A new session: of the admin token's holder, or of `user`."""
        await self._refresh()
        request.session.clear()
        if user is None:
            request.session.update(user=ADMIN_SESSION, generation=self._generation, since=int(time.time()))
        else:
            request.session.update(user=user.id, generation=user.generation, since=int(time.time()))

    async def sign_out(self, request: Request) -> None:
        """End the session, and every other of the same user (or, for the admin token, every
        session opened with it)."""
        who = request.session.get("user")
        request.session.clear()
        if who == ADMIN_SESSION:
            await new_generation(self.storage)
            self._read_at = -TOKEN_CACHE_SECONDS
        elif isinstance(who, str):
            await self.storage.end_user_sessions(who)

    async def check(self, token: str) -> bool:
        expected = await self.token_digest()
        return bool(expected) and hmac.compare_digest(digest(token), expected)

    async def authenticated(self, request: Request) -> str | None:
        """How the request is signed in: "bearer", "session", or None."""
        identity = await self.identify(request)
        return identity.via if identity else None

    async def identify(self, request: Request) -> Identity | None:
        """Who the request acts as, or None when it is not signed in."""
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            client = self.client(request)
            if self.throttle.blocked(client):
                raise RateLimited("too many failed sign-ins from this address; retry in a minute", 60)
            identity = await self._bearer(header[7:].strip())
            if identity is None:
                self.throttle.failed(client)
            return identity
        session = request.session
        who, since = session.get("user"), session.get("since")
        if not isinstance(who, str) or not isinstance(since, int):
            return None
        if time.time() - since >= SESSION_LIFETIME:
            return None
        generation = str(session.get("generation", ""))
        if who == ADMIN_SESSION:
            await self._refresh()
            return ADMIN_TOKEN if hmac.compare_digest(generation, self._generation) else None
        user = await self.storage.get_user(who)
        if user is None or not hmac.compare_digest(generation, user.generation):
            return None  # removed, or a new password / sign-out since
        return identity_of(user)

    async def _bearer(self, token: str) -> Identity | None:
        if await self.check(token):
            return replace(ADMIN_TOKEN, via="bearer")
        if not token.startswith(TOKEN_PREFIX):
            return None
        found = await self.storage.api_token_user(token_digest(token))
        if found is None:
            return None
        user, api_token = found
        now = int(time.time())
        if api_token.last_used_at is None or now - api_token.last_used_at >= TOKEN_USE_PRECISION:
            await self.storage.api_token_used(api_token.id, now)
        return replace(identity_of(user), via="bearer")


def authorize(request: Request, identity: Identity, access: Access) -> None:
    """The one place that decides what a role may do (docs/design.md §4 "Access"): everyone
    signed in reads, only admins write or open the admin pages; "own" routes are each user's."""
    if access == "own" or identity.admin:
        return
    if access == "admin":
        raise Forbidden("this page is for admins; you are signed in as a viewer")
    if request.method in UNSAFE_METHODS:
        raise Forbidden("viewers can read this dashboard but not change it; ask an admin")


def check_api_write(request: Request, how: str) -> None:
    """A write through the JSON API (CSRF, docs/design.md §6): its body must be JSON, which a
    cross-site form cannot send, and with a session cookie it must come from this origin.
    Bearer-token requests carry no ambient credential and are exempt from the origin check."""
    if request.method not in UNSAFE_METHODS:
        return
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in FORM_TYPES and not request.url.path.startswith("/api/"):
        return  # a dashboard form: its handler checks the form's CSRF token (check_csrf)
    if content_type != "application/json":
        raise UnsupportedMediaType("send the body as application/json")
    if how == "bearer":
        return
    site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    if site is not None:
        allowed = site == "same-origin"
    else:
        allowed = origin is not None and origin == f"{request.url.scheme}://{request.url.netloc}"
    if not allowed:
        raise CtrlensError("cross-site request refused: write through the dashboard or with a bearer token",
                           status=403)


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
    """Only redirect to paths on this host after login. Browsers drop tabs and newlines from a
    URL and read a backslash as a slash, so `/\\evil.example` or `/\t/evil.example` would become
    scheme-relative: anything with a control character or a backslash goes to the start page."""
    if not target or not target.startswith("/") or "\\" in target:
        return "/"
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or parts.path.startswith("//"):
        return "/"
    return parts.path + (f"?{parts.query}" if parts.query else "")


def login_required(handler: Handler, access: Access = "read") -> Handler:
    """A browser asking for a page is sent to /login; everything else gets a 401, as JSON.
    A signed-in request is then held to `access` (`authorize`); its identity is
    `request.state.identity` for the handler and the templates."""

    @wraps(handler)
    async def wrapper(request: Request) -> Response:
        auth: Auth = request.app.state.auth
        identity = await auth.identify(request)
        if identity is not None:
            request.state.identity = identity
            authorize(request, identity, access)
            check_api_write(request, identity.via)
            return await handler(request)
        if not wants_html(request):
            raise Unauthorized("sign in or send Authorization: Bearer <token>")
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)

    return wrapper
