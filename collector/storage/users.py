"""Users and their personal API tokens (docs/design.md §4 "Access").

Only what the dashboard decides is stored here: a password hash made by dashboard/users.py, a
token's SHA-256. Removing a user removes their tokens in the same transaction.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from ctrlens.collector.storage.database import Connection, Database, Row

_USER = "id, name, role, password, generation, created_at"
_TOKEN = "id, user_id, name, created_at, last_used_at"


@dataclass(frozen=True)
class User:
    id: str
    name: str
    role: str  # 'admin' or 'viewer'
    password: str  # an argon2id hash
    generation: str  # a session of an older generation is refused
    created_at: int


@dataclass(frozen=True)
class ApiToken:
    id: str
    user_id: str
    name: str
    created_at: int
    last_used_at: int | None


def _user(row: Row) -> User:
    id_, name, role, password, generation, created_at = row
    return User(id_, name, role, password, generation, int(created_at))


def _token(row: Row) -> ApiToken:
    id_, user_id, name, created_at, last_used_at = row
    return ApiToken(id_, user_id, name, int(created_at), None if last_used_at is None else int(last_used_at))


def new_id() -> str:
    return secrets.token_hex(8)


class Users:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def add(self, name: str, role: str, password: str) -> User | None:
        """The new user, or None when the name is taken."""
        user = User(new_id(), name, role, password, secrets.token_urlsafe(16), int(time.time()))

        async def work(tx: Connection) -> bool:
            taken = await tx.fetch("SELECT 1 FROM users WHERE name = ?", (name,))
            if taken:
                return False
            await tx.execute(
                f"INSERT INTO users ({_USER}) VALUES (?, ?, ?, ?, ?, ?)",
                (user.id, user.name, user.role, user.password, user.generation, user.created_at),
            )
            return True

        return user if await self.db.atomic(work) else None

    async def get(self, user_id: str) -> User | None:
        rows = await self.db.fetch(f"SELECT {_USER} FROM users WHERE id = ?", (user_id,))
        return _user(rows[0]) if rows else None

    async def named(self, name: str) -> User | None:
        rows = await self.db.fetch(f"SELECT {_USER} FROM users WHERE name = ?", (name,))
        return _user(rows[0]) if rows else None

    async def all(self) -> list[User]:
        return [_user(row) for row in await self.db.fetch(f"SELECT {_USER} FROM users ORDER BY name")]

    async def remove(self, user_id: str) -> bool:
        async def work(tx: Connection) -> bool:
            found = await tx.fetch("SELECT 1 FROM users WHERE id = ?", (user_id,))
            await tx.execute("DELETE FROM api_tokens WHERE user_id = ?", (user_id,))
            await tx.execute("DELETE FROM users WHERE id = ?", (user_id,))
            return bool(found)

        return bool(await self.db.atomic(work))

    async def set_password(self, user_id: str, password: str) -> None:
        """A new password hash and a new generation: every session of the user ends."""
        await self.db.execute(
            "UPDATE users SET password = ?, generation = ? WHERE id = ?",
            (password, secrets.token_urlsafe(16), user_id),
        )

    async def new_generation(self, user_id: str) -> None:
        await self.db.execute(
            "UPDATE users SET generation = ? WHERE id = ?", (secrets.token_urlsafe(16), user_id)
        )

    # -- personal API tokens ------------------------------------------------------------------

    async def add_token(self, user_id: str, name: str, digest: str) -> ApiToken:
        token = ApiToken(new_id(), user_id, name, int(time.time()), None)
        await self.db.execute(
            "INSERT INTO api_tokens (id, user_id, name, digest, created_at) VALUES (?, ?, ?, ?, ?)",
            (token.id, user_id, name, digest, token.created_at),
        )
        return token

    async def tokens(self, user_id: str) -> list[ApiToken]:
        rows = await self.db.fetch(
            f"SELECT {_TOKEN} FROM api_tokens WHERE user_id = ? ORDER BY created_at, id", (user_id,)
        )
        return [_token(row) for row in rows]

    async def revoke_token(self, user_id: str, token_id: str) -> bool:
        """Only the token's own user revokes it: another user's id finds nothing."""
        rows = await self.db.fetch(
            "SELECT 1 FROM api_tokens WHERE id = ? AND user_id = ?", (token_id, user_id)
        )
        await self.db.execute("DELETE FROM api_tokens WHERE id = ? AND user_id = ?", (token_id, user_id))
        return bool(rows)

    async def by_token(self, digest: str) -> tuple[User, ApiToken] | None:
        rows = await self.db.fetch(
            f"SELECT {', '.join('t.' + c.strip() for c in _TOKEN.split(','))}, "
            f"{', '.join('u.' + c.strip() for c in _USER.split(','))} "
            "FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.digest = ?",
            (digest,),
        )
        if not rows:
            return None
        return _user(rows[0][5:]), _token(rows[0][:5])

    async def token_used(self, token_id: str, now: int) -> None:
        await self.db.execute("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", (now, token_id))
