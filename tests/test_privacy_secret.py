"""The visitor-id key is HMAC-SHA256(secret, daily salt), and the secret never enters the
database (docs/design.md §5): with the database alone, a visitor id cannot be recomputed by
trying addresses; with the secret, ids hold for the day and across restarts."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from pathlib import Path

import pytest

from collector_helpers import ORIGIN, make_batch
from ctrlens.collector.config import Config
from ctrlens.collector.privacy import DAY, VisitorIds, day_key, visitor_secret
from ctrlens.collector.storage import open_storage
from harness import BROWSER_UA, CTRLENS, ROOT, TOKEN, Databases, Server, private_loop, run_sync

IP = "203.0.113.9"


def hash_with(key: bytes, site: str, ip: str, user_agent: str) -> str:
    """The visitor hash under `key`, as anyone holding a key would compute it."""
    return hashlib.blake2b(f"{site}\x00{ip}\x00{user_agent}".encode(), key=key, digest_size=12).hexdigest()


@private_loop
async def test_the_stored_salt_alone_does_not_give_the_visitor_id(fresh_db: str, tmp_path: Path) -> None:
    config = Config(db=fresh_db, secret_file=str(tmp_path / "visitors.secret"))
    secret = visitor_secret(config)
    path = tmp_path / "visitors.secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(secret) == 64
    storage = await open_storage(fresh_db)
    try:
        day = 20_500
        ids = VisitorIds(storage, secret)
        morning = await ids.visitor("s", IP, BROWSER_UA, now=day * DAY + 10)
        assert morning == await ids.visitor("s", IP, BROWSER_UA, now=day * DAY + 80_000)
        salt = bytes.fromhex(await storage.salt(day))
        # Holding the database: the salt used as the key, as before the secret, gives another id.
        assert hash_with(salt, "s", IP, BROWSER_UA) != morning
        # Holding the secret too: the id is recomputed.
        assert hash_with(day_key(secret, salt), "s", IP, BROWSER_UA) == morning
        # A restart reads the same file: the same id. Another secret: another id.
        assert visitor_secret(config) == secret
        restarted = VisitorIds(storage, visitor_secret(config))
        assert await restarted.visitor("s", IP, BROWSER_UA, now=day * DAY + 50_000) == morning
        other = VisitorIds(storage, b"x" * 16 + os.urandom(16).hex().encode())
        assert await other.visitor("s", IP, BROWSER_UA, now=day * DAY + 50_000) != morning
        # Salts are still erased two days on, whatever the secret.
        await ids.visitor("s", IP, BROWSER_UA, now=(day + 1) * DAY + 10)
        await ids.visitor("s", IP, BROWSER_UA, now=(day + 2) * DAY + 10)
        assert await storage.salt_days() == [day + 1, day + 2]
    finally:
        await storage.close()


def test_ctrlens_secret_wins_and_weak_secrets_are_refused(tmp_path: Path) -> None:
    given = "k3Y-" + "0123456789abcdef" * 2
    config = Config.load(environ={"CTRLENS_SECRET": given, "CTRLENS_DB": str(tmp_path / "a.db")})
    assert visitor_secret(config) == given.encode()
    assert not (tmp_path / "a.db.secret").exists()  # nothing written when the secret is given
    for weak in ("short-secret", "a" * 40):
        with pytest.raises(ValueError, match="too weak"):
            visitor_secret(Config(secret=weak))
    (tmp_path / "weak.secret").write_text("hunter2\n")
    with pytest.raises(ValueError, match="weak.secret is too weak"):
        visitor_secret(Config(secret_file=str(tmp_path / "weak.secret")))
    # PostgreSQL keeps no file beside the database: ./ctrlens.secret unless told otherwise.
    assert Config(db="postgresql://h/db").secret_path() == Path("ctrlens.secret")
    assert Config(db=str(tmp_path / "b.db")).secret_path() == tmp_path / "b.db.secret"


def test_a_weak_secret_stops_serve_with_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [*CTRLENS, "serve", "--db", str(tmp_path / "weak.db"), "--port", "1"],
        cwd=ROOT,
        env={**os.environ, "CTRLENS_TOKEN": TOKEN, "CTRLENS_SECRET": "too-short"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0 and "CTRLENS_SECRET is too weak" in result.stderr


def _visitors(db: str, site: str) -> list[tuple[str, int]]:
    async def read() -> list[tuple[str, int]]:
        storage = await open_storage(db, migrate=False)
        try:
            rows = await storage.raw_events(site)
            return [(row["visitor"], int(row["ts_server"]) // 1000 // DAY) for row in rows]
        finally:
            await storage.close()

    return run_sync(read())


async def _salt(db: str, day: int) -> bytes:
    storage = await open_storage(db, migrate=False)
    try:
        return bytes.fromhex(await storage.salt(day))
    finally:
        await storage.close()


def test_serve_keeps_its_secret_outside_the_database_across_restarts(
    backend: str, databases: Databases, tmp_path: Path
) -> None:
    db = databases.new(backend)
    # SQLite: the default file beside the database. PostgreSQL: a named file (its default,
    # ./ctrlens.secret, would land in the checkout the tests run from).
    env = {} if backend == "sqlite" else {"CTRLENS_SECRET_FILE": str(tmp_path / "pg.secret")}
    secret_file = Path(db + ".secret") if backend == "sqlite" else tmp_path / "pg.secret"
    server = Server(db, env=env).start()
    try:
        assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
        site = server.new_site([ORIGIN])
        assert server.post(make_batch(site, "first", 1), ORIGIN).status_code == 202
    finally:
        server.stop()
    server = Server(db, env=env).start()  # a restart, with the same file
    try:
        assert server.post(make_batch(site, "second", 1), ORIGIN).status_code == 202
    finally:
        server.stop()
    (first, day), (second, _) = _visitors(db, site)
    assert first == second  # stable across the restart
    secret = secret_file.read_text().strip().encode()
    salt = run_sync(_salt(db, day))
    assert secret.hex() not in salt.hex() and hash_with(salt, site, "127.0.0.1", BROWSER_UA) != first
    assert hash_with(day_key(secret, salt), site, "127.0.0.1", BROWSER_UA) == first
