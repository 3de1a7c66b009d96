"""Per-client-IP token buckets for POST /e, and the client IP behind trusted proxies.

The buckets live in this process's memory: with several collector processes each enforces
its own limit (documented in the README). An IPv6 client is limited per /64, the block one
subscriber usually holds, or it could walk through fresh addresses to dodge the limit.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict

MAX_TRACKED_IPS = 100_000


class RateLimiter:
    def __init__(self, rate: float, burst_seconds: float = 4.0) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate * burst_seconds)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, client: str, now: float | None = None) -> float:
        """Take one token; return 0 if allowed, else the seconds until one is available."""
        if not self.enabled:
            return 0.0
        key = bucket_key(client)
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.pop(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.rate)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / self.rate
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > MAX_TRACKED_IPS:
            self._buckets.popitem(last=False)
        return wait

    @staticmethod
    def retry_after(wait: float) -> int:
        return max(1, math.ceil(wait))


def bucket_key(client: str) -> str:
    """The address itself, or its /64 network for IPv6."""
    if ":" not in client:
        return client
    try:
        return str(ipaddress.IPv6Network((client, 64), strict=False).network_address) + "/64"
    except ValueError:
        return client


class ClientAddress:
    """The client's IP: the peer, or X-Forwarded-For when the peer is a trusted proxy."""

    def __init__(self, trusted_proxies: tuple[str, ...]) -> None:
        self.networks = [ipaddress.ip_network(p, strict=False) for p in trusted_proxies]

    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.networks)

    def resolve(self, peer: str, forwarded_for: str | None) -> str:
        if not forwarded_for or not self.networks or not self._trusted(peer):
            return peer
        # Walk from the right: the first address not belonging to a trusted proxy is the client.
        # Entries to its left were written by the client and prove nothing.
        hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
        for hop in reversed(hops):
            try:
                ip = ipaddress.ip_address(hop)
            except ValueError:
                return peer  # not an address: our own proxy would not write that
            if not any(ip in net for net in self.networks):
                return str(ip)
        return hops[0] if hops else peer
