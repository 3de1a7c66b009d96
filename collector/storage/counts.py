"""The counts a rollup row keeps, and sums of the read path's counts per element cell.

`rollups` (and the daily and weekly tables summed from it) count, per (site, element, variant,
page, hour): page views with an impression, how many of those came with a click
(`via_click`), page views with a click, every click, and distinct visitors (visitor-days,
docs/design.md §1) who saw and who clicked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from typing import Any


@dataclass(slots=True)
class RollupCounts:
    """One rollup row's counts, or what a batch adds to them (rollups.py)."""

    impressions: int = 0
    via_click: int = 0
    clicks: int = 0
    total_clicks: int = 0
    viewers: int = 0
    clickers: int = 0

    def add(self, other: RollupCounts) -> None:
        self.impressions += other.impressions
        self.via_click += other.via_click
        self.clicks += other.clicks
        self.total_clicks += other.total_clicks
        self.viewers += other.viewers
        self.clickers += other.clickers

    def values(self) -> tuple[int, int, int, int, int, int]:
        """In the order of COUNTS, the rollup tables' count columns."""
        return (self.impressions, self.via_click, self.clicks, self.total_clicks, self.viewers,
                self.clickers)


COUNTS = tuple(f.name for f in fields(RollupCounts))
CELL_KEYS = ("element", "variant", "page")
GROUP_KEYS = {"none": (), "variant": ("variant",), "page": ("page",)}


def group_cells(cells: Iterable[dict[str, Any]], group: str = "none") -> list[dict[str, Any]]:
    """Sum (element, variant, page) cells per element, or per element and variant / page."""
    extra = GROUP_KEYS[group]
    sums: dict[tuple[str, ...], dict[str, Any]] = {}
    for cell in cells:
        key = (cell["element"], *(cell[k] for k in extra))
        row = sums.get(key)
        if row is None:
            row = sums[key] = {"element": cell["element"], **{k: cell[k] for k in extra},
                               "kind": cell["kind"], **dict.fromkeys(COUNTS, 0)}
        for name in COUNTS:
            row[name] += cell[name]
    return [sums[key] for key in sorted(sums)]


def counts_dict(keys: Sequence[str], row: Sequence[Any]) -> dict[str, Any]:
    """A row of `keys`, kind and COUNTS as the read path's dict."""
    result: dict[str, Any] = dict(zip((*keys, "kind", *COUNTS), row, strict=True))
    for name in COUNTS:
        if type(result[name]) is not int:  # PostgreSQL's SUM of BIGINT is NUMERIC
            result[name] = int(result[name])
    return result
