"""The driver interface's bulk operations (database.py) as SQLite statements.

A bulk insert or upsert runs as a few multi-row statements whose row counts are powers of two:
the group commit's batches come in every size, and a statement of a new size is parsed and
planned afresh (as long as running it, for a few hundred rows), where these few sizes stay in
the connection's statement cache.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from functools import lru_cache
from typing import Any

from ctrlens.collector.storage.database import Row

# Rows per statement at most: keeps the widest table (17 columns) under SQLite's 32,766-variable
# limit; a power of two, like every size the bulk statements come in.
CHUNK_ROWS = 512


class BulkStatements:
    """The bulk operations over `fetch`, which each SQLite connection class (sqlite.py) runs in
    its own way: on aiosqlite's thread, or at once on the group commit's connection."""

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        raise NotImplementedError  # each connection class runs SQL its own way

    async def insert_new(
        self, table: str, columns: Sequence[str], key_width: int, rows: Sequence[Row]
    ) -> list[Row]:
        new: list[Row] = []
        for part in _power_of_two_parts(rows):
            sql = _insert_new_sql(table, tuple(columns), key_width, len(part))
            inserted = set(await self.fetch(sql, _flat(part)))
            for row in part:
                if row[:key_width] in inserted:
                    inserted.discard(row[:key_width])
                    new.append(row)
        return new

    async def insert_new_events(self, columns: Sequence[str], rows: Sequence[Row]) -> list[Row]:
        return await self.insert_new("events", columns, 2, rows)

    async def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
        for part in _power_of_two_parts(rows):
            await self.fetch(_insert_sql(table, tuple(columns), len(part)), _flat(part))

    async def add_counts(
        self,
        table: str,
        key_columns: Sequence[str],
        count_columns: Sequence[str],
        rows: Sequence[Row],
        set_columns: Sequence[str] = (),
    ) -> None:
        for part in _power_of_two_parts(rows):
            sql = _add_counts_sql(
                table, tuple(key_columns), tuple(set_columns), tuple(count_columns), len(part)
            )
            await self.fetch(sql, _flat(part))

    # Lookups by key name the whole primary key, site included (`_keys_in`): with a separate
    # `site = ?`, a planner may trust a stale estimate of the site's rows and scan all of them.

    async def fetch_by_keys(
        self, table: str, key_columns: Sequence[str], columns: Sequence[str], keys: Sequence[Row]
    ) -> list[Row]:
        found: list[Row] = []
        for part in _chunks(keys):
            where, params = _keys_in(key_columns, part)
            found += await self.fetch(f"SELECT {', '.join(columns)} FROM {table} WHERE {where}", params)
        return found

    async def set_flags(
        self, table: str, key_columns: Sequence[str], flag: str, keys: Sequence[Row]
    ) -> list[Row]:
        changed: list[Row] = []
        for part in _chunks(keys):
            where, params = _keys_in(key_columns, part)
            changed += await self.fetch(
                f"UPDATE {table} SET {flag} = 1 WHERE {flag} = 0 AND {where} "
                f"RETURNING {', '.join(key_columns)}",
                params,
            )
        return changed


def _power_of_two_parts(rows: Sequence[Row]) -> Iterator[Sequence[Row]]:
    """`rows` in order, in parts of CHUNK_ROWS or fewer rows whose counts are powers of two."""
    done, left = 0, len(rows)
    while left:
        size = min(CHUNK_ROWS, 1 << (left.bit_length() - 1))
        yield rows[done : done + size]
        done, left = done + size, left - size


def _chunks(items: Sequence[Row]) -> Iterator[Sequence[Row]]:
    for start in range(0, len(items), CHUNK_ROWS):
        yield items[start : start + CHUNK_ROWS]


def _flat(rows: Iterable[Sequence[Any]]) -> list[Any]:
    return [value for row in rows for value in row]


def _values(rows: int, columns: int) -> str:
    """`(?,?),(?,?)`: a multi-row VALUES list."""
    one = "(" + ",".join("?" * columns) + ")"
    return ",".join([one] * rows)


@lru_cache(maxsize=256)
def _insert_new_sql(table: str, columns: tuple[str, ...], key_width: int, rows: int) -> str:
    key = ", ".join(columns[:key_width])
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES {_values(rows, len(columns))} "
        f"ON CONFLICT ({key}) DO NOTHING RETURNING {key}"
    )


@lru_cache(maxsize=256)
def _insert_sql(table: str, columns: tuple[str, ...], rows: int) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {_values(rows, len(columns))}"


@lru_cache(maxsize=256)
def _add_counts_sql(
    table: str, key: tuple[str, ...], overwritten: tuple[str, ...], counts: tuple[str, ...], rows: int
) -> str:
    columns = (*key, *overwritten, *counts)
    updates = [f"{c} = excluded.{c}" for c in overwritten]
    updates += [f"{c} = {table}.{c} + excluded.{c}" for c in counts]
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES {_values(rows, len(columns))} "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {', '.join(updates)}"
    )


def _keys_in(columns: Sequence[str], keys: Sequence[Row]) -> tuple[str, list[Any]]:
    """`(a, b) IN (SELECT * FROM (VALUES (?,?),...) AS keys)` and its parameters: many keys at once.

    SQLite (3.40) answers this from the index on `columns`, where it scans the whole index for
    the shorter `(a, b) IN (VALUES ...)`. It also stops using the index at the first integer
    column (the VALUES have no type to compare it by), so each integer column's distinct values
    are named again beside it: `AND day IN (?, ?)`.
    """
    sql = f"({', '.join(columns)}) IN (SELECT * FROM (VALUES {_values(len(keys), len(columns))}) AS keys)"
    params = _flat(keys)
    for i, name in enumerate(columns):
        values = sorted({key[i] for key in keys})
        if values and isinstance(values[0], int):
            sql += f" AND {name} IN ({','.join('?' * len(values))})"
            params += values
    return sql, params
