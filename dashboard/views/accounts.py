"""Account CTR and per-account counts (`/sites/{site}/accounts`, `/api/sites/{site}/accounts`):
accounts seen -> clicked -> converted, for the chosen goal (docs/design.md §4 "Accounts")."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from ctrlens.collector.storage import Storage
from ctrlens.dashboard import query
from ctrlens.dashboard.accounts import ACCOUNT_COLUMNS, account_report
from ctrlens.dashboard.export import download_name
from ctrlens.dashboard.funnel import choose_goal
from ctrlens.dashboard.negotiation import Rendering
from ctrlens.dashboard.pages import Answer, Table, page, site_chrome
from ctrlens.dashboard.reports import period_json
from ctrlens.dashboard.views.overview import goal_param

#: The accounts table's CSV columns: the counts, then the chosen goal's conversions.
COLUMNS = (*ACCOUNT_COLUMNS, "conversions", "conversion_value")


@page("accounts.html", table=True)
async def accounts(request: Request, rendering: Rendering) -> Answer:
    site = await query.load_site(request)
    period = query.site_period(request, site)
    element = request.query_params.get("element") or None
    variant = query.variant_filter(request.query_params.get("variant"))
    storage = request.app.state.storage
    report = await account_report(storage, site, period, element, variant)
    goal = choose_goal(goal_param(request), await storage.goals(site.key))
    converted = await _conversions(storage, site.key, goal, period.day_from, period.day_to, element, variant)
    _add_conversions(report, converted, goal)
    data = {"site": site.key, **period_json(period), "element": element, "goal": goal, **report}
    table = Table(report["accounts"], COLUMNS, download_name(site.key, "accounts", period))
    answer = Answer(data, table)
    if rendering == "html":
        # The element menu lists every element with accounts, not only the chosen one.
        everything = report if element is None else await account_report(storage, site, period, None, variant)
        answer.context = {
            **site_chrome(request, site, period, "accounts"),
            "element_names": sorted(e["element"] for e in everything["elements"]),
        }
    return answer


async def _conversions(
    storage: Storage, site: str, goal: str | None, day_from: int, day_to: int, element: str | None,
    variant: str | None,
) -> dict[str, tuple[int, float]]:
    """The goal's conversions per account: those credited to `element`, or all of them."""
    if goal is None:
        return {}
    per_account: dict[str, tuple[int, float]] = {}
    counts = await storage.goal_accounts(site, goal, day_from, day_to, element, variant)
    for (_, account), (n, value) in counts.items():
        before = per_account.get(account, (0, 0.0))
        per_account[account] = (before[0] + n, before[1] + value)
    return per_account


def _add_conversions(
    report: dict[str, Any], converted: dict[str, tuple[int, float]], goal: str | None
) -> None:
    """Seen -> clicked -> converted: each account's conversions and `accounts_converted`, the
    accounts that saw an element and converted (null without a goal)."""
    for row in report["accounts"]:
        n, value = converted.get(row["account"], (0, 0.0)) if goal else (None, None)
        row.update(conversions=n, conversion_value=value)
    report["accounts_converted"] = (
        sum(1 for row in report["accounts"] if row["conversions"]) if goal else None
    )
