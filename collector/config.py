"""The one configuration object: built once from CLI flags, environment and a TOML file.

Precedence: command-line flag > environment variable (`CTRLENS_*`) > TOML file
(`--config` or `CTRLENS_CONFIG`) > default. This is the only module that reads the environment.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Config:
    db: str = "ctrlens.db"
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    token: str | None = None
    # Requests per second per client IP on POST /e (token bucket, burst = 4 s worth); 0 = off.
    rate_limit: float = 20.0
    trusted_proxies: tuple[str, ...] = ()
    # Group commit: how long the writer waits for more requests before committing a batch.
    batch_window_ms: float = 2.0
    # Events waiting for the writer before POST /e answers 503.
    queue_limit: int = 20_000
    retention_days: int = 395
    secure_cookies: bool = False
    log_level: str = "info"
    # Slow clients (ctrlens/server.py): seconds to send a request's head, then its body; and the
    # most connections and requests in flight before answering 503.
    header_timeout: float = 10.0
    body_timeout: float = 20.0
    max_connections: int = 1000
    # When set, GET /metrics answers only `Authorization: Bearer <metrics_token>` (docs/design.md §6).
    metrics_token: str | None = None
    # The key of the visitor-id salts (docs/design.md §5), kept outside the database: given here
    # (CTRLENS_SECRET), or read from `secret_file`, created on first start (see `secret_path`).
    secret: str | None = None
    secret_file: str | None = None
    # The address browsers reach ctrlens at (https://stats.shop.example): the install tag is
    # built from it, never from a request's Host, and an https one makes every cookie Secure.
    public_url: str | None = None
    # Alerts (docs/design.md §4): seconds between checks (0: no periodic check), and the SMTP
    # server that sends the e-mail ones (no host: e-mail alerts are not sent).
    alert_interval: float = 300.0
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "ctrlens@localhost"
    smtp_starttls: bool = True
    # Tests only: a file holding the server's current time in epoch milliseconds, so a test can
    # set the clock (a click at 23:59, its conversion at 00:01). Unset: the system clock.
    clock_file: str | None = None

    def __post_init__(self) -> None:
        if self.public_url is not None:
            object.__setattr__(self, "public_url", _public_url(self.public_url))
            # Browsers reach ctrlens over TLS: every cookie it sets is Secure (docs/design.md §6).
            if self.public_url.startswith("https:"):
                object.__setattr__(self, "secure_cookies", True)

    def secret_path(self) -> Path:
        """Where the secret is kept when CTRLENS_SECRET is not set: `secret_file`, else beside the
        SQLite file, else (PostgreSQL) `ctrlens.secret` in the working directory."""
        if self.secret_file:
            return Path(self.secret_file)
        if self.db.startswith(("postgres://", "postgresql://")):
            return Path("ctrlens.secret")
        return Path(self.db + ".secret")

    @classmethod
    def load(
        cls,
        flags: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Config:
        flags = {k: v for k, v in (flags or {}).items() if v is not None}
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        toml_path = flags.pop("config", None) or environ.get("CTRLENS_CONFIG")
        if toml_path:
            values.update(_from_toml(Path(toml_path)))
        values.update(_from_environ(environ))
        values.update(flags)
        return cls.from_mapping(values)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> Config:
        known = {f.name: f for f in dataclasses.fields(cls)}
        kwargs: dict[str, Any] = {}
        for name, value in values.items():
            if name not in known:
                raise ValueError(f"unknown configuration setting {name!r}")
            kwargs[name] = _coerce(name, known[name].type, value)
        return cls(**kwargs)

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)

    # `ctrlens serve --workers N`: uvicorn starts each worker process afresh, so the parent's
    # configuration travels to them in one environment variable, read back only here.

    def worker_environ(self) -> dict[str, str]:
        values = dataclasses.asdict(self)
        return {WORKER_CONFIG: json.dumps(values)}

    @classmethod
    def from_worker_environ(cls, environ: Mapping[str, str] | None = None) -> Config:
        environ = os.environ if environ is None else environ
        if WORKER_CONFIG not in environ:
            raise ValueError(f"{WORKER_CONFIG} is not set: start workers with `ctrlens serve --workers N`")
        return cls.from_mapping(json.loads(environ[WORKER_CONFIG]))


WORKER_CONFIG = "CTRLENS_WORKER_CONFIG"


_ENV = {
    "db": "CTRLENS_DB",
    "host": "CTRLENS_HOST",
    "port": "CTRLENS_PORT",
    "workers": "CTRLENS_WORKERS",
    "token": "CTRLENS_TOKEN",
    "rate_limit": "CTRLENS_RATE_LIMIT",
    "trusted_proxies": "CTRLENS_TRUSTED_PROXY",
    "batch_window_ms": "CTRLENS_BATCH_WINDOW_MS",
    "queue_limit": "CTRLENS_QUEUE_LIMIT",
    "retention_days": "CTRLENS_RETENTION_DAYS",
    "secure_cookies": "CTRLENS_SECURE_COOKIES",
    "log_level": "CTRLENS_LOG_LEVEL",
    "header_timeout": "CTRLENS_HEADER_TIMEOUT",
    "body_timeout": "CTRLENS_BODY_TIMEOUT",
    "max_connections": "CTRLENS_MAX_CONNECTIONS",
    "metrics_token": "CTRLENS_METRICS_TOKEN",
    "clock_file": "CTRLENS_CLOCK_FILE",
    "alert_interval": "CTRLENS_ALERT_INTERVAL",
    "smtp_host": "CTRLENS_SMTP_HOST",
    "smtp_port": "CTRLENS_SMTP_PORT",
    "smtp_user": "CTRLENS_SMTP_USER",
    "smtp_password": "CTRLENS_SMTP_PASSWORD",
    "smtp_from": "CTRLENS_SMTP_FROM",
    "smtp_starttls": "CTRLENS_SMTP_STARTTLS",
    "secret": "CTRLENS_SECRET",
    "secret_file": "CTRLENS_SECRET_FILE",
    "public_url": "CTRLENS_PUBLIC_URL",
}


def _public_url(value: str) -> str:
    """An http(s) URL with a host and nothing after its path, kept without its trailing slash."""
    value = value.strip()
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
        or parts.password is not None
        or parts.query
        or parts.fragment
        or "?" in value
        or "#" in value
        or any(ord(ch) <= 0x20 or ord(ch) == 0x7F or ch in "\"'<>\\`" for ch in value)
    ):
        raise ValueError(
            f"public_url {value!r} must be an http:// or https:// URL without query or fragment, "
            "e.g. https://stats.shop.example"
        )
    return value.rstrip("/")


def _from_environ(environ: Mapping[str, str]) -> dict[str, Any]:
    return {name: environ[var] for name, var in _ENV.items() if environ.get(var)}


def _from_toml(path: Path) -> dict[str, Any]:
    with path.open("rb") as f:
        data = tomllib.load(f)
    return dict(data.get("ctrlens", data))


def _coerce(name: str, kind: Any, value: Any) -> Any:
    kind = str(kind)
    try:
        if kind.startswith("int"):
            return int(value)
        if kind.startswith("float"):
            return float(value)
        if kind.startswith("bool"):
            if isinstance(value, str):
                return value.strip().lower() in {"1", "true", "yes", "on"}
            return bool(value)
        if kind.startswith("tuple"):
            if isinstance(value, str):
                return tuple(v.strip() for v in value.split(",") if v.strip())
            return tuple(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"configuration setting {name!r}: {value!r} is not a valid {kind}") from exc
    return value
