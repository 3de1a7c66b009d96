"""The `ctrlens` command as a new user meets it: one database for every command, a demo that
keeps its token across restarts and says how to stop."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx

from harness import CTRLENS, free_port


def ctrlens(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CTRLENS_")}
    return subprocess.run(
        [*CTRLENS, *args], cwd=cwd, env={**clean, **(env or {})}, capture_output=True, text=True, timeout=120
    )


def test_every_command_uses_the_database_named_by_ctrlens_db(tmp_path: Path) -> None:
    env = {"CTRLENS_DB": str(tmp_path / "data" / "ctrlens.db")}
    added = ctrlens("site", "add", "shop", "--origin", "https://shop.example", cwd=tmp_path, env=env)
    assert added.returncode == 0, added.stderr
    assert str(tmp_path / "data" / "ctrlens.db") in added.stdout
    listed = ctrlens("site", "list", cwd=tmp_path, env=env)
    assert listed.returncode == 0 and listed.stdout.startswith("shop\t")
    report = ctrlens("report", "shop", "--format", "json", cwd=tmp_path, env=env)
    assert report.returncode == 0, report.stderr
    assert not (tmp_path / "ctrlens.db").exists()  # nothing went to the default file


def test_reading_commands_refuse_a_missing_database_instead_of_creating_one(tmp_path: Path) -> None:
    for command in (["site", "list"], ["report", "shop"], ["token", "reset"]):
        result = ctrlens(*command, "--db", "missing.db", cwd=tmp_path)
        assert result.returncode == 2
        assert result.stderr.startswith("ctrlens: no database at missing.db")
        assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "missing.db").exists()


def _demo_token(cwd: Path) -> tuple[str, str]:
    port = free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CTRLENS_")}
    demo = subprocess.Popen(
        [*CTRLENS, "demo", "--port", str(port), "--days", "1"],
        cwd=cwd,
        env=clean,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert demo.poll() is None, demo.stdout.read() if demo.stdout else ""
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline
            time.sleep(0.2)
    finally:
        demo.terminate()
        output = demo.communicate(timeout=30)[0]
    [line] = [line for line in output.splitlines() if "admin token:" in line]
    return line.split("admin token:")[1].split()[0], output


def test_the_demo_keeps_its_token_across_restarts(tmp_path: Path) -> None:
    first, output = _demo_token(tmp_path)
    assert "Ctrl+C" in output and "dropped as bots" in output
    assert (tmp_path / ".ctrlens" / "demo.token").stat().st_mode & 0o077 == 0
    second, output = _demo_token(tmp_path)
    assert second == first and "the same as last time" in output
    # A token reset on the demo database is noticed: a new token, said plainly.
    assert ctrlens("token", "reset", "--db", ".ctrlens/demo.db", cwd=tmp_path).returncode == 0
    third, output = _demo_token(tmp_path)
    assert third != first and "no longer works" in output


def test_site_add_refuses_a_time_zone_the_system_does_not_know(tmp_path: Path) -> None:
    result = ctrlens(
        "site",
        "add",
        "shop",
        "--origin",
        "https://shop.example",
        "--timezone",
        "Mars/Olympus",
        "--db",
        "x.db",
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "ctrlens: timezone must be an IANA time zone name such as Europe/Berlin, got 'Mars/Olympus'"
    )
    ok = ctrlens(
        "site",
        "add",
        "shop",
        "--origin",
        "https://shop.example",
        "--timezone",
        "Asia/Kolkata",
        "--db",
        "x.db",
        cwd=tmp_path,
    )
    assert ok.returncode == 0, ok.stderr
