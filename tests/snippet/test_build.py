"""The built snippet: fresh from its source, and within its size budget. No Node needed."""

from __future__ import annotations

import gzip
import hashlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest

SNIPPET = Path(__file__).resolve().parents[2] / "snippet"
BUDGET = 2000  # bytes, gzip -9 (DESIGN §2)


@pytest.mark.parametrize("name", ["ctr.js", "ctr-debug.js"])
def test_dist_is_built_from_the_current_source(name: str) -> None:
    source = (SNIPPET / "src" / name).read_bytes()
    built = (SNIPPET / "dist" / name).read_text()
    header = re.match(r"/\*! ctrlens ([0-9a-f]{16}) \*/\n", built)
    assert header, f"dist/{name} lacks its /*! ctrlens <hash> */ header"
    assert header.group(1) == hashlib.sha256(source).hexdigest()[:16], (
        f"dist/{name} is stale: run `python snippet/build.py` and commit snippet/dist"
    )


def test_served_snippet_is_at_most_2000_bytes_gzipped() -> None:
    body = (SNIPPET / "dist" / "ctr.js").read_bytes()
    # What the collector sends (collector/tracker.py gzips at level 9) ...
    assert len(gzip.compress(body, 9, mtime=0)) <= BUDGET
    # ... and what `gzip -9` says, file name in the header included, where gzip exists.
    gzip_tool = shutil.which("gzip")
    if gzip_tool:
        out = subprocess.run([gzip_tool, "-9", "-c", str(SNIPPET / "dist" / "ctr.js")], capture_output=True, check=True)
        assert len(out.stdout) <= BUDGET, f"gzip -9: {len(out.stdout)} bytes"


def test_core_has_no_eval_and_the_overlay_stays_out_of_it() -> None:
    core = (SNIPPET / "dist" / "ctr.js").read_text()
    # A page whose CSP forbids 'unsafe-eval' must still run the snippet.
    assert not re.search(r"\beval\(|new Function\(|setTimeout\(\s*['\"]", core)
    assert "ctr-debug.js" in core and "ctrlens debug" not in core
