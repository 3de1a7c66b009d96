"""Account CTR (docs/design.md §1): accounts with a click / accounts with an impression, and per account.

Account-level views cluster by account (docs/design.md §4 "Intervals"): an element's impression
CTR across accounts has the delta-method interval with the account as the unit, because one
account's users see it many times and click alike; the account CTR counts each account once, so
Wilson applies as it is.

Accounts come from the `breakdowns` table (dimension `account`), which is kept per UTC day;
for a site in another time zone a range covers the UTC days it overlaps.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ctrlens.collector.storage import Site, Storage
from ctrlens.dashboard.inference import Moments
from ctrlens.dashboard.periods import Period
from ctrlens.dashboard.statistics import Arm, wilson_interval

ACCOUNT_COLUMNS = (
    "account", "impressions", "clicks", "total_clicks", "ctr", "ctr_low", "ctr_high", "clicked",
    "elements_seen", "elements_clicked",
)
ELEMENT_ACCOUNT_COLUMNS = ("element", "accounts_viewed", "accounts_clicked", "account_ctr",
                           "account_ctr_low", "account_ctr_high", "ctr", "ctr_low", "ctr_high")


def account_ctr(viewed: int, clicked: int) -> dict[str, Any]:
    """`accounts_clicked / accounts_viewed` with its 95% Wilson interval."""
    low, high = wilson_interval(clicked, viewed)
    return {
        "accounts_viewed": viewed,
        "accounts_clicked": clicked,
        "account_ctr": clicked / viewed if viewed else 0.0,
        "account_ctr_low": low,
        "account_ctr_high": high,
    }


def clustered_ctr(counts: list[tuple[int, int]]) -> dict[str, float]:
    """Impression CTR over (impressions, clicks) per account, its interval clustered by account."""
    moments = Moments(0, 0, 0, 0, 0, 0)
    for n, c in counts:
        c = min(c, n)
        moments = moments + Moments(1, n, c, n * n, c * c, n * c)
    arm = Arm(moments)
    low, high = arm.interval()
    return {"ctr": arm.ctr, "ctr_low": low, "ctr_high": high}


def summarize_accounts(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Fold (element, account) counts into per-account rows, per-element account CTR and the total.

    Pure: `rows` are `Storage.account_counts` results.
    """
    accounts: dict[str, dict[str, Any]] = {}
    elements: dict[str, dict[str, set[str]]] = defaultdict(lambda: {"viewed": set(), "clicked": set()})
    per_account: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for r in rows:
        if r["impressions"] <= 0:
            continue
        a = accounts.setdefault(r["account"], {
            "account": r["account"], "impressions": 0, "clicks": 0, "total_clicks": 0,
            "elements_seen": 0, "elements_clicked": 0,
        })
        a["impressions"] += r["impressions"]
        a["clicks"] += r["clicks"]
        a["total_clicks"] += r["total_clicks"]
        a["elements_seen"] += 1
        a["elements_clicked"] += 1 if r["clicks"] > 0 else 0
        elements[r["element"]]["viewed"].add(r["account"])
        per_account[r["element"]].append((r["impressions"], r["clicks"]))
        if r["clicks"] > 0:
            elements[r["element"]]["clicked"].add(r["account"])
    table = []
    for a in accounts.values():
        clicks = min(a["clicks"], a["impressions"])
        low, high = wilson_interval(clicks, a["impressions"])
        table.append({
            **a,
            "ctr": clicks / a["impressions"],
            "ctr_low": low,
            "ctr_high": high,
            "clicked": a["clicks"] > 0,
        })
    table.sort(key=lambda a: (-a["clicks"], -a["impressions"], a["account"]))
    per_element = [
        {
            "element": element,
            **account_ctr(len(sets["viewed"]), len(sets["clicked"])),
            **clustered_ctr(per_account[element]),
        }
        for element, sets in sorted(elements.items())
    ]
    per_element.sort(key=lambda e: (-e["account_ctr"], -e["accounts_viewed"], e["element"]))
    viewed = len(table)
    clicked = sum(1 for a in table if a["clicked"])
    return {**account_ctr(viewed, clicked), "accounts": table, "elements": per_element}


async def account_report(
    storage: Storage,
    site: Site,
    period: Period,
    element: str | None = None,
    variant: str | None = None,
) -> dict[str, Any]:
    rows = await storage.account_counts(site.key, period.day_from, period.day_to, element, variant)
    return summarize_accounts(rows)
