"""Running the application under uvicorn, safe to expose as it is (docs/design.md §6).

A plain `ctrlens serve --host 0.0.0.0` must not be held by slow or idle clients, so the HTTP
protocol gets read deadlines that uvicorn does not have: a client has `header_timeout` seconds
from connecting (or from the first byte of its next request on a kept-alive connection) to send
the request's head, and `body_timeout` seconds after the head to send the whole body. A client
that misses either is disconnected; a handler waiting for its body sees the disconnect. Idle
kept-alive connections close after uvicorn's keep-alive timeout, and `max_connections` caps
connections and requests in flight (beyond it: 503).
"""

from __future__ import annotations

import asyncio
import errno
import os
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ctrlens.collector.config import Config
from ctrlens.collector.storage import redacted

KEEP_ALIVE_SECONDS = 5


class ReadDeadlines(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline for the request head and one for the body."""

    header_timeout = 10.0
    body_timeout = 20.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # uvicorn narrows BaseTransport
        self._deadline: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self._arm(self.header_timeout)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm(self.header_timeout)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._arm(self.body_timeout)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()


def use_deadlines(config: Config) -> None:
    """Give the protocol this configuration's deadlines. uvicorn takes a class, and with several
    workers hands it to each worker process by name, so each process sets them on the class:
    here before serving, and in `worker_app` for the workers."""
    ReadDeadlines.header_timeout = config.header_timeout
    ReadDeadlines.body_timeout = config.body_timeout


def uvicorn_options(config: Config) -> dict[str, Any]:
    return dict(
        host=config.host,
        port=config.port,
        log_level=config.log_level,
        proxy_headers=False,  # the client address comes from --trusted-proxy only
        server_header=False,
        # No access log: it would write every visitor's IP address (docs/design.md §5).
        access_log=False,
        timeout_graceful_shutdown=30,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        limit_concurrency=config.max_connections,
        http=ReadDeadlines,
    )


def check_port(config: Config) -> None:
    """Fail with one clear line before anything starts when the address cannot be bound."""
    import socket

    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((config.host, config.port))
        except OSError as exc:
            reason = (
                "is already in use" if exc.errno == errno.EADDRINUSE else f"cannot be used ({exc.strerror})"
            )
            raise ValueError(
                f"{config.host}:{config.port} {reason}: choose another --port or --host"
            ) from None


def run(config: Config, app: Any, *, workers_environ: dict[str, str] | None = None) -> None:
    """Serve `app` (or, with `workers_environ`, the import string of a factory in each worker)."""
    check_port(config)
    use_deadlines(config)
    options = uvicorn_options(config)
    where = f"http://{config.host}:{config.port}"
    if workers_environ is not None:
        os.environ.update(workers_environ)
        print(
            f"ctrlens listening on {where}  (database: {redacted(config.db)}, {config.workers} workers)",
            flush=True,
        )
        uvicorn.run(app, factory=True, workers=config.workers, **options)
        return
    print(f"ctrlens listening on {where}  (database: {redacted(config.db)})", flush=True)
    uvicorn.run(app, **options)
