"""Rows the dashboard, the JSON API and `ctrlens report` all show: storage counts + statistics."""

from __future__ import annotations

from typing import Any

from collector.storage import Site, Storage
from dashboard.periods import Period
from dashboard.ratings import DEFAULT_MIN_IMPRESSIONS, parse_thresholds, rate

GROUPS = ("none", "variant", "page")


def site_rating_settings(site: Site) -> tuple[dict[str, Any], int]:
    thresholds = parse_thresholds(site.settings["thresholds"]) if site.settings.get("thresholds") else None
    min_impressions = int(site.settings.get("min_impressions", DEFAULT_MIN_IMPRESSIONS))
    return thresholds, min_impressions


def element_row(counts: dict[str, Any], thresholds: Any, min_impressions: int) -> dict[str, Any]:
    rating = rate(counts["clicks"], counts["impressions"], counts["kind"], thresholds, min_impressions)
    viewers, clickers = counts["viewers"], counts["clickers"]
    row = {
        "element": counts["element"],
        "kind": counts["kind"],
    }
    for optional in ("variant", "page"):
        if optional in counts:
            row[optional] = counts[optional]
    row.update(
        impressions=counts["impressions"],
        clicks=counts["clicks"],
        total_clicks=counts["total_clicks"],
        ctr=rating.ctr,
        ctr_low=rating.low,
        ctr_high=rating.high,
        rating=rating.rating,
        rating_firm=rating.firm,
        viewers=viewers,
        clickers=clickers,
        visitor_ctr=min(1.0, clickers / viewers) if viewers else 0.0,
    )
    return row


async def element_report(
    storage: Storage,
    site: Site,
    period: Period,
    group: str = "none",
    kind: str | None = None,
    variant: str | None = None,
    page: str | None = None,
) -> list[dict[str, Any]]:
    thresholds, min_impressions = site_rating_settings(site)
    counts = await storage.element_counts(
        site.key, period.hour_from, period.hour_to, group, kind=kind, variant=variant, page=page
    )
    return [element_row(c, thresholds, min_impressions) for c in counts]
