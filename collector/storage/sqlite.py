"""SQLite backend: one file, WAL, a few reader connections and two for writing.

Writes are serialised by one lock, so SQLite never sees two writers of this process; readers
use their own connections and, thanks to WAL, never block them. The group commit's batches
go through a connection of their own (`atomic`); every other write through aiosqlite's. Both
write connections run the bulk operations as sqlite_bulk.py builds them.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Collection, Coroutine, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

import aiosqlite

from ctrlens.collector.storage.database import Connection, Row, migrations
from ctrlens.collector.storage.sqlite_bulk import BulkStatements

PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    # FULL: a 202 promises the events survive a crash or power cut, not only a process kill.
    "PRAGMA synchronous=FULL",
    "PRAGMA busy_timeout=10000",
    "PRAGMA foreign_keys=ON",
    "PRAGMA temp_store=MEMORY",
    "PRAGMA cache_size=-65536",
)
# Retention: rows deleted per transaction.
RETENTION_CHUNK = 10_000

T = TypeVar("T")


class SQLiteConnection(BulkStatements):
    """An aiosqlite connection: every statement runs on its thread."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return [tuple(row) for row in await self.conn.execute_fetchall(sql, params)]

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        await self.conn.execute(sql, params)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self.conn.executemany(sql, rows)


class _BatchConnection(BulkStatements):
    """A plain sqlite3 connection behind the async interface: every call completes at once."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return self.conn.execute(sql, params).fetchall()

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.conn.execute(sql, params)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.conn.executemany(sql, rows)


def _drive(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (it awaits only `_BatchConnection`) to its end."""
    try:
        coro.send(None)
    except StopIteration as done:
        return cast(T, done.value)
    coro.close()
    raise RuntimeError("a transaction run by atomic() awaited something other than SQLite")


def _begin_waiting(conn: sqlite3.Connection) -> None:
    """BEGIN IMMEDIATE that waits (off the event loop) for another process's write lock."""
    conn.execute("PRAGMA busy_timeout=10000")
    try:
        conn.execute("BEGIN IMMEDIATE")
    finally:
        conn.execute("PRAGMA busy_timeout=0")


class SQLiteDatabase:
    dialect = "sqlite"

    def __init__(self, path: str, readers: int = 2) -> None:
        self.path = path
        self.url = path
        self._reader_count = readers
        self._writer: SQLiteConnection | None = None
        self._readers: list[SQLiteConnection] = []
        self._busy: dict[SQLiteConnection, int] = {}
        self._write_lock = asyncio.Lock()
        self._readers_lock = asyncio.Lock()
        self._batches: sqlite3.Connection | None = None
        # The one thread that waits for the batch connection: its commits' fsync, and a
        # write lock held by another process.
        self._waiter = ThreadPoolExecutor(1, thread_name_prefix="ctrlens-sqlite-commit")

    async def open(self) -> SQLiteDatabase:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._writer = SQLiteConnection(await self._connect())
        return self

    def _batch_connection(self) -> sqlite3.Connection:
        if self._batches is None:
            # Room for every statement of the write path in each of its power-of-two sizes.
            conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, cached_statements=512
            )
            for pragma in PRAGMAS:
                conn.execute(pragma)
            # Taking the write lock must never make the event loop wait: see `atomic`.
            conn.execute("PRAGMA busy_timeout=0")
            self._batches = conn
        return self._batches

    async def _connect(self) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        for pragma in PRAGMAS:
            await conn.execute(pragma)
        return conn

    async def _open_readers(self) -> None:
        async with self._readers_lock:
            if self._readers:  # another request opened them while this one waited
                return
            readers = []
            for _ in range(self._reader_count):
                conn = await self._connect()
                await conn.execute("PRAGMA query_only=ON")
                readers.append(SQLiteConnection(conn))
            # Published only once complete: concurrent first requests must not see a half-made list.
            self._busy = dict.fromkeys(readers, 0)
            self._readers = readers

    @property
    def writer(self) -> SQLiteConnection:
        assert self._writer is not None, "database is not open"
        return self._writer

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        if not self._readers:
            await self._open_readers()
        # The reader with the fewest statements in flight: a page's reads run side by side
        # (a long one does not hold a short one back behind it, as taking turns did).
        reader = min(self._readers, key=self._busy.__getitem__)
        self._busy[reader] += 1
        try:
            return await reader.fetch(sql, params)
        finally:
            self._busy[reader] -= 1

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        async with self.transaction() as tx:
            await tx.execute(sql, params)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        async with self.transaction() as tx:
            await tx.executemany(sql, rows)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SQLiteConnection]:
        async with self._write_lock:
            await self.writer.execute("BEGIN IMMEDIATE")
            try:
                yield self.writer
            except BaseException:
                await self.writer.execute("ROLLBACK")
                raise
            await self.writer.execute("COMMIT")

    def trace_batches(self, callback: Callable[[str], object] | None) -> None:
        """Call `callback` with every statement the group commit runs (None: stop): for
        checking its query plans (tests/test_storage.py) or watching it work."""
        self._batch_connection().set_trace_callback(callback)

    async def atomic(self, work: Callable[[Connection], Coroutine[Any, Any, T]]) -> T:
        """Run `work` (the group commit's batch) in one transaction on the batch connection.

        The statements run right here, on the event loop, and only what can wait goes to a
        thread: the COMMIT and its fsync, and taking the write lock while another process holds
        it. Sending the whole transaction to a database thread, as aiosqlite does, cost each
        batch a wait of about 2 ms for that thread to get the GIL back from the busy event loop,
        a quarter of a batch's time under load (bench/ingest.py), and the statements hold the
        GIL for most of their run anyway.
        """
        loop = asyncio.get_running_loop()
        async with self._write_lock:
            conn = self._batch_connection()
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError:  # locked by another process (a CLI command, say)
                await loop.run_in_executor(self._waiter, _begin_waiting, conn)
            try:
                result = _drive(work(_BatchConnection(conn)))
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            commit = loop.run_in_executor(self._waiter, conn.execute, "COMMIT")
            try:
                await asyncio.shield(commit)
            except asyncio.CancelledError:
                # The lock must not be let go while the thread still commits on this connection.
                await asyncio.wait([commit])
                raise
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return result

    async def prepare_event_days(self, days: Collection[int]) -> None:
        """Raw events of any day go into the one `events` table: nothing to prepare."""

    async def delete_events_before(self, ts_ms: int) -> int:
        return await self.delete_below("events", "ts_server", ts_ms)

    async def delete_below(self, table: str, column: str, bound: int) -> int:
        """SQLite has one writer: a transaction per RETENTION_CHUNK rows lets the group commit
        in between, where one transaction for a first pass over months of events would hold
        up every batch for as long as it takes."""
        deleted = 0
        # A table WITHOUT ROWID is reached by its primary key instead.
        info = await self.writer.fetch(f"PRAGMA table_info({table})")
        key = [str(row[1]) for row in sorted(info, key=lambda row: row[5]) if row[5]]
        without_rowid = bool(await self.writer.fetch(
            "SELECT 1 FROM sqlite_master WHERE name = ? AND sql LIKE '%WITHOUT ROWID%'", (table,)
        ))
        row = f"({', '.join(key)})" if without_rowid else "rowid"
        while True:
            async with self.transaction() as tx:
                chunk = len(await tx.fetch(
                    f"DELETE FROM {table} WHERE {row} IN "
                    f"(SELECT {row.strip('()')} FROM {table} WHERE {column} < ? LIMIT ?) RETURNING 1",
                    (bound, RETENTION_CHUNK),
                ))
            deleted += chunk
            if chunk < RETENTION_CHUNK:
                return deleted

    async def schema_version(self) -> int:
        rows = await self.writer.fetch("PRAGMA user_version")
        return int(rows[0][0])

    async def migrate(self, upto: int | None = None) -> int:
        version = await self.schema_version()
        for target, sql in migrations(self.dialect):
            if target <= version or (upto is not None and target > upto):
                continue
            async with self._write_lock:
                # executescript commits on its own; wrap the script and the version bump in one
                # transaction so a crash mid-migration leaves the old schema intact.
                await self.writer.conn.executescript(
                    f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version={target};\nCOMMIT;"
                )
            version = target
        return version

    async def close(self) -> None:
        if self._batches is not None:
            self._batches.close()
            self._batches = None
        self._waiter.shutdown()
        for conn in [*self._readers, *([self._writer] if self._writer else [])]:
            await conn.conn.close()
        self._readers = []
        self._writer = None
