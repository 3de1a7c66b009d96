"""The filters that narrow the whole overview (docs/design.md §4 "Around the numbers"): kind,
variant and page, which the hourly rollups answer, and traffic source, `utm_campaign` and device
class, which only `segments` (collector/storage/segments.py) answers, per UTC day; plus the
search on element names.

Under a segment filter the overview's cells come from `segments`, and the columns it does not
keep (distinct visitors, the funnel) are not available: None in JSON, "–" on the page.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from ctrlens.collector.storage import Storage
from ctrlens.collector.storage.ranges import week_of
from ctrlens.collector.storage.segments import Segment
from ctrlens.dashboard.funnel import FUNNEL_COLUMNS
from ctrlens.dashboard.periods import Period

#: The filters a URL carries besides kind, in the order the filter bar shows them.
URL_FILTERS = ("variant", "page", "source", "campaign", "device")
#: Columns `segments` cannot answer: None while a segment filter is on.
NOT_AVAILABLE = (
    "viewers", "clickers", "visitor_ctr", *(c for c in FUNNEL_COLUMNS if not c.startswith("diagnosis"))
)
NOT_AVAILABLE_TOTALS = ("conversions", "unattributed", "site_post_click_rate")


@dataclass(frozen=True)
class Filters:
    kind: str | None = None
    variant: str | None = None
    page: str | None = None
    source: str | None = None
    campaign: str | None = None
    device: str | None = None
    search: str | None = None  # casefolded: rows whose element name holds it

    @property
    def segment(self) -> Segment:
        return Segment(self.source, self.campaign, self.device)

    def keep(self, cell: dict[str, Any]) -> bool:
        return (
            (self.variant is None or cell["variant"] == self.variant)
            and (self.page is None or cell["page"] == self.page)
            and (self.search is None or self.search in cell["element"].casefold())
        )

    def matches(self, element: str) -> bool:
        return self.search is None or self.search in element.casefold()


NO_FILTERS = Filters()


def period_cells(
    storage: Storage, site: str, period: Period, filters: Filters
) -> Awaitable[list[dict[str, Any]]]:
    """The (element, variant, page) cells of a period: from the rollups (exact hours), or under a
    segment filter from `segments` (the UTC days the period overlaps)."""
    if filters.segment.active:
        return storage.segment_cells(site, period.day_from, period.day_to, filters.segment, filters.kind)
    return storage.element_cells(site, period.hour_from, period.hour_to, kind=filters.kind)


async def segment_sparkline_counts(
    storage: Storage,
    site: str,
    first: int,
    last: int,
    filters: Filters,
    weekly: bool,
    elements: Sequence[str] | None = None,
) -> list[tuple[str, int, int, int]]:
    """(element, day or week, impressions, clicks) within the segment for days or weeks
    [first, last]: the sparklines' counts under a segment filter (of `elements` only, when given)."""
    args = (filters.segment, filters.kind, filters.variant, filters.page, elements)
    if not weekly:
        return await storage.segment_days(site, first, last, *args)
    # Weeks run Monday to Sunday (ranges.week_of): from the first week's Monday to the last's Sunday.
    rows = await storage.segment_days(site, 7 * first - 3, 7 * last + 3, *args)
    sums: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0])
    for element, day, impressions, clicks in rows:
        counts = sums[(element, week_of(day))]
        counts[0] += impressions
        counts[1] += clicks
    return [(element, week, i, c) for (element, week), (i, c) in sums.items()]


def mark_not_available(rows: list[dict[str, Any]], totals: dict[str, Any]) -> None:
    """Blank what `segments` cannot answer, rather than show a number for another population."""
    for row in rows:
        row.update(dict.fromkeys(NOT_AVAILABLE))
    totals.update(dict.fromkeys(NOT_AVAILABLE_TOTALS))


#: How the filter bar names each filter.
FILTER_LABELS = {
    "kind": "Kind",
    "variant": "Variant",
    "page": "Page",
    "source": "Source",
    "campaign": "Campaign",
    "device": "Device",
    "q": "Name contains",
}


def filter_chips(params: Mapping[str, str], base_url: str) -> list[dict[str, str]]:
    """One chip per filter in the URL, with the URL that removes it (and goes back to the first
    page, since the rows change)."""
    chips = []
    for name, label in FILTER_LABELS.items():
        value = params.get(name)
        if not value:
            continue
        kept = {k: v for k, v in params.items() if k not in (name, "offset") and v}
        chips.append({
            "name": name,
            "label": label,
            "value": value,
            "remove_url": f"{base_url}?{urlencode(kept)}" if kept else base_url,
        })
    return chips


def breakdown_links(
    base_url: str, params: Mapping[str, str], period_params: Mapping[str, str], dimensions: Sequence[str]
) -> dict[str, str]:
    """Per breakdown dimension, the overview URL that applies a row's value as a filter, less the
    value (it ends in `name=`): the period and the filters already on are kept."""
    kept = dict(period_params)
    kept.update({name: params[name] for name in URL_FILTERS if params.get(name)})
    links = {}
    for name in dimensions:
        others = {k: v for k, v in kept.items() if k != name}
        links[name] = f"{base_url}?{urlencode(others)}{'&' if others else ''}{name}="
    return links
