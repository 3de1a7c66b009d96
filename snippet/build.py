"""Build snippet/dist from snippet/src with terser (needs Node 20 and npm).

    python snippet/build.py          # installs terser from package-lock.json on first use

dist/ is checked in, so running ctrlens never needs Node; tests/snippet/test_build.py checks
that dist/ was built from the current src/ (by the hash in its header) and its gzipped size
against the budgets of docs/design.md §2.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUILT = ("ctr.js", "ctr-debug.js")


def served_size(body: bytes) -> int:
    """Bytes on the wire: the collector gzips each file once at level 9 (collector/tracker.py).

    Measured here rather than by Node, whose zlib gives a few bytes less than the collector's.
    """
    return len(gzip.compress(body, 9, mtime=0))


def main() -> int:
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        print("building the snippet needs Node 20 and npm", file=sys.stderr)
        return 1
    if not (HERE / "node_modules" / "terser").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True)
    built = subprocess.run(["node", "build.mjs"], cwd=HERE)
    if built.returncode:
        return built.returncode
    for name in BUILT:
        print(f"dist/{name}: {served_size((HERE / 'dist' / name).read_bytes())} B gzipped, as served")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
