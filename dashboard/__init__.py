"""The dashboard: pages and their JSON/CSV twins, statistics, the terminal report."""

from pathlib import Path

STATIC = Path(__file__).parent / "static"
