"""The people who sign in: `/users` (admins add and remove users, set passwords) and
`/account` (each user's own password and personal API tokens). docs/design.md §4 "Access"."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request

from ctrlens.collector.errors import InvalidRequest, NotFound
from ctrlens.collector.storage import ApiToken, Storage, User
from ctrlens.dashboard.auth import check_csrf
from ctrlens.dashboard.negotiation import Rendering
from ctrlens.dashboard.pages import Answer, page
from ctrlens.dashboard.users import (
    MIN_PASSWORD,
    ROLES,
    Identity,
    add_user,
    change_password,
    create_token,
    password_matches,
)


def when(epoch: int | None) -> str | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M UTC")


def user_json(user: User) -> dict[str, Any]:
    return {"name": user.name, "role": user.role, "created": when(user.created_at)}


def token_json(token: ApiToken) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "created": when(token.created_at),
        "last_used": when(token.last_used_at),
    }


async def _user(storage: Storage, name: str) -> User:
    user = await storage.user_named(name)
    if user is None:
        raise NotFound(f"no user named {name!r}")
    return user


@page("users.html")
async def users(request: Request, rendering: Rendering) -> Answer:
    """Admins only (routes.py); every change is a CSRF-checked form."""
    storage: Storage = request.app.state.storage
    error, notice, form = None, request.query_params.get("done"), None
    if request.method == "POST":
        form = await check_csrf(request)
        try:
            notice = await _change(storage, request.state.identity, form)
        except InvalidRequest as exc:
            error = exc.message
        else:
            answer = Answer({"done": notice})
            answer.redirect = f"/users?done={notice}"
            return answer
    listed = [user_json(u) for u in await storage.list_users()]
    answer = Answer({"users": listed}, status=400 if error else 200)
    answer.context = {
        "error": error,
        "notice": NOTICES.get(notice or ""),
        "form": form if error else None,
        "roles": ROLES,
        "min_password": MIN_PASSWORD,
        "me": request.state.identity,
    }
    return answer


NOTICES = {
    "added": "User added.",
    "removed": "User removed; their sessions and API tokens ended.",
    "password": "Password set; every session of that user ended.",
}


async def _change(storage: Storage, me: Identity, form: dict[str, str]) -> str:
    action = form.get("action")
    if action == "add":
        await add_user(storage, form.get("name", ""), form.get("role", ""), form.get("password", ""))
        return "added"
    user = await _user(storage, form.get("name", ""))
    if action == "remove":
        if user.id == me.user_id:
            raise InvalidRequest("you cannot remove yourself; ask another admin")
        await storage.remove_user(user.id)
        return "removed"
    if action == "password":
        await change_password(storage, user, form.get("password", ""))
        return "password"
    raise InvalidRequest("unknown action")


@page("account.html")
async def account(request: Request, rendering: Rendering) -> Answer:
    """Each signed-in user's own page (routes.py: "own" access): their password, their tokens.
    A new token is shown in the answer to its POST, once."""
    storage: Storage = request.app.state.storage
    me: Identity = request.state.identity
    user = await storage.get_user(me.user_id) if me.user_id else None
    error, notice, new_token = None, None, None
    if request.method == "POST":
        form = await check_csrf(request)
        try:
            if user is None:
                raise InvalidRequest(
                    "the admin token has no account: sign in as a named user to have personal tokens"
                )
            notice, new_token = await _account_change(storage, user, form)
        except InvalidRequest as exc:
            error = exc.message
        if notice == "password":
            # The new password ended this session too: sign in again with it.
            answer = Answer({"done": notice})
            answer.redirect = "/login?next=/account"
            return answer
    tokens = [token_json(t) for t in await storage.api_tokens(user.id)] if user else []
    data: dict[str, Any] = {"name": me.name, "role": me.role, "tokens": tokens}
    if new_token:
        data["new_token"] = new_token
    answer = Answer(data, status=400 if error else 201 if new_token else 200)
    answer.context = {
        "error": error,
        "notice": notice,
        "named": user is not None,
        "min_password": MIN_PASSWORD,
    }
    return answer


async def _account_change(storage: Storage, user: User, form: dict[str, str]) -> tuple[str, str | None]:
    action = form.get("action")
    if action == "create-token":
        return "created", await create_token(storage, user, form.get("label", ""))
    if action == "revoke-token":
        if not await storage.revoke_api_token(user.id, form.get("id", "")):
            raise InvalidRequest("no such token of yours")
        return "revoked", None
    if action == "password":
        if not await password_matches(user.password, form.get("current", "")):
            raise InvalidRequest("the current password is not right")
        await change_password(storage, user, form.get("password", ""))
        return "password", None
    raise InvalidRequest("unknown action")
