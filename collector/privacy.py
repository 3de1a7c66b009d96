"""Who sent an event, without knowing who they are: visitor ids, bots, device class, source.

Visitor id = keyed BLAKE2b of (site, IP, user agent) under the day's key, HMAC-SHA256(secret,
random daily salt) (docs/design.md §5). Salts live in the database, so every collector process
computes the same id; the secret never does, so the database alone cannot recompute an id by
trying addresses. The salt of a day is deleted two days later, after which no id can be
recomputed or linked to another day, secret or not. The IP address is only ever an input to the
hash; it is never stored or logged.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import secrets
import time
from functools import lru_cache
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import user_agents
from crawlerdetect import CrawlerDetect

from ctrlens.collector.config import Config
from ctrlens.collector.storage import Storage

DAY = 86400
#: The shortest secret accepted; a generated one is 64 hexadecimal characters (256 bits).
MIN_SECRET_LENGTH = 32

_crawlers = CrawlerDetect()


@lru_cache(maxsize=8192)
def is_bot(user_agent: str) -> bool:
    """Known bots, crawlers, headless browsers and HTTP libraries (the crawlerdetect list)."""
    return bool(user_agent) and _crawlers.isCrawler(user_agent)


@lru_cache(maxsize=8192)
def device_class(user_agent: str) -> str:
    ua = user_agents.parse(user_agent)
    if ua.is_tablet:
        return "tablet"
    if ua.is_mobile:
        return "mobile"
    return "desktop"


def page_path(url: str) -> str:
    """The page an event belongs to: the URL's path, without query string or fragment."""
    path = urlsplit(url).path or "/"
    return path[:512]


def traffic_source(url: str, referrer: str | None) -> str:
    """`utm_source` if the landing URL has one, else the referring host, else `(direct)`."""
    parts = urlsplit(url)
    utm = parse_qs(parts.query).get("utm_source")
    if utm and utm[0].strip():
        return utm[0].strip()[:128].lower()
    if referrer:
        host = (urlsplit(referrer).hostname or "").removeprefix("www.")
        if host and host != (parts.hostname or "").removeprefix("www."):
            return host[:128]
        if host:
            return "(internal)"
    return "(direct)"


def visitor_secret(config: Config) -> bytes:
    """The secret that keys the daily salts: CTRLENS_SECRET, else the secret file, made on first
    start. Several collectors on one database must share it (docs/deploying.md); losing it only
    breaks the continuity of the current day's visitor ids. A ValueError says what is wrong."""
    if config.secret is not None:
        return _strong(config.secret.strip(), "CTRLENS_SECRET")
    path = config.secret_path()
    try:
        if not path.exists():
            _create_secret_file(path)
        text = path.read_text().strip()
    except OSError as exc:
        raise ValueError(f"cannot use the secret file {path}: {exc.strerror or exc}") from None
    return _strong(text, f"the secret file {path}")


def _strong(secret: str, where: str) -> bytes:
    if len(secret) < MIN_SECRET_LENGTH or len(set(secret)) < 8:
        raise ValueError(
            f"{where} is too weak: use at least {MIN_SECRET_LENGTH} random characters, "
            "for example $(openssl rand -hex 32)"
        )
    return secret.encode()


def _create_secret_file(path: Path) -> None:
    """Written whole to a private temporary file, then linked into place: processes starting
    together never read a half-written secret, and the first one to link wins."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_hex(32) + "\n")
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
    finally:
        temporary.unlink(missing_ok=True)


def day_key(secret: bytes, salt: bytes) -> bytes:
    """The visitor hash's key for a day: without the secret, the stored salt is no key at all."""
    return hmac.new(secret, salt, hashlib.sha256).digest()


class VisitorIds:
    def __init__(self, storage: Storage, secret: bytes | None = None) -> None:
        self.storage = storage
        # Without a configured secret (a test, a one-off tool), ids hold within this object only.
        self.secret = secrets.token_bytes(32) if secret is None else secret
        self._day = -1
        self._key = b""
        # At midnight every request in flight wants the new salt: one of them fetches it.
        self._lock = asyncio.Lock()

    async def visitor(self, site: str, ip: str, user_agent: str, now: float | None = None) -> str:
        day = int((time.time() if now is None else now) // DAY)
        if day != self._day:
            async with self._lock:
                if day != self._day:
                    self._key = day_key(self.secret, bytes.fromhex(await self.storage.salt(day)))
                    self._day = day
        digest = hashlib.blake2b(f"{site}\x00{ip}\x00{user_agent}".encode(), key=self._key, digest_size=12)
        return digest.hexdigest()
