"""The group-commit writer: one per process, one transaction per batch window.

Requests hand their events to `Writer.submit` and wait; the writer takes everything queued,
waits a few milliseconds for more, commits raw events and rollups in one transaction and only
then wakes the requests, so a 202 always means "committed". The queue is bounded: past
`queue_limit` waiting events, `submit` raises `Overloaded` and the snippet retries later.

A failed commit fails only the requests it held (503, the snippet keeps the events and
retries); a batch of several requests is then committed again request by request, so one
request whose events the database refuses cannot keep failing everybody else's.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field

from ctrlens.collector.errors import Overloaded
from ctrlens.collector.events import StoredEvent
from ctrlens.collector.storage import Rejection, Storage, WriteBatch
from ctrlens.collector.storage.names import NameCaps

log = logging.getLogger("ctrlens.writer")

# Called after each commit with (events in batch, events inserted, seconds).
CommitObserver = Callable[[int, int, float], None]
# Called after each failed commit with the exception.
FailureObserver = Callable[[BaseException], None]

MAX_BATCH_EVENTS = 5_000
COUNTS_RETRY_SECONDS = 1.0


@dataclass
class WriteResult:
    accepted: int
    duplicates: int
    # Events turned away by their site's cap on new names: (position in the events submitted, reason).
    capped: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class _Request:
    events: list[StoredEvent]
    rejections: list[Rejection]
    done: asyncio.Future[WriteResult]
    caps: dict[str, NameCaps] = field(default_factory=dict)


class Writer:
    def __init__(
        self,
        storage: Storage,
        window_ms: float = 2.0,
        queue_limit: int = 20_000,
        on_commit: CommitObserver | None = None,
        on_failure: FailureObserver | None = None,
    ) -> None:
        self.storage = storage
        self.window = window_ms / 1000
        self.queue_limit = queue_limit
        self.on_commit = on_commit
        self.on_failure = on_failure
        self._queue: deque[_Request] = deque()
        self._queued_events = 0
        # Counts nobody waits for (rate-limited requests), folded into the next commit.
        self._counts: dict[tuple[str, str], int] = defaultdict(int)
        self._retry_counts_at = 0.0
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def depth(self) -> int:
        """Events waiting to be committed."""
        return self._queued_events

    @property
    def alive(self) -> bool:
        return self._task is not None and not self._task.done() and not self._closing

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="ctrlens-writer")

    async def submit(
        self,
        events: list[StoredEvent],
        rejections: list[Rejection] | None = None,
        caps: dict[str, NameCaps] | None = None,
    ) -> WriteResult:
        """Queue events (and rejection counts) and wait until they are committed; `caps` are the
        caps on new names of the events' sites, checked in the commit (storage/names.py)."""
        if self._closing or self._task is None or self._task.done():
            raise Overloaded("the collector is shutting down; retry shortly", retry_after=2)
        if events and self._queued_events + len(events) > self.queue_limit:
            raise Overloaded("the collector is saturated; retry shortly", retry_after=1)
        done: asyncio.Future[WriteResult] = asyncio.get_running_loop().create_future()
        self._queue.append(_Request(events, rejections or [], done, caps or {}))
        self._queued_events += len(events)
        self._wakeup.set()
        # shield: a client that disconnects must not cancel a commit other requests share.
        return await asyncio.shield(done)

    def count(self, site: str, reason: str, n: int = 1) -> None:
        """Count dropped events without waiting: committed with the next batch.

        For rejections whose senders must not cost a transaction each (a flood of
        rate-limited requests); the dictionary is bounded by sites x reasons.
        """
        if self._closing:
            return
        self._counts[(site, reason)] += n
        self._wakeup.set()

    async def close(self) -> None:
        """Stop taking new events, commit everything queued, then stop."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _run(self) -> None:
        idle = True
        while True:
            if not self._queue and (not self._counts or self._retry_counts_at > time.monotonic()):
                if self._closing:
                    return
                self._wakeup.clear()
                timeout = max(0.0, self._retry_counts_at - time.monotonic()) if self._counts else None
                try:
                    await asyncio.wait_for(self._wakeup.wait(), timeout)
                except TimeoutError:
                    self._retry_counts_at = 0.0
                idle = True
                continue
            # The window gathers requests that arrive together at an idle writer. Under load
            # the requests that came in during the last commit are the batch: go at once.
            if idle and self.window and not self._closing and self._queued_events < MAX_BATCH_EVENTS:
                await asyncio.sleep(self.window)
            idle = False
            taken: list[_Request] = []
            count = 0
            while self._queue and (count < MAX_BATCH_EVENTS or not taken):
                request = self._queue.popleft()
                taken.append(request)
                count += len(request.events)
            self._queued_events -= count
            counts = [Rejection(site, reason, n) for (site, reason), n in self._counts.items()]
            self._counts.clear()
            try:
                await self._commit(taken, counts)
            except Exception as exc:  # never let the writer die: later requests would hang
                log.exception("writer failed")
                _fail(taken, exc)

    async def _commit(self, requests: list[_Request], counts: list[Rejection]) -> None:
        try:
            await self._write(requests, counts)
        except Exception as exc:
            if counts:  # kept for a later commit, without spinning while the database is down
                for c in counts:
                    self._counts[(c.site, c.reason)] += c.count
                self._retry_counts_at = time.monotonic() + COUNTS_RETRY_SECONDS
            if len(requests) <= 1:
                _fail(requests, exc)
                return
            log.warning("commit of %d requests failed; committing them one by one", len(requests))
            for request in requests:
                try:
                    await self._write([request], [])
                except Exception as exc:
                    _fail([request], exc)

    async def _write(self, requests: list[_Request], counts: list[Rejection]) -> None:
        batch = WriteBatch(rejections=list(counts))
        seen: set[tuple[str, str]] = set()
        for request in requests:
            for e in request.events:
                # The first copy of an id in a batch is the one stored; later copies are duplicates.
                key = (e.site, e.event_id)
                if key not in seen:
                    seen.add(key)
                    batch.events.append(e)
            batch.rejections.extend(request.rejections)
            batch.caps.update(request.caps)
        if not batch.events and not batch.rejections:
            _resolve(requests, set(), {})
            return
        started = time.perf_counter()
        try:
            inserted = await self.storage.write(batch)
        except Exception as exc:
            log.error("commit of %d events failed: %r", len(batch.events), exc)
            if self.on_failure is not None:
                self.on_failure(exc)
            raise
        elapsed = time.perf_counter() - started
        if self.on_commit is not None:
            self.on_commit(len(batch.events), len(inserted), elapsed)
        _resolve(requests, inserted, batch.capped)


def _resolve(
    requests: list[_Request], inserted: set[tuple[str, str]], capped: dict[tuple[str, str], str]
) -> None:
    for request in requests:
        accepted = 0
        turned_away: list[tuple[int, str]] = []
        for position, e in enumerate(request.events):
            key = (e.site, e.event_id)
            if key in inserted:
                inserted.discard(key)
                accepted += 1
            elif key in capped:
                turned_away.append((position, capped[key]))
        if not request.done.done():
            duplicates = len(request.events) - accepted - len(turned_away)
            request.done.set_result(WriteResult(accepted, duplicates, turned_away))


def _fail(requests: list[_Request], exc: BaseException) -> None:
    """The database refused: every waiting request answers 503 and its sender retries."""
    for request in requests:
        if not request.done.done():
            request.done.set_exception(
                Overloaded(f"storage unavailable ({type(exc).__name__}); retry shortly", retry_after=2)
            )
