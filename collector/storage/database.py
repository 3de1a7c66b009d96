"""The driver interface every backend implements, and the SQL helpers both share.

SQL in ctrlens is written once, with `?` placeholders and syntax that SQLite (3.35+) and
PostgreSQL both accept (`ON CONFLICT`, `RETURNING`, row values). A driver turns the
placeholders into its own style and owns connections, transactions and migrations.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, TypeVar

Row = tuple[Any, ...]
T = TypeVar("T")

SCHEMA_DIR = Path(__file__).parent / "schema"

# Rows per multi-row statement: keeps SQLite under its 32,766-variable limit and PostgreSQL
# under 65,535 parameters for the widest table (17 columns); a power of two for SQLite's sake
# (sqlite.py).
CHUNK_ROWS = 512


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


# A multi-row VALUES list: the same row of placeholders, repeated (`placeholders`).
_ROWS = re.compile(r"VALUES\s*(\((?:[^()']|\([^()']*\))*\))(?:\s*,\s*\1)+")


@dataclass(frozen=True)
class MultiRowValues:
    """A statement's multi-row VALUES list, as storage.py writes them.

    Its text changes with the number of rows, so every batch size is a statement to parse and
    plan afresh: each driver turns it into statements it can keep (PostgreSQL: one array per
    column; SQLite: a few statements of power-of-two sizes).
    """

    before: str  # the SQL before `VALUES`
    row: str  # one row: `(?, ?, CAST(? AS BIGINT))`
    after: str
    width: int  # placeholders per row, one per element
    rows: int
    first: int  # placeholders before the rows

    @property
    def one_row(self) -> str:
        return f"{self.before}VALUES {self.row}{self.after}"

    def columns(self, params: Sequence[Any]) -> list[Any]:
        """The parameters with the rows' values as one list per column."""
        start, end = self.first, self.first + self.width * self.rows
        flat = params[start:end]
        return [*params[:start], *(list(flat[i :: self.width]) for i in range(self.width)),
                *params[end:]]

    def split(self, params: Sequence[Any]) -> Iterator[tuple[str, list[Any]]]:
        """The same statement as several, whose row counts are powers of two, in row order."""
        start, end = self.first, self.first + self.width * self.rows
        done, left = 0, self.rows
        while left:
            size = 1 << (left.bit_length() - 1)
            values = ",".join([self.row] * size)
            lo = start + done * self.width
            yield (f"{self.before}VALUES {values}{self.after}",
                   [*params[:start], *params[lo : lo + size * self.width], *params[end:]])
            done, left = done + size, left - size


@lru_cache(maxsize=256)
def multi_row_values(sql: str) -> MultiRowValues | None:
    """The multi-row VALUES list of `sql`, if it has one of two rows or more."""
    match = _ROWS.search(sql)
    if match is None:
        return None
    row = match.group(1)
    elements = _split_top_level(row[1:-1])
    if any(element.count("?") != 1 for element in elements):
        return None
    rows = sql.count("?", match.start(), match.end()) // len(elements)
    before = sql[: match.start()]
    return MultiRowValues(before, row, sql[match.end():], len(elements), rows, before.count("?"))


def _split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, []
    for ch in text:
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        depth += ch == "("
        depth -= ch == ")"
        current.append(ch)
    parts.append("".join(current))
    return parts


def migrations(dialect: str) -> list[tuple[int, str]]:
    """The schema files of one dialect as (version, sql), oldest first."""
    found = []
    for path in sorted((SCHEMA_DIR / dialect).glob("*.sql")):
        version = int(path.name.split("_", 1)[0])
        found.append((version, path.read_text()))
    return found
