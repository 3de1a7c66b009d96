"""The snippet: readable source in src/, built by build.py into dist/, which the collector serves."""

from pathlib import Path

#: The built scripts (checked in, so running ctrlens never needs Node).
DIST = Path(__file__).parent / "dist"
