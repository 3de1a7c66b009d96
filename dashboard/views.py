"""Server-rendered dashboard pages. Each view: load site → report (storage + statistics) → template.

Every page has a JSON twin in dashboard/api.py built from the same report function, and its
filters live in the URL, so a page can be bookmarked, shared and exported as it is shown.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ctrlens.collector.errors import CtrlensError
from ctrlens.collector.events import KINDS
from ctrlens.dashboard.accounts import account_report
from ctrlens.dashboard.api import (
    collector_url,
    live_status,
    load_site,
    query_choice,
    query_filters,
    query_sort,
    site_period,
    variant_filter,
)
from ctrlens.dashboard.auth import Auth, check_csrf, login_required, safe_next
from ctrlens.dashboard.breakdowns import DIMENSION_LABELS, element_detail
from ctrlens.dashboard.charts import ctr_chart, interval_plot, sparkline
from ctrlens.dashboard.experiments import NO_VARIANT, variant_report
from ctrlens.dashboard.periods import PRESET_LABELS, Period
from ctrlens.dashboard.ratings import parse_thresholds
from ctrlens.dashboard.reports import GROUPS, overview as overview_report, site_rating_settings
from ctrlens.dashboard.series import INTERVALS, default_interval, element_series, label
from ctrlens.dashboard.site_settings import apply_changes, form_changes, settings_json, timezones
from ctrlens.dashboard.templating import render


async def login(request: Request) -> Response:
    auth: Auth = request.app.state.auth
    next_url = safe_next(request.query_params.get("next"))
    error = None
    status = 200
    if request.method == "POST":
        form = await check_csrf(request)
        client = request.client.host if request.client else ""
        if auth.throttle.blocked(client):
            error, status = "Too many failed attempts. Wait a minute and try again.", 429
        elif await auth.check(form.get("token", "")):
            await auth.sign_in(request)
            return RedirectResponse(safe_next(form.get("next")), status_code=303)
        else:
            auth.throttle.failed(client)
            error, status = "That token is not right.", 401
    return render(request, "login.html", {"next": next_url, "error": error}, status_code=status)


async def logout(request: Request) -> Response:
    await check_csrf(request)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@login_required
async def home(request: Request) -> Response:
    sites = await request.app.state.storage.list_sites()
    if len(sites) == 1:
        return RedirectResponse(f"/sites/{sites[0].key}", status_code=303)
    return render(request, "sites.html", {"sites": sites})


def _page_context(request: Request, site: Any, period: Period, tab: str) -> dict[str, Any]:
    """What base.html and the period bar need on every site page."""
    params = dict(request.query_params)
    return {
        "site": site,
        "period": period,
        "tab": tab,
        "params": params,
        "period_params": period.query(),
        "presets": PRESET_LABELS,
        "site_url": f"/sites/{quote(site.key, safe='')}",
        "api_url": f"/api/sites/{quote(site.key, safe='')}",
    }


async def _dropped(request: Request, site: Any, period: Period) -> dict[str, int]:
    return await request.app.state.storage.rejection_counts(site.key, period.day_from, period.day_to)


@login_required
async def overview(request: Request) -> Response:
    site = await load_site(request)
    period = site_period(request, site)
    group = query_choice(request, "group", GROUPS, "none") or "none"
    filters = query_filters(request)
    sort, direction = query_sort(request)
    result = await overview_report(request.app.state.storage, site, period, group, filters, (sort, direction))
    context = _page_context(request, site, period, "overview")
    # Each row links to its element page with the same period and, where they apply, filters.
    link = dict(period.query())
    if filters.variant is not None:
        link["variant"] = request.query_params.get("variant")
    if filters.page:
        link["page"] = filters.page
    for row in result.rows:
        row["spark"] = sparkline(row.get("sparkline", []))
        params = {**link, **({"variant": row["variant"] or NO_VARIANT} if group == "variant" else {}),
                  **({"page": row["page"]} if group == "page" else {})}
        row["detail_url"] = f"{context['site_url']}/elements/{quote(row['element'], safe='')}?{urlencode(params)}"
    return render(request, "overview.html", {
        **context,
        "result": result,
        "rows": result.rows,
        "group": group,
        "groups": GROUPS,
        "filters": filters,
        "variant_param": request.query_params.get("variant") or "",
        "kinds": KINDS,
        "sort": sort,
        "dir": direction,
        "no_variant": NO_VARIANT,
        "dropped": await _dropped(request, site, period),
        "previous": period.previous(),
    })


@login_required
async def element(request: Request) -> Response:
    site = await load_site(request)
    period = site_period(request, site)
    name = request.path_params["element"]
    filters = query_filters(request)
    storage = request.app.state.storage
    interval = query_choice(request, "interval", INTERVALS, default_interval(period)) or "day"
    if interval == "hour" and period.days > 31:
        interval = "day"
    detail = await element_detail(storage, site, period, name, filters.variant, filters.page)
    chart = None
    points: list[dict[str, Any]] = []
    if detail:
        points = await element_series(storage, site.key, name, period, interval, filters.variant, filters.page)
        thresholds, _ = site_rating_settings(site)
        bounds = thresholds or parse_thresholds(None)
        labels = [label(p, interval) for p in points]
        chart = ctr_chart(points, labels, bounds.get(detail["kind"]))
    context = _page_context(request, site, period, "overview")
    element_url = f"{context['site_url']}/elements/{quote(name, safe='')}"
    return render(request, "element.html", {
        **context,
        "name": name,
        "detail": detail,
        "chart": chart,
        "points": points,
        "step": interval,
        "intervals": INTERVALS,
        "filters": filters,
        "variant_param": request.query_params.get("variant") or "",
        "no_variant": NO_VARIANT,
        "labels": DIMENSION_LABELS,
        "element_url": element_url,
        "element_api": f"{context['api_url']}/elements/{quote(name, safe='')}",
    })


@login_required
async def variants(request: Request) -> Response:
    site = await load_site(request)
    period = site_period(request, site)
    control = variant_filter(request.query_params.get("control"))
    rows = await variant_report(request.app.state.storage, site, period, control)
    for row in rows:
        row["plot"] = interval_plot([
            (row["control"] or NO_VARIANT, row["control_ctr"], row["control_low"], row["control_high"]),
            (row["treatment"] or NO_VARIANT, row["treatment_ctr"], row["treatment_low"], row["treatment_high"]),
        ])
    names = sorted({r["control"] for r in rows} | {r["treatment"] for r in rows})
    context = _page_context(request, site, period, "variants")
    return render(request, "variants.html", {
        **context, "rows": rows, "control": control, "names": names, "no_variant": NO_VARIANT,
    })


@login_required
async def accounts(request: Request) -> Response:
    site = await load_site(request)
    period = site_period(request, site)
    element_name = request.query_params.get("element") or None
    storage = request.app.state.storage
    report = await account_report(storage, site, period, element_name)
    everything = report if element_name is None else await account_report(storage, site, period)
    context = _page_context(request, site, period, "accounts")
    return render(request, "accounts.html", {
        **context,
        "report": report,
        "element": element_name,
        "elements": [e["element"] for e in sorted(everything["elements"], key=lambda e: e["element"])],
    })


@login_required
async def settings(request: Request) -> Response:
    site = await load_site(request)
    storage = request.app.state.storage
    error = None
    saved = request.query_params.get("saved") == "1"
    status = 200
    form: dict[str, str] | None = None
    if request.method == "POST":
        form = await check_csrf(request)
        try:
            name, origins, changed = apply_changes(site, form_changes(form))
        except CtrlensError as exc:
            error, status, saved = exc.message, 400, False
        else:
            await storage.update_site(site.key, name=name, origins=origins, settings=changed)
            request.app.state.collector.forget_site(site.key)
            return RedirectResponse(f"/sites/{quote(site.key, safe='')}/settings?saved=1", status_code=303)
    period = site_period(request, site)
    data = settings_json(site, request.app.state.config.retention_days, collector_url(request))
    context = _page_context(request, site, period, "settings")
    return render(request, "settings.html", {
        **context,
        "settings": data,
        "timezones": timezones(),
        "error": error,
        "form": form,
        "saved": saved,
        "dropped": await storage.rejection_counts(site.key),
        "samples": (await storage.rejected_samples(site.key, limit=5)),
        "kinds": KINDS,
        "live": await live_status(storage, site),
    }, status_code=status)


routes = [
    Route("/login", login, methods=["GET", "POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/", home),
    Route("/sites/{site}", overview),
    Route("/sites/{site}/elements/{element:path}", element),
    Route("/sites/{site}/variants", variants),
    Route("/sites/{site}/accounts", accounts),
    Route("/sites/{site}/settings", settings, methods=["GET", "POST"]),
]
