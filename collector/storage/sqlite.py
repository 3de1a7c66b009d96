"""SQLite backend (aiosqlite): one file, WAL, one writer connection and a few readers.

Every write goes through the single writer connection, serialised by a lock, so SQLite never
sees two writers; readers use their own connections and, thanks to WAL, never block it.
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from collector.storage.database import Row, migrations, multi_row_values

PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    # FULL: a 202 promises the events survive a crash or power cut, not only a process kill.
    "PRAGMA synchronous=FULL",
    "PRAGMA busy_timeout=10000",
    "PRAGMA foreign_keys=ON",
    "PRAGMA temp_store=MEMORY",
    "PRAGMA cache_size=-65536",
)


class SQLiteConnection:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return list(await self.conn.execute_fetchall(sql, params))

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        await self.conn.execute(sql, params)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self.conn.executemany(sql, rows)


T = TypeVar("T")


class _ThreadConnection:
    """The writer connection as seen from its own thread: every call completes at once.

    A multi-row INSERT is run as a few statements whose row counts are powers of two: the
    group commit's batches come in every size, and a statement of a new size is parsed and
    planned afresh (as long as running it, for a few hundred rows), where these few sizes
    stay in the connection's statement cache.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        rows = multi_row_values(sql) if sql.startswith("INSERT") else None
        if rows is None:
            return self.conn.execute(sql, params).fetchall()
        return [row for part, values in rows.split(params) for row in self.conn.execute(part, values)]

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        await self.fetch(sql, params)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.conn.executemany(sql, rows)


def _drive(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends (it awaits only `_ThreadConnection`) to its end."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise RuntimeError("a transaction run by atomic() awaited something other than SQLite")


class SQLiteDatabase:
    dialect = "sqlite"
    retryable: tuple[type[BaseException], ...] = ()  # one writer: nothing to collide with

    def __init__(self, path: str, readers: int = 2) -> None:
        self.path = path
        self.url = path
        self._reader_count = readers
        self._writer: SQLiteConnection | None = None
        self._readers: list[SQLiteConnection] = []
        self._next_reader: Iterable[SQLiteConnection] = iter(())
        self._write_lock = asyncio.Lock()
        self._readers_lock = asyncio.Lock()

    async def open(self) -> SQLiteDatabase:
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._writer = SQLiteConnection(await self._connect())
        return self

    async def _connect(self) -> aiosqlite.Connection:
        # Room for every statement of the write path in each of its power-of-two sizes.
        conn = await aiosqlite.connect(self.path, isolation_level=None, cached_statements=512)
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
            self._next_reader = itertools.cycle(readers)
            self._readers = readers

    @property
    def writer(self) -> SQLiteConnection:
        assert self._writer is not None, "database is not open"
        return self._writer

    async def _reader(self) -> SQLiteConnection:
        if not self._readers:
            await self._open_readers()
        return next(iter(self._next_reader))

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return await (await self._reader()).fetch(sql, params)

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

    async def atomic(self, work: Callable[[Any], Awaitable[T]]) -> T:
        """Run `work` in one transaction on the writer's own thread, in a single hop.

        The same as `async with transaction() as tx: await work(tx)`, but each statement no
        longer travels to the database thread and back through a busy event loop: the group
        commit's dozen statements cost one round trip instead of a dozen (bench/ingest.py).
        """

        def run() -> T:
            conn = self.writer.conn._conn  # aiosqlite's sqlite3 connection, on its own thread
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = _drive(work(_ThreadConnection(conn)))  # type: ignore[arg-type]
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

        async with self._write_lock:
            return await self.writer.conn._execute(run)  # type: ignore[no-any-return]

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
        for conn in [*self._readers, *([self._writer] if self._writer else [])]:
            await conn.conn.close()
        self._readers = []
        self._writer = None
