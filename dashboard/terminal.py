"""`ctrlens report SITE`: the overview table in the terminal (rich), or CSV / JSON for scripts.

The rows are the same `dashboard.reports.overview` rows the dashboard and
`/api/sites/{site}/elements` show, so all three always agree.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from typing import Any, TextIO

from rich.cells import cell_len
from rich.console import Console, JustifyMethod
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from ctrlens.collector.errors import InvalidRequest, NotFound
from ctrlens.collector.events import KINDS
from ctrlens.collector.storage import Storage
from ctrlens.dashboard.diagnosis import DIAGNOSIS_LABELS
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
    parser.add_argument("--goal", help="the goal of the conversion columns (default: the site's first goal)")
    parser.add_argument("--format", choices=FORMATS, default="table", help="table (default), csv or json")


def _percent(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value * 100:.{digits}f}%"


def _change(row: dict[str, Any]) -> Text:
    rel = row.get("change_rel")
    if rel is None:
        return Text("–", style="dim")
    style = "green" if rel > 0 else "red" if rel < 0 else ""
    return Text(f"{'+' if rel > 0 else '−' if rel < 0 else '±'}{abs(rel) * 100:.0f}%", style=style)


@dataclass(frozen=True)
class Column:
    """One column of the terminal table. At narrow widths columns are left out, the highest
    `keep` first; 0 is always shown."""

    header: str
    keep: int  # 0: always shown
    justify: JustifyMethod = "left"
    flexible: bool = False  # names: shortened with an ellipsis rather than dropped


#: Borders and padding rich's default table spends: three cells a column, one more at the end.
COLUMN_FRAME = 3
#: The narrowest a name column is made before less important columns are dropped for it.
MIN_NAME_WIDTH = 14


def _columns(group: str) -> list[Column]:
    columns = [Column("Element", 0, flexible=True), Column("Kind", 1)]
    if group != "none":
        columns.append(Column(group.capitalize(), 0, flexible=True))
    return columns + [
        Column("Impressions", 3, "right"), Column("Clicks", 5, "right"), Column("CTR", 0, "right"),
        Column("95% interval", 2, "right"), Column("Rating", 0), Column("Visitor CTR", 4, "right"),
        Column("vs previous", 6, "right"),
        # The funnel (docs/design.md §4): the first columns to go on a narrow terminal.
        Column("Seen/present", 7, "right"), Column("Conv.", 9, "right"), Column("Diagnosis", 8),
    ]


def _cells(r: dict[str, Any], group: str) -> list[Text]:
    rating = Text(RATING_LABELS[r["rating"]], style=RATING_STYLES[r["rating"]])
    if not r["rating_firm"] and r["rating"] != "insufficient":
        rating.append(" ?")
    cells = [Text(r["element"]), Text(r["kind"])]
    if group != "none":
        cells.append(Text(r[group] or NO_VARIANT))
    return cells + [
        Text(f"{r['impressions']:,}"), Text(f"{r['clicks']:,}"), Text(_percent(r["ctr"]), style="bold"),
        Text(f"{_percent(r['ctr_low'])} – {_percent(r['ctr_high'])}"), rating,
        Text(_percent(r["visitor_ctr"])), _change(r),
        Text(_percent(r["viewability_rate"], 0)),
        Text("–" if r["conversions"] is None else f"{r['conversions']:,}"),
        Text(DIAGNOSIS_LABELS[r["diagnosis"]]),
    ]


def _fit(columns: list[Column], natural: list[int], width: int) -> tuple[list[int], list[int]]:
    """Which columns to show and how wide: every column at its natural width if the terminal is
    wide enough; else names are shortened down to MIN_NAME_WIDTH, then the least important
    columns are dropped. Names are never wrapped onto a second line: a name in pieces is misread."""
    shown = list(range(len(columns)))
    droppable = sorted((i for i, c in enumerate(columns) if c.keep), key=lambda i: -columns[i].keep)
    while True:
        fixed = sum(natural[i] for i in shown if not columns[i].flexible)
        flexible = [i for i in shown if columns[i].flexible]
        room = width - fixed - COLUMN_FRAME * len(shown) - 1
        if room >= MIN_NAME_WIDTH * len(flexible) or not droppable:
            break
        shown.remove(droppable.pop(0))
    widths = {i: natural[i] for i in shown}
    # The room left is shared between the name columns, the shorter name served first so that
    # what it does not need goes to the longer one.
    for served, i in enumerate(sorted(flexible, key=lambda i: natural[i])):
        share = room // (len(flexible) - served)
        widths[i] = min(natural[i], max(share, MIN_NAME_WIDTH))
        room -= widths[i]
    return shown, [widths[i] for i in shown]


def _table(payload: dict[str, Any], group: str, width: int) -> Table:
    rows = [_cells(r, group) for r in payload["elements"]]
    columns = _columns(group)
    natural = [
        max([cell_len(c.header), *(cell_len(row[i].plain) for row in rows)]) for i, c in enumerate(columns)
    ]
    shown, widths = _fit(columns, natural, width)
    # Every value reaches rich as Text or escaped, never as markup: a name like `[/bold]` would
    # otherwise stop the report, and `[link=…]` would print a disguised hyperlink (docs/design.md §6).
    title = escape(f"{payload['site']} · {payload['from']} – {payload['to']} ({payload['timezone']})")
    caption = "? = tentative: the 95% interval reaches into another band"
    if len(shown) < len(columns):
        caption += f"; {len(columns) - len(shown)} columns left out at this width"
    table = Table(title=title, title_justify="left", caption_justify="left", caption=caption)
    for i, column_width in zip(shown, widths, strict=True):
        column = columns[i]
        table.add_column(column.header, justify=column.justify, no_wrap=True, overflow="ellipsis",
                         width=column_width if column.flexible else None)
    for row in rows:
        table.add_row(*(row[i] for i in shown))
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
        (args.sort, default_direction(args.sort)), sparklines=False, goal=getattr(args, "goal", None),
    )
    payload = {
        "site": site.key, **period_json(period), "group": args.group, "goal": result.goal,
        "elements": result.rows,
    }
    if args.format == "json":
        json.dump(payload, out, indent=2)
        out.write("\n")
    elif args.format == "csv":
        out.write(csv_text(result.rows, element_columns(args.group)))
    elif not result.rows:
        out.write(f"No impressions for {site.key} between {period.start} and {period.end} ({period.tz}).\n")
    else:
        # rich reads the terminal's width (COLUMNS, or 80 when the output is not a terminal).
        console = Console(file=out, highlight=False)
        console.print(_table(payload, args.group, console.width))
    return 0


def validate(args: argparse.Namespace) -> None:
    if args.period and (args.date_from or args.date_to):
        raise InvalidRequest("give either --period or --from/--to, not both")
