"""Account CTR and per-account counts (`/sites/{site}/accounts`, `/api/sites/{site}/accounts`)."""

from __future__ import annotations

from starlette.requests import Request

from ctrlens.dashboard import query
from ctrlens.dashboard.accounts import ACCOUNT_COLUMNS, account_report
from ctrlens.dashboard.negotiation import Rendering
from ctrlens.dashboard.pages import Answer, Table, page, site_chrome
from ctrlens.dashboard.reports import period_json


@page("accounts.html", table=True)
async def accounts(request: Request, rendering: Rendering) -> Answer:
    site = await query.load_site(request)
    period = query.site_period(request, site)
    element = request.query_params.get("element") or None
    variant = query.variant_filter(request.query_params.get("variant"))
    storage = request.app.state.storage
    report = await account_report(storage, site, period, element, variant)
    data = {"site": site.key, **period_json(period), "element": element, **report}
    answer = Answer(data, Table(report["accounts"], ACCOUNT_COLUMNS, f"{site.key}-accounts"))
    if rendering == "html":
        # The element menu lists every element with accounts, not only the chosen one.
        everything = report if element is None else await account_report(storage, site, period, None, variant)
        answer.context = {
            **site_chrome(request, site, period, "accounts"),
            "element_names": sorted(e["element"] for e in everything["elements"]),
        }
    return answer
