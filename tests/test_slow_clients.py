"""Slow and idle clients cannot hold the server; startup failures are one clear line
(docs/design.md §6; ctrlens/server.py).

The deadlines are shortened through the configuration (CTRLENS_HEADER_TIMEOUT, ...) so the tests
take seconds; the mechanism is the one the defaults use.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from harness import CTRLENS, Server, free_port

HEADER_TIMEOUT = 1.0
BODY_TIMEOUT = 2.0


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    db = str(tmp_path_factory.mktemp("slow") / "slow.db")
    server = Server(
        db, env={"CTRLENS_HEADER_TIMEOUT": str(HEADER_TIMEOUT), "CTRLENS_BODY_TIMEOUT": str(BODY_TIMEOUT)}
    ).start()
    yield server
    server.stop()


def _connect(server: Server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    return sock


def _closed_by_server(sock: socket.socket, within: float) -> bool:
    sock.settimeout(within)
    try:
        while chunk := sock.recv(4096):
            if b"HTTP/1.1" in chunk:  # an answer (e.g. 400) also lets go of the client
                continue
        return True
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_unfinished_headers_from_300_connections_do_not_hold_the_server(guarded: Server) -> None:
    slow = []
    for _ in range(300):
        sock = _connect(guarded)
        sock.sendall(b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n")  # never finished
        slow.append(sock)
    try:
        started = time.monotonic()
        assert httpx.get(f"{guarded.url}/healthz", timeout=5).status_code == 200
        assert time.monotonic() - started < 2
        # Past the header deadline every one of them has been let go.
        time.sleep(HEADER_TIMEOUT)
        assert all(_closed_by_server(sock, within=2.0) for sock in slow)
    finally:
        for sock in slow:
            sock.close()


def test_an_idle_connection_that_never_speaks_is_closed(guarded: Server) -> None:
    sock = _connect(guarded)
    try:
        assert _closed_by_server(sock, within=HEADER_TIMEOUT + 2)
    finally:
        sock.close()


def test_a_trickled_body_is_cut_off_at_the_body_deadline(guarded: Server) -> None:
    sock = _connect(guarded)
    try:
        sock.sendall(
            b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 60000\r\n\r\n{"
        )
        started = time.monotonic()
        closed = False
        while time.monotonic() - started < BODY_TIMEOUT + 3:
            try:
                sock.sendall(b" ")
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            assert httpx.get(f"{guarded.url}/healthz", timeout=5).status_code == 200
            sock.settimeout(0.5)
            try:
                if sock.recv(4096) == b"":
                    closed = True
                    break
            except TimeoutError:
                pass
        assert closed, "the server kept a body trickling past its deadline"
        assert time.monotonic() - started < BODY_TIMEOUT + 3
    finally:
        sock.close()


def test_a_normal_request_after_a_pause_on_a_kept_alive_connection_still_works(guarded: Server) -> None:
    with httpx.Client(base_url=guarded.url) as client:
        assert client.get("/healthz").status_code == 200
        time.sleep(HEADER_TIMEOUT + 0.5)  # longer than the head deadline, shorter than keep-alive
        assert client.get("/healthz").status_code == 200


def _serve(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTRLENS_")}
    return subprocess.run(
        [*CTRLENS, "serve", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def test_an_unreachable_postgresql_is_one_line_and_a_non_zero_exit(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    result = _serve("--db", f"postgresql://ctrlens:secret@127.0.0.1:{port}/ctrlens", cwd=tmp_path)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ctrlens: cannot open the database"), result.stderr
    assert "secret" not in result.stderr and "listening" not in result.stdout


def test_a_port_in_use_is_one_line_before_anything_says_listening(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _serve("--db", str(tmp_path / "x.db"), "--port", str(port), cwd=tmp_path)
    assert result.returncode != 0
    assert (
        result.stderr.strip()
        == f"ctrlens: 127.0.0.1:{port} is already in use: choose another --port or --host"
    )
    assert "listening" not in result.stdout
