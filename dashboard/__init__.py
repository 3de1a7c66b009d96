"""The dashboard: pages answering HTML, JSON and CSV, their statistics, the terminal report."""

from pathlib import Path

STATIC = Path(__file__).parent / "static"
