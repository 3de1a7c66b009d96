"""Static checks, run with the suite: lint (ruff), types (mypy) and the architecture (import-linter).

Their settings live in pyproject.toml; the import contracts say how the parts may depend on
each other (docs/layout.md).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness import ROOT

BIN = Path(sys.executable).parent
SOURCES = ["ctrlens", "collector", "dashboard", "snippet", "tests", "bench"]


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff() -> None:
    result = run(str(BIN / "ruff"), "check", "--no-cache", *SOURCES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy() -> None:
    result = run(str(BIN / "mypy"), "--no-incremental")
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_contracts() -> None:
    result = run(str(BIN / "lint-imports"), "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr


def test_nothing_imports_the_parts_by_their_folder_names() -> None:
    """`import collector` would load a second copy of a module beside `ctrlens.collector`."""
    pattern = re.compile(r"^\s*(from|import)\s+(collector|dashboard|snippet)\b", re.MULTILINE)
    offenders = [
        str(path.relative_to(ROOT))
        for folder in SOURCES
        for path in (ROOT / folder).rglob("*.py")
        if "node_modules" not in path.parts and pattern.search(path.read_text())
    ]
    assert offenders == []


@pytest.mark.parametrize("folder", ["collector", "dashboard", "snippet", "ctrlens"])
def test_every_type_ignore_says_why(folder: str) -> None:
    """`# type: ignore[code]` is allowed only with a reason on the same line."""
    bare = re.compile(r"#\s*type:\s*ignore(\[[^\]]*\])?\s*$")
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in (ROOT / folder).rglob("*.py")
        if not path.is_symlink()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if bare.search(line)
    ]
    assert offenders == []
