"""The period a page compares with, and how a CTR changed between the two (docs/design.md §4
"Around the numbers"): `compare=previous|year|custom`, with `compare_from`/`compare_to` for a
custom range. Every "vs" figure of the overview, its headline and the element page use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ctrlens.collector.errors import InvalidRequest
from ctrlens.collector.storage import Storage
from ctrlens.dashboard.periods import Period, parse_range

COMPARES = ("previous", "year", "custom")
COMPARE_LABELS = {"previous": "previous period", "year": "a year before", "custom": "custom range"}
DEFAULT_COMPARE = "previous"
#: What `ctr_change` adds to a row, in the order the CSV export writes them.
CHANGE_COLUMNS = ("previous_impressions", "previous_ctr", "change_abs", "change_rel", "change_reliable")


@dataclass(frozen=True)
class Comparison:
    mode: str  # one of COMPARES
    period: Period

    def query(self) -> dict[str, str]:
        """The URL parameters that choose this comparison again (none for the default)."""
        if self.mode == DEFAULT_COMPARE:
            return {}
        if self.mode == "year":
            return {"compare": "year"}
        return {
            "compare": "custom",
            "compare_from": self.period.start.isoformat(),
            "compare_to": self.period.end.isoformat(),
        }

    def label(self) -> str:
        return f"{COMPARE_LABELS[self.mode]}, {self.period.label()}"

    def json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "from": self.period.start.isoformat(),
            "to": self.period.end.isoformat(),
            "days": self.period.days,
            "hour_from": self.period.hour_from,
            "hour_to": self.period.hour_to,
        }


def parse_comparison(params: Mapping[str, str], period: Period) -> Comparison:
    """The comparison the URL asks for. Dates alone mean `custom`; with `previous` or `year` the
    dates are ignored, so the page's picker can keep them in its form. A custom range is checked
    like `from`/`to` (a readable 400) and may have another length than the period."""
    custom_dates = bool(params.get("compare_from") or params.get("compare_to"))
    mode = params.get("compare") or ("custom" if custom_dates else DEFAULT_COMPARE)
    if mode not in COMPARES:
        raise InvalidRequest(f"compare must be one of {', '.join(COMPARES)}")
    if mode == "previous":
        return Comparison(mode, period.previous())
    if mode == "year":
        return Comparison(mode, period.year_before())
    if not (params.get("compare_from") and params.get("compare_to")):
        raise InvalidRequest("compare=custom needs compare_from and compare_to as YYYY-MM-DD")
    return Comparison(mode, parse_range(params, period.tz, period.end, "compare_from", "compare_to"))


def reliable(impressions: int, before_impressions: int, min_impressions: int) -> bool:
    """A change in CTR is worth showing only when both periods have enough impressions to be
    rated: below that, a swing of a few clicks reads as a dramatic rise or fall."""
    return impressions >= min_impressions and before_impressions >= min_impressions


def ctr_change(
    ctr: float, impressions: int, before: tuple[int, int] | None, min_impressions: int
) -> dict[str, Any]:
    """The CHANGE_COLUMNS of a row of CTR `ctr` over `impressions`, against `before` (clicks,
    impressions) of the comparison period: its CTR (None without impressions) and the change,
    absolute and relative, which is None unless `reliable`."""
    before_clicks, before_impressions = before or (0, 0)
    before_ctr = min(before_clicks, before_impressions) / before_impressions if before_impressions else None
    shown = before_ctr is not None and reliable(impressions, before_impressions, min_impressions)
    return {
        "previous_impressions": before_impressions,
        "previous_ctr": before_ctr,
        "change_abs": ctr - before_ctr if shown and before_ctr is not None else None,
        "change_rel": (ctr - before_ctr) / before_ctr if shown and before_ctr else None,
        "change_reliable": shown,
    }


async def element_before(
    storage: Storage, site: str, period: Period, element: str, variant: str | None, page: str | None
) -> tuple[int, int]:
    """One element's (clicks, impressions) over the comparison period, for the variant and page
    the element page shows."""
    cells = await storage.element_cells(site, period.hour_from, period.hour_to, element=element)
    kept = [c for c in cells if variant in (None, c["variant"]) and page in (None, c["page"])]
    return sum(c["clicks"] for c in kept), sum(c["impressions"] for c in kept)


def element_comparison(
    comparison: Comparison, summary: Mapping[str, Any] | None, before: tuple[int, int], min_impressions: int
) -> dict[str, Any]:
    """The element page's `compare`: the period compared with, the element's counts then and the
    change of its CTR (null unless both periods have `min_impressions`)."""
    clicks, impressions = before
    ctr, now = (summary["ctr"], summary["impressions"]) if summary else (0.0, 0)
    change = ctr_change(ctr, now, before, min_impressions)
    return {**comparison.json(), "impressions": impressions, "clicks": clicks, **change}
