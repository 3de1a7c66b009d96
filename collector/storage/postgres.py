"""PostgreSQL backend (asyncpg): a pool of connections shared by reads and write transactions.

Many collector processes, on many machines, write to one PostgreSQL, so nothing here assumes a
single writer: every "first time" decision is made by the database (`insert_new`, `set_flags`),
a transaction the server aborts for a deadlock or a serialization conflict is run again from
the start (`atomic`), and migrations run under an advisory lock so collectors that start
together apply each one exactly once. Raw events live in day partitions (partitions.py).

Plain SQL comes with `?` placeholders, which become `$1..$n` here. The bulk operations send one
array per column through `unnest`: one statement, prepared once, for every batch size.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import AsyncIterator, Callable, Collection, Coroutine, Iterable, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal
from functools import lru_cache
from typing import Any, TypeVar

import asyncpg

from ctrlens.collector.storage.database import Connection, Row, migrations
from ctrlens.collector.storage.partitions import DayPartitions, insert_new_events

T = TypeVar("T")

# pg_advisory_lock key for migrations: "ctrlens" in ASCII.
MIGRATION_LOCK = 0x6374726C656E73
# Attempts at a transaction the server aborted because of another one (SQLSTATE class 40:
# deadlock, serialization failure): safe and right to run again from the start.
ATTEMPTS = 5
RETRYABLE = (asyncpg.exceptions.TransactionRollbackError,)

_PLACEHOLDER = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\?")


@lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """`?` placeholders to `$1..$n`, leaving quoted literals and identifiers alone."""
    counter = 0

    def number(match: re.Match[str]) -> str:
        nonlocal counter
        if match.group(0) != "?":
            return match.group(0)
        counter += 1
        return f"${counter}"

    return _PLACEHOLDER.sub(number, sql)


def _decode_numeric(text: str) -> int | float:
    # SUM(bigint) and AVG() are NUMERIC in PostgreSQL; answer like SQLite: int when whole, else float.
    value = Decimal(text)
    return int(value) if value == value.to_integral_value() else float(value)


async def _setup_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "numeric", schema="pg_catalog", encoder=str, decoder=_decode_numeric, format="text"
    )


class ColumnTypes:
    """The server's type of each column the bulk operations send, learnt once per table: the
    type of the array that carries the column's values."""

    def __init__(self) -> None:
        self._tables: dict[str, dict[str, str]] = {}

    async def of(self, conn: asyncpg.Connection, table: str, columns: Sequence[str]) -> tuple[str, ...]:
        types = self._tables.get(table)
        if types is None:
            rows = await conn.fetch(
                "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                "WHERE attrelid = CAST($1 AS regclass) AND attnum > 0 AND NOT attisdropped",
                table,
            )
            types = self._tables[table] = {name: type_ for name, type_ in rows}
        return tuple(types[column] for column in columns)

    def forget(self) -> None:
        """After a migration: tables may have changed."""
        self._tables.clear()


def unnest(types: Sequence[str]) -> str:
    """`SELECT * FROM unnest(CAST($1 AS text[]), ...)`: rows made of one array per column, in order."""
    arrays = ", ".join(f"CAST(${i} AS {name}[])" for i, name in enumerate(types, start=1))
    return f"SELECT * FROM unnest({arrays})"


@lru_cache(maxsize=256)
def _insert_new_sql(table: str, columns: tuple[str, ...], key_width: int, types: tuple[str, ...]) -> str:
    key = ", ".join(columns[:key_width])
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) {unnest(types)} "
        f"ON CONFLICT ({key}) DO NOTHING RETURNING {key}"
    )


@lru_cache(maxsize=256)
def _add_counts_sql(
    table: str, key: tuple[str, ...], overwritten: tuple[str, ...], counts: tuple[str, ...],
    types: tuple[str, ...],
) -> str:
    updates = [f"{c} = excluded.{c}" for c in overwritten]
    updates += [f"{c} = {table}.{c} + excluded.{c}" for c in counts]
    return (
        f"INSERT INTO {table} ({', '.join((*key, *overwritten, *counts))}) {unnest(types)} "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {', '.join(updates)}"
    )


def _arrays(rows: Sequence[Row], width: int) -> list[list[Any]]:
    """One list per column: the arrays `unnest` takes apart again."""
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]


class PostgresConnection:
    def __init__(self, conn: asyncpg.Connection, types: ColumnTypes) -> None:
        self.conn = conn
        self.types = types  # shared by the pool

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        return [tuple(record) for record in await self.conn.fetch(translate(sql), *params)]

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        await self.conn.execute(translate(sql), *params)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self.conn.executemany(translate(sql), list(rows))

    async def insert_new(
        self, table: str, columns: Sequence[str], key_width: int, rows: Sequence[Row]
    ) -> list[Row]:
        if not rows:
            return []
        types = await self.types.of(self.conn, table, columns)
        sql = _insert_new_sql(table, tuple(columns), key_width, types)
        inserted = {tuple(record) for record in await self.conn.fetch(sql, *_arrays(rows, len(columns)))}
        new: list[Row] = []
        for row in rows:
            if row[:key_width] in inserted:
                inserted.discard(row[:key_width])
                new.append(row)
        return new

    async def insert_new_events(self, columns: Sequence[str], rows: Sequence[Row]) -> list[Row]:
        return await insert_new_events(self, columns, rows)

    async def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
        if rows:
            await self.conn.copy_records_to_table(table, records=rows, columns=list(columns))

    async def add_counts(
        self,
        table: str,
        key_columns: Sequence[str],
        count_columns: Sequence[str],
        rows: Sequence[Row],
        set_columns: Sequence[str] = (),
    ) -> None:
        if not rows:
            return
        columns = (*key_columns, *set_columns, *count_columns)
        types = await self.types.of(self.conn, table, columns)
        sql = _add_counts_sql(table, tuple(key_columns), tuple(set_columns), tuple(count_columns), types)
        await self.conn.execute(sql, *_arrays(rows, len(columns)))

    # Lookups by key name the whole primary key, site included: with a separate `site = ?`,
    # PostgreSQL may trust a stale estimate of the site's rows (a new site looks tiny until
    # the next ANALYZE) and scan all of them for every key.

    async def fetch_by_keys(
        self, table: str, key_columns: Sequence[str], columns: Sequence[str], keys: Sequence[Row]
    ) -> list[Row]:
        if not keys:
            return []
        types = await self.types.of(self.conn, table, key_columns)
        key = ", ".join(key_columns)
        sql = f"SELECT {', '.join(columns)} FROM {table} WHERE ({key}) IN ({unnest(types)})"
        return [tuple(record) for record in await self.conn.fetch(sql, *_arrays(keys, len(key_columns)))]

    async def set_flags(
        self, table: str, key_columns: Sequence[str], flag: str, keys: Sequence[Row]
    ) -> list[Row]:
        if not keys:
            return []
        types = await self.types.of(self.conn, table, key_columns)
        key = ", ".join(key_columns)
        sql = (
            f"UPDATE {table} SET {flag} = 1 WHERE {flag} = 0 AND ({key}) IN ({unnest(types)}) "
            f"RETURNING {key}"
        )
        return [tuple(record) for record in await self.conn.fetch(sql, *_arrays(keys, len(key_columns)))]


class PostgresDatabase:
    dialect = "postgres"

    def __init__(self, url: str, min_size: int = 1, max_size: int = 10) -> None:
        self.url = url
        self.min_size = min_size
        self.max_size = max_size
        self._pool: asyncpg.Pool | None = None
        self._types = ColumnTypes()
        self._partitions = DayPartitions(self)

    async def open(self) -> PostgresDatabase:
        self._pool = await asyncpg.create_pool(
            self.url,
            min_size=self.min_size,
            max_size=self.max_size,
            init=_setup_connection,
            # The read path's statements vary with the range asked for; keep more of them prepared.
            statement_cache_size=512,
            max_cacheable_statement_size=64 * 1024,
        )
        return self

    @property
    def pool(self) -> asyncpg.Pool:
        assert self._pool is not None, "database is not open"
        return self._pool

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        async with self.pool.acquire() as conn:
            return await PostgresConnection(conn, self._types).fetch(sql, params)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        async with self.pool.acquire() as conn:
            await PostgresConnection(conn, self._types).execute(sql, params)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        async with self.transaction() as tx:
            await tx.executemany(sql, rows)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PostgresConnection]:
        async with self.pool.acquire() as conn, conn.transaction():
            yield PostgresConnection(conn, self._types)

    async def atomic(self, work: Callable[[Connection], Coroutine[Any, Any, T]]) -> T:
        for attempt in range(ATTEMPTS):
            try:
                async with self.transaction() as tx:
                    return await work(tx)
            except RETRYABLE:
                if attempt == ATTEMPTS - 1:
                    raise
                # Jittered backoff, so the two colliding writers do not collide again.
                await asyncio.sleep(random.uniform(0, 0.005 * 2**attempt))
        raise AssertionError("unreachable")

    async def prepare_event_days(self, days: Collection[int]) -> None:
        await self._partitions.ensure(days)

    async def delete_events_before(self, ts_ms: int) -> int:
        return await self._partitions.drop_before(ts_ms)

    async def delete_below(self, table: str, column: str, bound: int) -> int:
        async with self.pool.acquire() as conn:
            status = await conn.execute(f"DELETE FROM {table} WHERE {column} < $1", bound)
        return int(status.split()[-1])  # "DELETE <rows>"

    async def schema_version(self) -> int:
        async with self.pool.acquire() as conn:
            return await _version(conn)

    async def migrate(self, upto: int | None = None) -> int:
        async with self.pool.acquire() as conn:
            # Session-level lock: held across the migrations' own transactions.
            await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
            try:
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " version INTEGER PRIMARY KEY,"
                    " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
                )
                version = await _version(conn)
                for target, sql in migrations(self.dialect):
                    if target <= version or (upto is not None and target > upto):
                        continue
                    async with conn.transaction():
                        await conn.execute(sql)
                        await conn.execute(
                            "INSERT INTO schema_migrations (version) VALUES ($1)", target
                        )
                    version = target
            finally:
                await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
        # Prepared statements and column types learnt before the schema changed would fail.
        self._types.forget()
        await self.pool.expire_connections()
        return version

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


async def _version(conn: asyncpg.Connection) -> int:
    if await conn.fetchval("SELECT to_regclass('schema_migrations')") is None:
        return 0
    return int(await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"))
