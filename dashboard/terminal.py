"""`ctrlens report SITE`: the overview table in the terminal (rich), or CSV / JSON for scripts.

The rows are the same `dashboard.reports.overview` rows the dashboard and
`/api/sites/{site}/elements` show, so all three always agree.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ctrlens.collector.errors import InvalidRequest, NotFound
from ctrlens.collector.events import KINDS
from ctrlens.collector.storage import Storage
from ctrlens.dashboard.experiments import NO_VARIANT
from ctrlens.dashboard.export import csv_text
from ctrlens.dashboard.periods import DEFAULT_PRESET, PRESETS, parse_period
from ctrlens.dashboard.ratings import RATING_LABELS
from ctrlens.dashboard.reports import (
    DEFAULT_SORT,
    GROUPS,
    SORTS,
    Filters,
    default_direction,
    element_columns,
    overview,
    period_json,
)
from ctrlens.dashboard.site_settings import site_timezone

FORMATS = ("table", "csv", "json")
RATING_STYLES = {"good": "bold green", "average": "bold yellow", "poor": "bold red", "insufficient": "dim"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("site", help="the site key")
    parser.add_argument("--from", dest="date_from", metavar="YYYY-MM-DD", help="first day (site time zone)")
    parser.add_argument("--to", dest="date_to", metavar="YYYY-MM-DD", help="last day, inclusive")
    parser.add_argument("--period", choices=tuple(PRESETS),
                        help=f"a preset range ending today (default {DEFAULT_PRESET})")
    parser.add_argument("--group", choices=GROUPS, default="none",
                        help="one row per element, or per element and variant / page")
    parser.add_argument("--kind", choices=KINDS)
    parser.add_argument("--variant", help="only this variant")
    parser.add_argument("--page", help="only this page path")
    parser.add_argument("--sort", choices=SORTS, default=DEFAULT_SORT[0])
    parser.add_argument("--format", choices=FORMATS, default="table", help="table (default), csv or json")


def _percent(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value * 100:.{digits}f}%"


def _change(row: dict[str, Any]) -> Text:
    rel = row.get("change_rel")
    if rel is None:
        return Text("–", style="dim")
    style = "green" if rel > 0 else "red" if rel < 0 else ""
    return Text(f"{'+' if rel > 0 else '−' if rel < 0 else '±'}{abs(rel) * 100:.0f}%", style=style)


def _table(payload: dict[str, Any], group: str) -> Table:
    rows = payload["elements"]
    title = f"{payload['site']} · {payload['from']} – {payload['to']} ({payload['timezone']})"
    table = Table(title=title, title_justify="left", caption_justify="left",
                  caption="? = tentative: the 95% interval reaches into another band")
    table.add_column("Element", overflow="fold")
    table.add_column("Kind")
    if group != "none":
        table.add_column(group.capitalize(), overflow="fold")
    for name in ("Impressions", "Clicks", "CTR", "95% interval"):
        table.add_column(name, justify="right")
    table.add_column("Rating")
    table.add_column("Visitor CTR", justify="right")
    table.add_column("vs previous", justify="right")
    for r in rows:
        rating = Text(RATING_LABELS[r["rating"]], style=RATING_STYLES[r["rating"]])
        if not r["rating_firm"] and r["rating"] != "insufficient":
            rating.append(" ?")
        cells: list[Any] = [r["element"], r["kind"]]
        if group != "none":
            cells.append(r[group] or NO_VARIANT)
        cells += [
            f"{r['impressions']:,}", f"{r['clicks']:,}", Text(_percent(r["ctr"]), style="bold"),
            f"{_percent(r['ctr_low'])} – {_percent(r['ctr_high'])}", rating, _percent(r["visitor_ctr"]),
            _change(r),
        ]
        table.add_row(*cells)
    return table


async def report(storage: Storage, args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    validate(args)
    site = await storage.get_site(args.site)
    if site is None:
        raise NotFound(f"unknown site {args.site!r}; see ctrlens site list")
    params = {k: v for k, v in (("from", args.date_from), ("to", args.date_to), ("period", args.period)) if v}
    period = parse_period(params, site_timezone(site))
    result = await overview(
        storage, site, period, args.group, Filters(args.kind, args.variant, args.page),
        (args.sort, default_direction(args.sort)), sparklines=False,
    )
    payload = {"site": site.key, **period_json(period), "group": args.group, "elements": result.rows}
    if args.format == "json":
        json.dump(payload, out, indent=2)
        out.write("\n")
    elif args.format == "csv":
        out.write(csv_text(result.rows, element_columns(args.group)))
    elif not result.rows:
        out.write(f"No impressions for {site.key} between {period.start} and {period.end} ({period.tz}).\n")
    else:
        width = shutil.get_terminal_size((160, 24)).columns
        Console(file=out, width=width, highlight=False).print(_table(payload, args.group))
    return 0


def validate(args: argparse.Namespace) -> None:
    if args.period and (args.date_from or args.date_to):
        raise InvalidRequest("give either --period or --from/--to, not both")
