"""The README, run as a new user would: every shell command of its ```sh blocks, in order.

The commands run from a copy of this checkout, in a fresh virtualenv made by the README's own
install command (a normal, not editable, install), with a clean environment. Two things are
changed, and only these: the port 8000 becomes a free port, and long-running servers
(`ctrlens serve`, `./dev.sh demo`) are started in the background and waited for instead of
blocking. `./dev.sh test` is not run from here: it is what runs this test (.ci/run).

Each command must succeed, and `EXPECTED` says what its answer must show, so the README stays
true by construction.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from harness import ROOT, clean_copy, free_port

README = ROOT / "README.md"
SERVERS = re.compile(r"(^|/)(ctrlens serve|dev\.sh demo)\b")


def shell_commands(markdown: str) -> list[str]:
    """The commands of every ```sh block, continuation lines joined, comments dropped."""
    commands: list[str] = []
    for block in re.findall(r"^```sh\n(.*?)^```", markdown, re.MULTILINE | re.DOTALL):
        pending = ""
        for line in block.splitlines():
            line = pending + line
            if line.endswith("\\"):
                pending = line[:-1]
                continue
            pending = ""
            command = _without_comment(line).strip()
            if command:
                commands.append(command)
    return commands


def _without_comment(line: str) -> str:
    """The line without a trailing `# comment` outside quotes."""
    quote = ""
    for i, ch in enumerate(line):
        if ch in "'\"" and quote in ("", ch):
            quote = "" if quote else ch
        elif ch == "#" and not quote and (i == 0 or line[i - 1].isspace()):
            return line[:i]
    return line


def _json(output: str, _: Path) -> None:
    json.loads(output)


def _csv_named(name: str, first_column: str) -> Callable[[str, Path], None]:
    def check(output: str, cwd: Path) -> None:
        rows = list(csv.reader(io.StringIO((cwd / name).read_text())))
        assert rows and rows[0][0] == first_column, rows[:2]

    return check


# What each command's answer must show: (pattern of the command, check of stdout and the work dir).
EXPECTED: list[tuple[str, Callable[[str, Path], None]]] = [
    (r"pip install \.$", lambda out, cwd: None),
    (r"ctrlens site add shop", lambda out, cwd: _contains(out, "added site 'shop' to ")),
    (
        r"ctrlens site list$",
        lambda out, cwd: _contains(out, "shop\tshop\thttps://shop.example https://www.shop.example"),
    ),
    (r"ctrlens report shop --period 7d$", lambda out, cwd: _contains(out, "No impressions for shop between")),
    (r"ctrlens report shop --format csv > shop-report.csv$", _csv_named("shop-report.csv", "element")),
    (
        r"ctrlens report shop --variants$",
        lambda out, cwd: _contains(out, "No element of shop was seen in two or more variants between"),
    ),
    (r"/compare\?element=hero-signup", _json),
    (r"> shop-elements.csv$", _csv_named("shop-elements.csv", "element")),
]


def _contains(output: str, text: str) -> None:
    assert text in output, output


@dataclass
class Session:
    """A shell session: the working directory, the exported environment, background servers."""

    cwd: Path
    port: int
    env: dict[str, str]
    servers: list[subprocess.Popen[str]] = field(default_factory=list)
    ran: list[str] = field(default_factory=list)

    def run(self, command: str) -> str:
        command = re.sub(r"(?<=[ :])8000\b", str(self.port), command)
        self.ran.append(command)
        if command.startswith("export "):
            name, value = command[len("export ") :].split("=", 1)
            self.env[name] = self._shell(f"printf %s {value}").strip()
            return ""
        if SERVERS.search(command):
            self._start(command)
            return ""
        return self._shell(command)

    def _shell(self, command: str) -> str:
        result = subprocess.run(
            ["bash", "-c", f"set -eo pipefail; {command}"],
            cwd=self.cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
        return result.stdout

    def _start(self, command: str) -> None:
        server = subprocess.Popen(
            ["bash", "-c", f"exec {command}"],
            cwd=self.cwd,
            env=self.env,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.servers.append(server)
        deadline = time.monotonic() + 180
        while True:
            assert server.poll() is None, (
                f"{command} exited:\n{server.stdout.read() if server.stdout else ''}"
            )
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"{command} did not start"
            time.sleep(0.3)

    def stop(self) -> None:
        for server in self.servers:
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGTERM)
                server.wait(30)
        self.servers.clear()


def _clean_environ() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CTRLENS_", "VIRTUAL_ENV", "PYTHON"))}
    env["PATH"] = ":".join(p for p in env.get("PATH", "").split(":") if ".venv" not in p)
    return env


@pytest.fixture
def source(tmp_path: Path) -> Iterator[Path]:
    copy = clean_copy(tmp_path / "ctrlens")
    yield copy


def test_the_first_block_is_what_ci_runs_and_the_demo() -> None:
    first = shell_commands(README.read_text())[:2]
    assert first == ["./dev.sh demo", "./dev.sh test"]
    assert (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1] == "./dev.sh test"


def test_every_shell_command_of_the_readme_works(source: Path) -> None:
    commands = shell_commands(README.read_text())[2:]  # the first block: the test above and the demo test
    session = Session(source, free_port(), _clean_environ())
    try:
        for command in commands:
            output = session.run(command)
            for pattern, check in EXPECTED:
                if re.search(pattern, command):
                    check(output, source)
    finally:
        session.stop()
    for pattern, _ in EXPECTED:  # every expectation met a command: the README still has it
        assert any(re.search(pattern, command) for command in session.ran), pattern


def test_dev_sh_demo_starts(tmp_path: Path) -> None:
    """The README's first command, from this checkout, on a database of the test's own."""
    session = Session(ROOT, free_port(), _clean_environ())
    try:
        session.run(f"./dev.sh demo --port 8000 --days 1 --db {tmp_path / 'demo.db'}")
        page = httpx.get(f"http://127.0.0.1:{session.port}/example/", follow_redirects=True)
        assert page.status_code == 200
    finally:
        session.stop()
