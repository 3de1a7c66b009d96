"""`ctrlens report SITE`: the overview table in the terminal (rich), or CSV / JSON for scripts;
with `--variants`, the variants page's comparisons.

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
from ctrlens.collector.storage import Site, Storage
from ctrlens.dashboard.diagnosis import DIAGNOSIS_LABELS
from ctrlens.dashboard.experiment_settings import experiment_of, with_choices
from ctrlens.dashboard.experiments import (
    COMPARISON_COLUMNS,
    CORRECTION_NAMES,
    DECISION_LABELS,
    INFERENCE_NAMES,
    NO_VARIANT,
    experiment_period,
    judged_report,
    method_json,
    variant_label,
)
from ctrlens.dashboard.export import csv_text
from ctrlens.dashboard.inference import CORRECTIONS
from ctrlens.dashboard.periods import DEFAULT_PRESET, PRESETS, parse_period
from ctrlens.dashboard.query import variant_filter
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
from ctrlens.dashboard.statistics import INFERENCES

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
    # The variants page in the terminal (docs/design.md §4 "Variant verdicts").
    parser.add_argument("--variants", action="store_true",
                        help="the experiment's comparisons (control against each treatment) instead of the "
                        "elements; without --from/--to/--period, since the experiment's start")
    parser.add_argument("--control", help="with --variants: the control variant (default: the experiment's)")
    parser.add_argument("--inference", choices=INFERENCES,
                        help="with --variants: the test (default: the experiment setting)")
    parser.add_argument("--correction", choices=CORRECTIONS,
                        help="with --variants: the multiple-comparison correction (default: the setting)")


def _percent(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value * 100:.{digits}f}%"


def _signed(rel: float | None, digits: int = 0) -> Text:
    """A relative change with its sign, green up and red down; "–" when there is none."""
    if rel is None:
        return Text("–", style="dim")
    style = "green" if rel > 0 else "red" if rel < 0 else ""
    return Text(f"{'+' if rel > 0 else '−' if rel < 0 else '±'}{abs(rel) * 100:.{digits}f}%", style=style)


def _change(row: dict[str, Any]) -> Text:
    return _signed(row.get("change_rel"))


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


def _table(
    payload: dict[str, Any], columns: list[Column], rows: list[list[Text]], caption: str, width: int
) -> Table:
    natural = [
        max([cell_len(c.header), *(cell_len(row[i].plain) for row in rows)]) for i, c in enumerate(columns)
    ]
    shown, widths = _fit(columns, natural, width)
    # Every value reaches rich as Text or escaped, never as markup: a name like `[/bold]` would
    # otherwise stop the report, and `[link=…]` would print a disguised hyperlink (docs/design.md §6).
    title = escape(f"{payload['site']} · {payload['from']} – {payload['to']} ({payload['timezone']})")
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
    if getattr(args, "variants", False):
        return await _variants(storage, site, params, args, out)
    period = parse_period(params, site_timezone(site))
    result = await overview(
        storage, site, period, args.group, Filters(args.kind, args.variant, args.page),
        (args.sort, default_direction(args.sort)), goal=getattr(args, "goal", None),
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
        rows = [_cells(r, args.group) for r in result.rows]
        caption = "? = tentative: the 95% interval reaches into another band"
        console.print(_table(payload, _columns(args.group), rows, caption, console.width))
    return 0


async def _variants(
    storage: Storage, site: Site, params: dict[str, str], args: argparse.Namespace, out: TextIO
) -> int:
    """The variants page's comparisons, every one of them, judged as the API judges them."""
    experiment = with_choices(experiment_of(site.settings), args.inference, args.correction)
    period = await experiment_period(storage, site, experiment, params)
    control = variant_filter(args.control)
    judged = await judged_report(storage, site, period, experiment, control)
    rows = await judged.rows()
    payload = {
        "site": site.key, **period_json(period), **method_json(experiment, period), "comparisons": rows,
        "total_rows": len(rows),
    }
    if args.format == "json":
        json.dump(payload, out, indent=2)
        out.write("\n")
    elif args.format == "csv":
        out.write(csv_text(rows, COMPARISON_COLUMNS))
    elif not rows:
        out.write(f"No element of {site.key} was seen in two or more variants between {period.start} and "
                  f"{period.end} ({period.tz}).\n")
    else:
        console = Console(file=out, highlight=False)
        caption = (
            f"{INFERENCE_NAMES[experiment.inference].capitalize()} test at 5%, visitor-days as units; "
            f"p-values adjusted with {CORRECTION_NAMES[experiment.correction]} across all {len(rows)} "
            "comparisons"
        )
        cells = [_comparison_cells(r) for r in rows]
        console.print(_table(payload, _COMPARISON_COLUMNS, cells, caption, console.width))
    return 0


_COMPARISON_COLUMNS = [
    Column("Element", 0, flexible=True), Column("Treatment vs control", 0, flexible=True),
    Column("Impressions", 4, "right"), Column("Rate (control → treatment)", 0, "right"),
    Column("Lift", 0, "right"), Column("Interval of the difference", 3, "right"),
    Column("p adjusted", 2, "right"), Column("Verdict", 0), Column("Decision", 1),
    Column("Beside it", 5, "right"),
]


def _comparison_cells(r: dict[str, Any]) -> list[Text]:
    beside = "–"
    if r["control_secondary_rate"] is not None:
        beside = f"{'CTR' if r['secondary_metric'] == 'ctr' else 'conv./impr.'} "
        beside += f"{_percent(r['control_secondary_rate'])} → {_percent(r['treatment_secondary_rate'])}"
        beside += " (opposite way)" if r["metrics_disagree"] else ""
    return [
        Text(r["element"]),
        Text(f"{variant_label(r['treatment'])} vs {variant_label(r['control'])}"),
        Text(f"{r['control_impressions']:,} / {r['treatment_impressions']:,}"),
        Text(f"{_percent(r['control_ctr'])} → {_percent(r['treatment_ctr'])}", style="bold"),
        _signed(r["lift_rel"], 1),
        Text(f"{r['diff_low'] * 100:+.2f} to {r['diff_high'] * 100:+.2f} pts"),
        Text("<0.001" if r["p_adjusted"] < 0.001 else f"{r['p_adjusted']:.3f}"),
        Text(r["verdict"]),
        Text(DECISION_LABELS[r["decision"]]),
        Text(beside, style="yellow" if r["metrics_disagree"] else ""),
    ]


def validate(args: argparse.Namespace) -> None:
    if args.period and (args.date_from or args.date_to):
        raise InvalidRequest("give either --period or --from/--to, not both")
    if not getattr(args, "variants", False):
        for name in ("control", "inference", "correction"):
            if getattr(args, name, None):
                raise InvalidRequest(f"--{name} goes with --variants")
