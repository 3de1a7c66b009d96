"""A reference point for bench/ingest.py: the least a durable collector can do in Python.

A bare ASGI app (no Starlette) that decodes each POST /e body as ctrlens does (`decode_batch`) and hands
the events to a group commit that inserts them into one SQLite table (WITHOUT ROWID, keyed by
event id, no other index) with `synchronous=FULL`, answering 202 once they are committed. No
validation beyond the types, no site or origin check, no visitor id, no ledgers, no rollups:
none of the rest of what ctrlens must do. Its requests/s are the ceiling of any collector written this
way on this machine, and so say what a target relative to the bare endpoint can ask for.

    CTRLENS_FLOOR_DB=/tmp/floor.db uvicorn bench.floor:app
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import msgspec

from ctrlens.collector.events import Event, decode_batch

_answer = msgspec.json.Encoder().encode
COLUMNS = 9
CHUNK = 256


class GroupCommit:
    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        for pragma in ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL"):
            self.conn.execute(pragma)
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS events (site TEXT, event_id TEXT, pageview TEXT, type TEXT, "
            "element TEXT, kind TEXT, variant TEXT, url TEXT, ts_server INTEGER, "
            "PRIMARY KEY (site, event_id)) WITHOUT ROWID"
        )
        self.queue: list[tuple[list[tuple[Any, ...]], asyncio.Future[None]]] = []
        self.wakeup = asyncio.Event()
        self.fsync = ThreadPoolExecutor(1)
        self.task = asyncio.create_task(self.run())

    async def submit(self, rows: list[tuple[Any, ...]]) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.queue.append((rows, done))
        self.wakeup.set()
        await done

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self.wakeup.wait()
            self.wakeup.clear()
            taken, self.queue = self.queue, []
            if not taken:
                continue
            rows = [row for batch, _ in taken for row in batch]
            self.conn.execute("BEGIN IMMEDIATE")
            for start in range(0, len(rows), CHUNK):
                part = rows[start : start + CHUNK]
                one = "(" + ",".join("?" * COLUMNS) + ")"
                self.conn.execute(
                    f"INSERT INTO events VALUES {','.join([one] * len(part))} ON CONFLICT DO NOTHING",
                    [value for row in part for value in row],
                )
            await loop.run_in_executor(self.fsync, self.conn.execute, "COMMIT")
            for _, done in taken:
                done.set_result(None)


_writer: GroupCommit | None = None


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    global _writer
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                _writer = GroupCommit(os.environ.get("CTRLENS_FLOOR_DB", "floor.db"))
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    batch = decode_batch(body)
    envelope, now = batch.envelope, int(time.time() * 1000)
    rows = [
        (
            envelope.site,
            e.id,
            envelope.pageview,
            e.type,
            e.element,
            e.kind or "banner",
            envelope.variant or "",
            envelope.url,
            now,
        )
        for e in batch.events
        if isinstance(e, Event)
    ]
    assert _writer is not None
    await _writer.submit(rows)
    answer = _answer({"accepted": len(rows), "duplicates": 0, "rejected": []})
    await send(
        {
            "type": "http.response.start",
            "status": 202,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(answer)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": answer})
