"""Share links: a read-only view of one site's dashboard for people without an account
(docs/design.md §4 "Access").

A link is `/share/{token}`: 192 random bits, of which only the SHA-256 is stored. It expires
(1 to 365 days, required) and may have a password, hashed like a user's. A visitor who typed the
password gets a cookie scoped to the link's own path, worth nothing anywhere else: an HMAC of the
link and its password hash under the session secret, so revoking the link ends it too.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping
from typing import Any

from ctrlens.collector.errors import CtrlensError, InvalidRequest, NotFound
from ctrlens.collector.storage import ShareLink, Storage
from ctrlens.dashboard.users import MAX_PASSWORD, MAX_TOKEN_LABEL, hash_password, token_digest

MIN_DAYS = 1
MAX_DAYS = 365
#: The least length of a share link's password; shorter than an account's, a link being temporary.
MIN_PASSWORD = 8
COOKIE = "ctrlens_share"
#: The unlock cookie lasts at most this long, and never past the link's expiry.
COOKIE_SECONDS = 7 * 24 * 3600


class Gone(CtrlensError):
    status = 410


def share_path(token: str) -> str:
    return f"/share/{token}"


def parse_link(fields: Mapping[str, Any]) -> tuple[str, int, str]:
    """(label, days, password) of a new link from a form or a JSON body; a readable 400 if wrong."""
    label = str(fields.get("label") or "").strip()
    if len(label) > MAX_TOKEN_LABEL or not label.isprintable():
        raise InvalidRequest(f"a label has at most {MAX_TOKEN_LABEL} printable characters")
    raw_days = fields.get("days")
    if raw_days in (None, ""):
        raise InvalidRequest(f"a share link needs an expiry: {MIN_DAYS} to {MAX_DAYS} days")
    try:
        days = int(str(raw_days).strip())
    except ValueError:
        raise InvalidRequest(f"days must be a whole number from {MIN_DAYS} to {MAX_DAYS}") from None
    if isinstance(raw_days, bool) or not MIN_DAYS <= days <= MAX_DAYS:
        raise InvalidRequest(f"days must be a whole number from {MIN_DAYS} to {MAX_DAYS}")
    password = str(fields.get("password") or "")
    if password and not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidRequest(f"a share link's password has {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    return label, days, password


async def create_link(
    storage: Storage, site: str, label: str, days: int, password: str
) -> tuple[ShareLink, str]:
    """A new link and its token (shown once)."""
    token = secrets.token_urlsafe(24)
    hashed = await hash_password(password) if password else ""
    expires = int(time.time()) + days * 86400
    link = await storage.add_share_link(site, label, token_digest(token), hashed, expires)
    return link, token


async def open_link(storage: Storage, token: str) -> ShareLink:
    """The live link of `token`: 404 when unknown or revoked, 410 once expired."""
    link = await storage.share_link(token_digest(token)) if 16 <= len(token) <= 128 else None
    if link is None:
        raise NotFound("this share link does not exist or was revoked")
    if link.expired(time.time()):
        raise Gone("this share link has expired; ask for a new one")
    return link


def unlock_value(secret: str, link: ShareLink) -> str:
    message = f"{link.id}:{link.password}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def unlocked(secret: str, link: ShareLink, cookie: str | None) -> bool:
    if not link.password:
        return True
    return cookie is not None and hmac.compare_digest(cookie, unlock_value(secret, link))


def link_json(link: ShareLink, now: float) -> dict[str, Any]:
    return {
        "id": link.id,
        "label": link.label,
        "password": bool(link.password),
        "expires": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(link.expires_at)),
        "expired": link.expired(now),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(link.created_at)),
    }
