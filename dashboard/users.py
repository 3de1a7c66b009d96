"""Named users: who they are, how their passwords are checked, what their role allows
(docs/design.md §4 "Access").

Passwords are hashed with argon2id (argon2-cffi's `PasswordHasher`, a maintained library with
safe defaults) off the event loop: one hash takes tens of milliseconds of CPU on purpose.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import unicodedata
from dataclasses import dataclass
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ctrlens.collector.errors import CtrlensError, InvalidRequest
from ctrlens.collector.storage import Storage, User

ROLES = ("admin", "viewer")
Role = Literal["admin", "viewer"]
MAX_NAME = 64
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
MAX_TOKEN_LABEL = 64
#: A personal API token: this prefix, then 256 random bits.
TOKEN_PREFIX = "ctl_"

_hasher = PasswordHasher()
# Checked against when a name is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class Forbidden(CtrlensError):
    status = 403


@dataclass(frozen=True)
class Identity:
    """Who a request acts as: the admin token's holder (no user id) or a named user."""

    name: str
    role: Role
    user_id: str | None = None
    via: str = "session"  # or "bearer": a script, exempt from the same-origin check

    @property
    def admin(self) -> bool:
        return self.role == "admin"


ADMIN_TOKEN = Identity("admin token", "admin")


def validate_name(name: str) -> str:
    name = unicodedata.normalize("NFC", name.strip())
    if not name:
        raise InvalidRequest("a user needs a name")
    if len(name) > MAX_NAME:
        raise InvalidRequest(f"a user's name has at most {MAX_NAME} characters")
    if not name.isprintable():
        raise InvalidRequest("a user's name holds printable characters only")
    return name


def validate_role(role: str) -> Role:
    if role == "admin":
        return "admin"
    if role == "viewer":
        return "viewer"
    raise InvalidRequest("the role is admin or viewer")


def validate_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InvalidRequest(f"a password has at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise InvalidRequest(f"a password has at most {MAX_PASSWORD} characters")
    return password


def validate_label(label: str) -> str:
    label = label.strip()
    if len(label) > MAX_TOKEN_LABEL or not label.isprintable():
        raise InvalidRequest(f"a label has at most {MAX_TOKEN_LABEL} printable characters")
    return label


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def password_matches(hashed: str, password: str) -> bool:
    def verify() -> bool:
        try:
            return _hasher.verify(hashed, password)
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(verify)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def identity_of(user: User) -> Identity:
    return Identity(user.name, validate_role(user.role), user.id)


async def add_user(storage: Storage, name: str, role: str, password: str) -> User:
    name, checked_role = validate_name(name), validate_role(role)
    hashed = await hash_password(validate_password(password))
    user = await storage.add_user(name, checked_role, hashed)
    if user is None:
        raise InvalidRequest(f"a user named {name!r} exists already")
    return user


async def change_password(storage: Storage, user: User, password: str) -> None:
    """A new password ends every session of the user (a new generation)."""
    await storage.set_user_password(user.id, await hash_password(validate_password(password)))


async def user_named(storage: Storage, name: str) -> User:
    user = await storage.user_named(name)
    if user is None:
        raise InvalidRequest(f"no user named {name!r}")
    return user


async def sign_in_user(storage: Storage, name: str, password: str) -> User | None:
    """The user whose name and password these are, or None; as slow for an unknown name."""
    user = await storage.user_named(unicodedata.normalize("NFC", name.strip()))
    if user is None:
        await password_matches(_DUMMY_HASH, password)
        return None
    return user if await password_matches(user.password, password) else None


async def create_token(storage: Storage, user: User, label: str) -> str:
    """A new personal API token of `user`: returned once, only its SHA-256 is kept."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    await storage.add_api_token(user.id, validate_label(label) or "token", token_digest(token))
    return token
