"""The group-commit writer: one per process, one transaction per batch window.

Requests hand their events to `Writer.submit` and wait; the writer takes everything queued,
waits a few milliseconds for more, commits raw events and rollups in one transaction and only
then wakes the requests, so a 202 always means "committed". The queue is bounded: past
`queue_limit` waiting events, `submit` raises `Overloaded` and the snippet retries later.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from collections import deque
from dataclasses import dataclass

from collector.errors import Overloaded
from collector.events import StoredEvent
from collector.storage import Rejection, Storage, WriteBatch

log = logging.getLogger("ctrlens.writer")

# Called after each commit with (events in batch, events inserted, seconds, queue depth).
CommitObserver = Callable[[int, int, float, int], None]

MAX_BATCH_EVENTS = 5_000


@dataclass
class WriteResult:
    accepted: int
    duplicates: int


@dataclass
class _Request:
    events: list[StoredEvent]
    rejections: list[Rejection]
    done: asyncio.Future[WriteResult]


class Writer:
    def __init__(
        self,
        storage: Storage,
        window_ms: float = 2.0,
        queue_limit: int = 20_000,
        on_commit: CommitObserver | None = None,
    ) -> None:
        self.storage = storage
        self.window = window_ms / 1000
        self.queue_limit = queue_limit
        self.on_commit = on_commit
        self._queue: deque[_Request] = deque()
        self._queued_events = 0
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def depth(self) -> int:
        """Events waiting to be committed."""
        return self._queued_events

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="ctrlens-writer")

    async def submit(
        self, events: list[StoredEvent], rejections: list[Rejection] | None = None
    ) -> WriteResult:
        if self._closing:
            raise Overloaded("the collector is shutting down; retry shortly", retry_after=2)
        if events and self._queued_events + len(events) > self.queue_limit:
            raise Overloaded("the collector is saturated; retry shortly", retry_after=1)
        done: asyncio.Future[WriteResult] = asyncio.get_running_loop().create_future()
        self._queue.append(_Request(events, rejections or [], done))
        self._queued_events += len(events)
        self._wakeup.set()
        # shield: a client that disconnects must not cancel a commit other requests share.
        return await asyncio.shield(done)

    async def close(self) -> None:
        """Stop taking new events, commit everything queued, then stop."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            if not self._queue:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if self.window and not self._closing and self._queued_events < MAX_BATCH_EVENTS:
                await asyncio.sleep(self.window)
            taken, count = [], 0
            while self._queue and (count < MAX_BATCH_EVENTS or not taken):
                request = self._queue.popleft()
                taken.append(request)
                count += len(request.events)
            self._queued_events -= count
            await self._commit(taken)

    async def _commit(self, requests: list[_Request]) -> None:
        batch = WriteBatch()
        seen: set[tuple[str, str]] = set()
        for request in requests:
            for e in request.events:
                # The first copy of an id in a batch is the one stored; later copies are duplicates.
                if (e.site, e.event_id) not in seen:
                    seen.add((e.site, e.event_id))
                    batch.events.append(e)
            batch.rejections.extend(request.rejections)
        started = time.perf_counter()
        try:
            inserted = await self.storage.write(batch)
        except Exception as exc:  # the database failed: every waiting request learns it
            log.exception("commit of %d events failed", len(batch.events))
            for request in requests:
                if not request.done.done():
                    request.done.set_exception(
                        Overloaded(f"storage unavailable ({type(exc).__name__}); retry shortly")
                    )
            return
        elapsed = time.perf_counter() - started
        if self.on_commit is not None:
            self.on_commit(len(batch.events), len(inserted), elapsed, self.depth)
        for request in requests:
            accepted = 0
            for e in request.events:
                if (e.site, e.event_id) in inserted:
                    inserted.discard((e.site, e.event_id))
                    accepted += 1
            result = WriteResult(accepted, len(request.events) - accepted)
            if not request.done.done():
                request.done.set_result(result)


