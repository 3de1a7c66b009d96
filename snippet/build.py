"""Build snippet/dist from ctrlens.snippet/src with terser (needs Node 20 and npm).

    python snippet/build.py          # installs terser from package-lock.json on first use

dist/ is checked in, so running ctrlens never needs Node; tests/snippet/test_build.py checks
that dist/ was built from the current src/ (by the hash in its header) and its gzipped size.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        print("building the snippet needs Node 20 and npm", file=sys.stderr)
        return 1
    if not (HERE / "node_modules" / "terser").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True)
    return subprocess.run(["node", "build.mjs"], cwd=HERE).returncode


if __name__ == "__main__":
    raise SystemExit(main())
