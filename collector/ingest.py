"""POST /e: check, validate, enrich, hand to the writer, answer 202 once committed."""

from __future__ import annotations

import logging
import time
from typing import Any

import msgspec
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from ctrlens.collector.clock import Clock
from ctrlens.collector.config import Config
from ctrlens.collector.errors import (
    CtrlensError,
    InvalidRequest,
    OriginNotAllowed,
    Overloaded,
    PayloadTooLarge,
    RateLimited,
    UnknownSite,
    UnsupportedMediaType,
    error_response,
)
from ctrlens.collector.events import (
    DECODE_ERRORS,
    DEFAULT_KIND,
    MAX_BODY_BYTES,
    MAX_EVENTS,
    MAX_URL,
    Batch,
    Event,
    StoredEvent,
    attribution_decoder,
    conversion_id,
    decode_batch,
)
from ctrlens.collector.metrics import Metrics
from ctrlens.collector.privacy import DAY, VisitorIds, device_class, is_bot, page_path, traffic_source
from ctrlens.collector.ratelimit import ClientAddress, RateLimiter
from ctrlens.collector.storage import Rejection, Site, Storage
from ctrlens.collector.storage.names import NameCaps
from ctrlens.collector.writer import Writer

log = logging.getLogger("ctrlens.ingest")

CONTENT_TYPES = ("application/json", "text/plain")
SITE_CACHE_SECONDS = 5.0
SAMPLE_BYTES = 2048
# Rejected bodies kept as samples, per site per minute (docs/design.md §6): enough to show what is
# wrong, while a flood of bad bodies costs no more than counting them.
SAMPLES_PER_MINUTE = 10
# The most events the snippet's offline store holds (snippet/src/ctr.js), so the most one envelope
# can honestly report as `dropped`; a larger claim is cut to it and counted as one invalid event.
MAX_DROPPED = 1000

_encode = msgspec.json.Encoder().encode


class Collector:
    """Everything POST /e needs, built once per process."""

    def __init__(
        self, config: Config, storage: Storage, writer: Writer, metrics: Metrics, secret: bytes
    ) -> None:
        self.config = config
        self.storage = storage
        self.writer = writer
        self.metrics = metrics
        # Both id sources under the one secret kept outside the database (docs/design.md §5).
        self.visitors = VisitorIds(storage, secret)
        # Yesterday's ids, for a conversion whose click came before midnight (docs/design.md §3).
        self.previous_visitors = VisitorIds(storage, secret)
        self.clock = Clock(config.clock_file)
        self.limiter = RateLimiter(config.rate_limit)
        self.addresses = ClientAddress(config.trusted_proxies)
        self._sites: dict[str, tuple[float, Site | None]] = {}
        self.samples = SampleBudget(SAMPLES_PER_MINUTE)

    async def site(self, key: str) -> Site | None:
        """Sites are cached briefly so a busy collector does not read them per request."""
        now = time.monotonic()
        cached = self._sites.get(key)
        if cached is not None and now - cached[0] < SITE_CACHE_SECONDS:
            return cached[1]
        site = await self.storage.get_site(key)
        if len(self._sites) > 10_000:
            self._sites.clear()
        self._sites[key] = (now, site)
        return site

    def forget_site(self, key: str) -> None:
        self._sites.pop(key, None)

    async def handle(self, request: Request) -> Response:
        origin = request.headers.get("origin")
        cors = (
            {
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Expose-Headers": "Retry-After",
                "Vary": "Origin",
            }
            if origin
            else {}
        )
        try:
            response = await self._collect(request, origin)
        except CtrlensError as exc:
            # With CORS headers even for a disallowed origin: the browser then shows the reason
            # instead of a CORS error, and the snippet sees a 403 and drops those events for good
            # rather than resending them from every page (docs/design.md §3).
            response = error_response(exc)
            response.headers.update(cors)
        except Exception:
            # A database that cannot be read (sites, salts) or a bug: never a bare 500, and a
            # 503 makes the snippet keep the events and retry them later.
            log.exception("POST /e failed")
            response = error_response(Overloaded("the collector failed; retry shortly", retry_after=2))
            response.headers.update(cors)
        else:
            response.headers.update(cors)
        self.metrics.requests[response.status_code] += 1
        return response

    async def _collect(self, request: Request, origin: str | None) -> Response:
        client = self.addresses.resolve(
            request.client.host if request.client else "", request.headers.get("x-forwarded-for")
        )
        wait = self.limiter.take(client)
        if wait:
            await self._count_rate_limited(request)
            raise RateLimited(
                "too many requests from this address; retry later", RateLimiter.retry_after(wait)
            )
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type not in CONTENT_TYPES:
            self._reject_unattributed("unsupported_media_type")
            raise UnsupportedMediaType(
                "Content-Type must be application/json or text/plain (JSON inside)"
            )
        try:
            body = await _read_body(request)
        except PayloadTooLarge:
            self._reject_unattributed("too_large")
            raise
        try:
            batch = decode_batch(body)
        except msgspec.ValidationError as exc:
            self._reject_unattributed("malformed")
            raise InvalidRequest(f"invalid envelope: {exc}") from None
        except UnicodeDecodeError:
            self._reject_unattributed("malformed")
            raise InvalidRequest("malformed JSON: the body is not valid UTF-8") from None
        except RecursionError:
            self._reject_unattributed("malformed")
            raise InvalidRequest("malformed JSON: nested too deeply") from None
        except msgspec.DecodeError as exc:
            self._reject_unattributed("malformed")
            raise InvalidRequest(f"malformed JSON: {exc}") from None
        envelope, sent = batch.envelope, len(batch.events)
        if sent > MAX_EVENTS:
            await self._reject(envelope.site, "too_many_events", sent, body)
            raise PayloadTooLarge(f"a batch holds at most {MAX_EVENTS} events")
        if not sent:
            raise InvalidRequest("events must hold at least one event")

        site = await self.site(envelope.site)
        if site is None:
            self._reject_unattributed("unknown_site", sent)
            raise UnknownSite(f"unknown site {envelope.site!r}")
        if not origin or not site.allows_origin(origin):
            await self._reject(site.key, "origin", sent, body)
            if not origin:
                raise OriginNotAllowed(
                    "missing Origin header; send one of the site's allowed origins"
                )
            raise OriginNotAllowed(f"origin {origin!r} is not allowed for site {site.key!r}")

        user_agent = request.headers.get("user-agent", "")[:512]
        dropped = None
        if site.settings.get("respect_dnt") and _opted_out(request):
            dropped = "opted_out"
        elif is_bot(user_agent) and not site.settings.get("allow_bots", False):
            dropped = "bot"
        if dropped:
            # Counted, never sampled: a payload from someone who opted out is not kept at all.
            rejected: list[dict[str, Any]] = [{"index": i, "reason": dropped} for i in range(sent)]
            await self._reject(site.key, dropped, sent, None)
            return _accepted(0, 0, rejected)

        now_ms = self.clock.now_ms()
        events, indices, rejected = await self._enrich(site, batch, client, user_agent, now_ms)
        rejections = []
        if rejected:
            rejections.append(Rejection(site.key, "invalid", len(rejected), self._sample(site.key, body)))
            self.metrics.rejected["invalid"] += len(rejected)
        if envelope.dropped:
            dropped_events = min(envelope.dropped, MAX_DROPPED)
            if envelope.dropped > MAX_DROPPED:
                rejections.append(Rejection(site.key, "invalid", 1))
                self.metrics.rejected["invalid"] += 1
            rejections.append(Rejection(site.key, "client_queue_full", dropped_events))
            self.metrics.rejected["client_queue_full"] += dropped_events
        result = await self.writer.submit(events, rejections, {site.key: NameCaps.of(site.settings)})
        self.metrics.accepted += result.accepted
        self.metrics.duplicates += result.duplicates
        if result.capped:
            # Counted for the site by the commit that decided it (storage/names.py).
            self.metrics.rejected["cardinality"] += len(result.capped)
            capped: list[dict[str, Any]] = [
                {"index": indices[position], "reason": reason} for position, reason in result.capped
            ]
            rejected = sorted([*rejected, *capped], key=lambda r: int(r["index"]))
        return _accepted(result.accepted, result.duplicates, rejected)

    async def _enrich(
        self, site: Site, batch: Batch, client: str, user_agent: str, now_ms: int
    ) -> tuple[list[StoredEvent], list[int], list[dict[str, Any]]]:
        """The batch's valid events enriched, each one's index in the batch, and the rejected."""
        envelope = batch.envelope
        page = page_path(envelope.url)
        source = traffic_source(envelope.url, envelope.referrer)
        device = device_class(user_agent)
        visitor = await self.visitors.visitor(site.key, client, user_agent, now_ms / 1000)
        # Yesterday's id, for attributing a conversion to a click before midnight; the two ids
        # are never stored together, so the database alone cannot link the days (§5).
        previous_visitor = await self.previous_visitors.visitor(
            site.key, client, user_agent, now_ms / 1000 - DAY
        )
        events: list[StoredEvent] = []
        indices: list[int] = []
        rejected: list[dict[str, Any]] = []
        for index, event in enumerate(batch.events):
            if not isinstance(event, Event):
                rejected.append({"index": index, "reason": event})
                continue
            event_id, goal = event.id, ""
            if event.type == "conversion":
                goal = event.goal or ""
                event_id = conversion_id(envelope.pageview, goal)
            indices.append(index)
            events.append(
                StoredEvent(
                    site=site.key,
                    event_id=event_id,
                    pageview=envelope.pageview,
                    type=event.type,
                    element=event.element or "",
                    kind=event.kind or DEFAULT_KIND,
                    variant=event.variant or envelope.variant or "",
                    account=envelope.account or "",
                    page=page,
                    url=envelope.url[:MAX_URL],
                    referrer=(envelope.referrer or "")[:MAX_URL],
                    source=source,
                    device=device,
                    visitor=visitor,
                    via_click=event.via_click,
                    ts_client=event.ts,
                    ts_server=now_ms,
                    present=tuple(event.present),
                    goal=goal,
                    value=event.value,
                    previous_visitor=previous_visitor,
                )
            )
        return events, indices, rejected

    async def _count_rate_limited(self, request: Request) -> None:
        """Count a rate-limited request against its site, at the cost of a cheap look.

        The body is read only when it is small enough to be a real batch, decoded only for
        `site` and the number of events, and the site is looked up in the cache alone (no
        database read); the count is committed with the next batch, nobody waits for it.
        """
        n, key = 1, None
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) <= MAX_BODY_BYTES:
            try:
                body = await _read_body(request)
                attribution = attribution_decoder.decode(body)
                n, key = max(1, len(attribution.events)), attribution.site
            except (CtrlensError, ClientDisconnect, msgspec.ValidationError, *DECODE_ERRORS):
                pass
        self.metrics.rejected["rate_limited"] += n
        cached = self._sites.get(key) if key else None
        if cached is not None and cached[1] is not None:
            self.writer.count(cached[1].key, "rate_limited", n)

    def _reject_unattributed(self, reason: str, count: int = 1) -> None:
        """Requests that name no known site are counted in /metrics only."""
        self.metrics.rejected[reason] += count

    async def _reject(self, site: str, reason: str, count: int, body: bytes | None) -> None:
        self.metrics.rejected[reason] += count
        if await self.site(site) is None:
            return
        # Awaited like events: once the answer is out, the count is visible to the site owner.
        sample = self._sample(site, body) if body else None
        await self.writer.submit([], [Rejection(site, reason, count, sample)])

    def _sample(self, site: str, body: bytes) -> str | None:
        return _sample(body) if self.samples.take(site, time.monotonic()) else None


class SampleBudget:
    """At most `per_minute` rejected-body samples per site per minute; the counts are always kept."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._minute = -1
        self._taken: dict[str, int] = {}

    def take(self, site: str, now: float) -> bool:
        minute = int(now // 60)
        if minute != self._minute:
            self._minute, self._taken = minute, {}
        taken = self._taken.get(site, 0)
        if taken >= self.per_minute:
            return False
        self._taken[site] = taken + 1
        return True


def _opted_out(request: Request) -> bool:
    """Do Not Track or Global Privacy Control, as the browser sends them on every request."""
    headers = request.headers
    return headers.get("dnt", "").strip() == "1" or headers.get("sec-gpc", "").strip() == "1"


async def _read_body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"body over {MAX_BODY_BYTES} bytes")
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                raise PayloadTooLarge(f"body over {MAX_BODY_BYTES} bytes")
    except ClientDisconnect:
        raise InvalidRequest("the client went away before sending the whole body") from None
    return bytes(body)


def _sample(body: bytes) -> str:
    return body[:SAMPLE_BYTES].decode("utf-8", "replace")


def _accepted(accepted: int, duplicates: int, rejected: list[dict[str, Any]]) -> Response:
    return Response(
        _encode({"accepted": accepted, "duplicates": duplicates, "rejected": rejected}),
        status_code=202,
        media_type="application/json",
    )


async def preflight(request: Request) -> Response:
    """CORS preflight for application/json senders; the POST itself checks the site's origins."""
    origin = request.headers.get("origin", "*")
    return Response(
        status_code=204,
        headers={
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": "Content-Type",
            "Access-Control-Max-Age": "86400",
            "Vary": "Origin",
        },
    )

