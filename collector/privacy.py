"""Who sent an event, without knowing who they are: visitor ids, bots, device class, source.

Visitor id = keyed BLAKE2b of (site, IP, user agent) under a random daily salt (docs/design.md §5).
Salts live in the database, so every collector process computes the same id; the salt of a
day is deleted two days later, after which no id can be recomputed or linked to another day.
The IP address is only ever an input to the hash; it is never stored or logged.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from functools import lru_cache
from urllib.parse import parse_qs, urlsplit

import user_agents
from crawlerdetect import CrawlerDetect

from ctrlens.collector.storage import Storage

DAY = 86400

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


class VisitorIds:
    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._day = -1
        self._salt = b""
        # At midnight every request in flight wants the new salt: one of them fetches it.
        self._lock = asyncio.Lock()

    async def visitor(self, site: str, ip: str, user_agent: str, now: float | None = None) -> str:
        day = int((time.time() if now is None else now) // DAY)
        if day != self._day:
            async with self._lock:
                if day != self._day:
                    self._salt = bytes.fromhex(await self.storage.salt(day))
                    self._day = day
        digest = hashlib.blake2b(
            f"{site}\x00{ip}\x00{user_agent}".encode(), key=self._salt, digest_size=12
        )
        return digest.hexdigest()
