"""CSV text for every table: the pages' CSV rendering and `ctrlens report --format csv`."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from ctrlens.dashboard.periods import Period


def csv_text(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    columns = list(columns or (rows[0].keys() if rows else []))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_cell(row.get(c)) for c in columns])
    return out.getvalue()


def download_name(site: str, table: str, period: Period) -> str:
    """A CSV download's file name (no `.csv`) naming its site, table and period, so that the
    downloads of several periods sit side by side: `demo-elements-2026-11-01_2026-11-30`."""
    return f"{site}-{table}-{period.start.isoformat()}_{period.end.isoformat()}"


def _cell(value: Any) -> Any:
    """One CSV cell: booleans as JSON writes them, lists joined with "; ", floats in full."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        value = "; ".join(str(v) for v in value)
    text = str(value)
    # Spreadsheets run cells starting with these as formulas (CSV injection), also after
    # leading spaces, which some of them skip.
    if (text[:1] in ("\t", "\r") or text.lstrip()[:1] in ("=", "+", "-", "@")) and not _is_number(text):
        return "'" + text
    return value


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
