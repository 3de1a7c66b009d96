"""The driver interface every backend implements, and the SQL helpers both share.

SQL in ctrlens is written once, with `?` placeholders and syntax that SQLite (3.35+) and
PostgreSQL both accept (`ON CONFLICT`, `RETURNING`, row values). A driver turns the
placeholders into its own style and owns connections, transactions and migrations.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Protocol, TypeVar

Row = tuple[Any, ...]
T = TypeVar("T")

SCHEMA_DIR = Path(__file__).parent / "schema"

# Rows per multi-row statement: keeps SQLite under its 32,766-variable limit and PostgreSQL
# under 65,535 parameters for the widest table (17 columns).
CHUNK_ROWS = 500


class Connection(Protocol):
    """One connection inside a transaction."""

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...


class Database(Connection, Protocol):
    """A backend: reads outside transactions, writes inside `transaction()`."""

    dialect: str
    url: str
    # Errors after which the whole transaction may simply run again (PostgreSQL: deadlock,
    # serialization failure between concurrent writers). Empty for a single-writer backend.
    retryable: tuple[type[BaseException], ...]

    def transaction(self) -> AbstractAsyncContextManager[Connection]: ...

    async def migrate(self, upto: int | None = None) -> int:
        """Bring the schema to the newest version (or to `upto`); return the version reached."""
        ...

    async def schema_version(self) -> int: ...

    async def close(self) -> None: ...


async def transact(
    db: Database, work: Callable[[Connection], Awaitable[T]], attempts: int = 5
) -> T:
    """Run `work` in one transaction; run it again from the start if the database aborted it
    because of a concurrent writer. `work` must not keep state from an aborted attempt."""
    for attempt in range(attempts):
        try:
            async with db.transaction() as tx:
                return await work(tx)
        except db.retryable:
            if attempt == attempts - 1:
                raise
            # Jittered backoff, so the two colliding writers do not collide again.
            await asyncio.sleep(random.uniform(0, 0.005 * 2**attempt))
    raise AssertionError("unreachable")


def placeholders(rows: int, columns: int) -> str:
    """`(?,?),(?,?)` for a multi-row VALUES list."""
    one = "(" + ",".join("?" * columns) + ")"
    return ",".join([one] * rows)


def keys_in(
    columns: Sequence[str], keys: Sequence[Sequence[Any]], row: str | None = None
) -> tuple[str, list[Any]]:
    """`(a, b) IN (SELECT * FROM (VALUES (?,?),...) AS keys)` and its parameters: many keys at once.

    Both databases answer this from the index on `columns`, where SQLite (3.40) scans the
    whole index for the shorter `(a, b) IN (VALUES ...)`. SQLite also stops using the index at
    the first integer column (the VALUES have no type to compare it by), so each integer
    column's distinct values are named again beside it: `AND day IN (?, ?)`. `row` overrides
    one row's placeholders, for casts PostgreSQL needs (`(?,CAST(? AS BIGINT))`).
    """
    one = row or "(" + ",".join("?" * len(columns)) + ")"
    sql = f"({', '.join(columns)}) IN (SELECT * FROM (VALUES {','.join([one] * len(keys))}) AS keys)"
    params = flatten(keys)
    for i, name in enumerate(columns):
        values = sorted({key[i] for key in keys})
        if values and isinstance(values[0], int):
            sql += f" AND {name} IN ({','.join('?' * len(values))})"
            params += values
    return sql, params


def chunks(items: Sequence[Any], size: int = CHUNK_ROWS) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def flatten(rows: Iterable[Sequence[Any]]) -> list[Any]:
    return [value for row in rows for value in row]


def migrations(dialect: str) -> list[tuple[int, str]]:
    """The schema files of one dialect as (version, sql), oldest first."""
    found = []
    for path in sorted((SCHEMA_DIR / dialect).glob("*.sql")):
        version = int(path.name.split("_", 1)[0])
        found.append((version, path.read_text()))
    return found
