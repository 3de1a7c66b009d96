"""What a storage backend does (`Database`, `Connection`), and the schema facts both share.

The concept modules (sites.py, rollups.py, ...) write plain SQL with `?` placeholders in syntax
that SQLite (3.35+) and PostgreSQL both accept (`ON CONFLICT`, `RETURNING`, row values), and
ask the driver for the bulk operations by table and column names: each driver builds its own
statements for those (sqlite_bulk.py: multi-row VALUES; postgres.py: one array per column). Nothing
outside the drivers asks which backend it holds.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Coroutine, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, Protocol, TypeVar

Row = tuple[Any, ...]
T = TypeVar("T")

SCHEMA_DIR = Path(__file__).parent / "schema"

# The schema's units of time (schema/*/001_init.sql), all UTC: `hour` columns hold the epoch
# seconds of an hour's start, `day` columns epoch days, `ts_*` columns epoch milliseconds.
HOUR = 3600
DAY = 86400
DAY_MS = DAY * 1000


class Statements(Protocol):
    """Plain parameterised SQL (`?` placeholders)."""

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Row]: ...

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...


class Connection(Statements, Protocol):
    """One connection inside a transaction: plain SQL, and the write path's bulk operations."""

    async def insert_new(
        self, table: str, columns: Sequence[str], key_width: int, rows: Sequence[Row]
    ) -> list[Row]:
        """Insert the rows whose key (their first `key_width` columns) `table` does not hold yet;
        return them, in their order. A key twice in `rows`: the first row is the one stored.

        The database decides (ON CONFLICT DO NOTHING RETURNING), so two concurrent writers can
        never both count the same row as new.
        """
        ...

    async def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
        """Insert rows that are known to be new (PostgreSQL: COPY, the fastest way in)."""
        ...

    async def add_counts(
        self,
        table: str,
        key_columns: Sequence[str],
        count_columns: Sequence[str],
        rows: Sequence[Row],
        set_columns: Sequence[str] = (),
    ) -> None:
        """Insert each row (`key_columns`, then `set_columns`, then `count_columns`), or add its
        counts to the row of the same key and overwrite its `set_columns`. Keys must be unique;
        sorted keys make concurrent writers lock rows in the same order, so they cannot deadlock.
        """
        ...

    async def fetch_by_keys(
        self, table: str, key_columns: Sequence[str], columns: Sequence[str], keys: Sequence[Row]
    ) -> list[Row]:
        """`columns` of the rows of `table` whose whole key is one of `keys`, in no order."""
        ...

    async def set_flags(
        self, table: str, key_columns: Sequence[str], flag: str, keys: Sequence[Row]
    ) -> list[Row]:
        """Turn `flag` from 0 to 1 in the rows of `keys`; return the keys of the rows it changed,
        so of two concurrent writers only one sees a row's flag turn."""
        ...

    async def insert_new_events(self, columns: Sequence[str], rows: Sequence[Row]) -> list[Row]:
        """`insert_new` for raw events (`events`, keyed by (site, event_id), its first columns).

        SQLite keeps ids unique in `events` itself; PostgreSQL partitions `events` by day and
        keeps them unique in `event_ids` (partitions.py).
        """
        ...


class Database(Statements, Protocol):
    """A backend: reads and single statements outside transactions, writes inside them."""

    dialect: str  # names the folder of its schema files (schema/<dialect>/)
    url: str

    def transaction(self) -> AbstractAsyncContextManager[Connection]: ...

    async def atomic(self, work: Callable[[Connection], Coroutine[Any, Any, T]]) -> T:
        """Run `work` (the group commit's batch) in one transaction, the fastest way the backend
        has; run it again from the start if the database aborted it because of a concurrent
        writer, so `work` must keep no state from an aborted attempt."""
        ...

    async def prepare_event_days(self, days: Collection[int]) -> None:
        """Before raw events of these UTC days are written (PostgreSQL: their day partitions)."""
        ...

    async def delete_events_before(self, ts_ms: int) -> int:
        """Retention: delete raw events older than `ts_ms`; return how many went. PostgreSQL
        drops whole days: the partitions of the days before the one holding `ts_ms`."""
        ...

    async def delete_below(self, table: str, column: str, bound: int) -> int:
        """Retention: delete the rows of `table` whose `column` is below `bound`; return how many."""
        ...

    async def migrate(self, upto: int | None = None) -> int:
        """Bring the schema to the newest version (or to `upto`); return the version reached."""
        ...

    async def schema_version(self) -> int: ...

    async def close(self) -> None: ...


def migrations(dialect: str) -> list[tuple[int, str]]:
    """The schema files of one dialect as (version, sql), oldest first."""
    found = []
    for path in sorted((SCHEMA_DIR / dialect).glob("*.sql")):
        version = int(path.name.split("_", 1)[0])
        found.append((version, path.read_text()))
    return found
