"""One element in depth: its totals (impression, visitor and account CTR side by side) and its
counts broken down by variant, page, traffic source, device class and account.

Variant and page come from the rollups (exact in the site's time zone); source, device and
account from the `breakdowns` table, and utm_campaign from `segments` (segments.py), both kept
per UTC day, so for a site in another time zone those four cover the UTC days the range overlaps.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ctrlens.collector.errors import InvalidRequest
from ctrlens.collector.storage import Site, Storage
from ctrlens.collector.storage.reads import group_cells
from ctrlens.dashboard.accounts import account_ctr
from ctrlens.dashboard.periods import Period
from ctrlens.dashboard.reports import RATED_COLUMNS, element_row, rated
from ctrlens.dashboard.site_settings import rating_settings

DIMENSIONS = ("variant", "page", "source", "campaign", "device", "account")
#: Dimensions whose rows link to the overview filtered by their value (docs/design.md §4).
FILTER_DIMENSIONS = ("variant", "page", "source", "campaign", "device")
BREAKDOWN_COLUMNS = ("value", "impressions", "clicks", "total_clicks", *RATED_COLUMNS)
DIMENSION_LABELS = {
    "variant": "Variant",
    "page": "Page",
    "source": "Referrer / utm_source",
    "campaign": "utm_campaign",
    "device": "Device",
    "account": "Account",
}


def _rows(
    counts: list[dict[str, Any]], kind: str, thresholds: Any, min_impressions: int
) -> list[dict[str, Any]]:
    rows = [
        {
            "value": c["value"],
            "impressions": c["impressions"],
            "clicks": c["clicks"],
            "total_clicks": c["total_clicks"],
            **rated(c, kind, thresholds, min_impressions),
        }
        for c in counts
        if c["impressions"] > 0
    ]
    rows.sort(key=lambda r: (-r["impressions"], r["value"]))
    return rows


async def breakdown(
    storage: Storage,
    site: Site,
    period: Period,
    element: str,
    by: str,
    kind: str,
    variant: str | None = None,
    page: str | None = None,
) -> list[dict[str, Any]]:
    """Rows of BREAKDOWN_COLUMNS, most impressions first."""
    if by not in DIMENSIONS:
        raise InvalidRequest(f"by must be one of {', '.join(DIMENSIONS)}")
    thresholds, min_impressions = rating_settings(site)
    if by in ("variant", "page"):
        cells = await storage.element_cells(site.key, period.hour_from, period.hour_to, element=element)
        cells = [
            c
            for c in cells
            if (variant is None or c["variant"] == variant) and (page is None or c["page"] == page)
        ]
        counts = [{"value": g[by], **g} for g in group_cells(cells, by)]
    elif by == "campaign":
        counts = await storage.segment_values(
            site.key, element, by, period.day_from, period.day_to, variant=variant, page=page
        )
    else:
        counts = await storage.breakdown_counts(
            site.key, element, by, period.day_from, period.day_to, variant
        )
    return _rows(counts, kind, thresholds, min_impressions)


async def element_detail(
    storage: Storage,
    site: Site,
    period: Period,
    element: str,
    variant: str | None = None,
    page: str | None = None,
) -> dict[str, Any] | None:
    """Everything the element page shows except the time series; `None` when the element has
    no impressions in the period (an empty state, not an error)."""
    thresholds, min_impressions = rating_settings(site)
    all_cells = await storage.element_cells(site.key, period.hour_from, period.hour_to, element=element)
    cells = [
        c
        for c in all_cells
        if (variant is None or c["variant"] == variant) and (page is None or c["page"] == page)
    ]
    if not cells:
        return None
    summary = element_row(group_cells(cells)[0], thresholds, min_impressions)
    kind = summary["kind"]
    days = (period.day_from, period.day_to)
    accounts, campaigns, *dimensions = await asyncio.gather(
        storage.account_counts(site.key, *days, element, variant),
        storage.segment_values(site.key, element, "campaign", *days, variant=variant, page=page),
        *(
            storage.breakdown_counts(site.key, element, by, *days, variant)
            for by in ("source", "device", "account")
        ),
    )
    viewed = {a["account"] for a in accounts if a["impressions"] > 0}
    clicked = {a["account"] for a in accounts if a["clicks"] > 0}
    summary.update(account_ctr(len(viewed), len(clicked)))

    breakdowns: dict[str, list[dict[str, Any]]] = {}
    for by in ("variant", "page"):
        counts = [{"value": g[by], **g} for g in group_cells(cells, by)]
        breakdowns[by] = _rows(counts, kind, thresholds, min_impressions)
    for by, counts in zip(("source", "device", "account"), dimensions, strict=True):
        breakdowns[by] = _rows(counts, kind, thresholds, min_impressions)
    breakdowns["campaign"] = _rows(campaigns, kind, thresholds, min_impressions)
    return {
        "element": element,
        "kind": kind,
        "variants": sorted({c["variant"] for c in all_cells}),
        "pages": sorted({c["page"] for c in all_cells}),
        "summary": summary,
        "breakdowns": breakdowns,
    }
