"""PostgreSQL backend (asyncpg): a pool of connections shared by reads and write transactions.

Many collector processes, on many machines, write to one PostgreSQL, so nothing here assumes a
single writer: every "first time" decision is made by the database (storage.py), a transaction
the server aborts for a deadlock or a serialization conflict is run again from the start
(`transact` in database.py), and migrations run under an advisory lock so collectors that start
together apply each one exactly once.

The SQL is storage.py's portable SQL; `?` placeholders become `$1..$n` here.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal
from functools import lru_cache
from typing import Any

import asyncpg

from ctrlens.collector.storage.database import MultiRowValues, Row, migrations, multi_row_values

# pg_advisory_lock key for migrations: "ctrlens" in ASCII.
MIGRATION_LOCK = 0x6374726C656E73

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


def unnest(rows: MultiRowValues, types: Sequence[str]) -> str:
    """A multi-row VALUES list as `unnest` of one array per column (of `types`): one prepared
    statement for every batch size, rows kept in their order."""
    arrays = ", ".join(f"CAST(? AS {name}[])" for name in types)
    return translate(f"{rows.before}SELECT * FROM unnest({arrays}){rows.after}")


class PostgresConnection:
    def __init__(self, conn: asyncpg.Connection, types: dict[str, tuple[str, ...]]) -> None:
        self.conn = conn
        self.types = types  # shared by the pool: parameter types of one-row statements

    async def _prepare(self, sql: str, params: Sequence[Any]) -> tuple[str, Sequence[Any]]:
        rows = multi_row_values(sql)
        if rows is None:
            return translate(sql), params
        types = self.types.get(rows.one_row)
        if types is None:
            # The server's own types for one row's parameters: the arrays get the same.
            statement = await self.conn.prepare(translate(rows.one_row))
            types = tuple(t.name for t in statement.get_parameters())
            self.types[rows.one_row] = types
        return unnest(rows, types[rows.first : rows.first + rows.width]), rows.columns(params)

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        sql, params = await self._prepare(sql, params)
        return [tuple(record) for record in await self.conn.fetch(sql, *params)]

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        sql, params = await self._prepare(sql, params)
        await self.conn.execute(sql, *params)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self.conn.executemany(translate(sql), list(rows))

    async def copy(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """COPY rows into a table: the fastest way in, used for raw events."""
        await self.conn.copy_records_to_table(table, records=rows, columns=list(columns))


class PostgresDatabase:
    dialect = "postgres"
    # Aborted by the server because of another transaction (SQLSTATE class 40: deadlock,
    # serialization failure): safe and right to run the whole transaction again.
    retryable: tuple[type[BaseException], ...] = (asyncpg.exceptions.TransactionRollbackError,)

    def __init__(self, url: str, min_size: int = 1, max_size: int = 10) -> None:
        self.url = url
        self.min_size = min_size
        self.max_size = max_size
        self._pool: asyncpg.Pool | None = None
        self._types: dict[str, tuple[str, ...]] = {}

    async def open(self) -> PostgresDatabase:
        self._pool = await asyncpg.create_pool(
            self.url,
            min_size=self.min_size,
            max_size=self.max_size,
            init=_setup_connection,
            # Multi-row statements differ by row count; keep more of them prepared.
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
        # Prepared statements made before the schema changed would fail; start afresh.
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
