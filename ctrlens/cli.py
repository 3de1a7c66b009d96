"""The `ctrlens` command: serve, site, goal, token, demo, report."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ctrlens.collector.config import Config
from ctrlens.collector.errors import CtrlensError
from ctrlens.collector.sites import validate_origins, validate_site_key, validate_timezone
from ctrlens.collector.storage import Storage, is_postgres_url, open_storage, redacted


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        config = Config.load(_flags(args))
        return int(args.handler(config, args) or 0)
    except (CtrlensError, ValueError) as exc:
        message = exc.message if isinstance(exc, CtrlensError) else str(exc)
        print(f"ctrlens: {message}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", help="SQLite file path or postgresql:// URL (env CTRLENS_DB)")
    common.add_argument("--config", help="TOML configuration file (env CTRLENS_CONFIG)")

    server = argparse.ArgumentParser(add_help=False)
    server.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    server.add_argument("--port", type=int, help="port to listen on (default 8000)")
    server.add_argument(
        "--rate-limit",
        dest="rate_limit",
        type=float,
        help="POST /e requests per second per client IP; 0 turns it off (default 20)",
    )
    server.add_argument(
        "--trusted-proxy",
        dest="trusted_proxies",
        action="append",
        help="address or network of a reverse proxy whose X-Forwarded-For is believed (repeatable)",
    )

    parser = argparse.ArgumentParser(
        prog="ctrlens", description="Element-level click-through-rate analytics."
    )
    sub = parser.add_subparsers(dest="command")

    serve = sub.add_parser("serve", parents=[common, server], help="run the collector and dashboard")
    serve.add_argument("--workers", type=int, help="processes (PostgreSQL only; SQLite is single-writer)")
    serve.set_defaults(handler=_serve)

    site = sub.add_parser("site", help="manage sites")
    site_sub = site.add_subparsers(dest="site_command", required=True)
    add = site_sub.add_parser("add", parents=[common], help="add a site")
    add.add_argument("key", help="the site key used in data-site")
    add.add_argument(
        "--origin",
        dest="origins",
        action="append",
        required=True,
        help="an origin allowed to send events, e.g. https://shop.example (repeatable)",
    )
    add.add_argument("--name", help="display name (default: the key)")
    add.add_argument("--timezone", help="IANA time zone for the dashboard's days (default UTC)")
    add.set_defaults(handler=_site_add)
    listing = site_sub.add_parser("list", parents=[common], help="list sites")
    listing.set_defaults(handler=_site_list)

    goal = sub.add_parser("goal", help="manage a site's goals (conversions need none defined)")
    goal_sub = goal.add_subparsers(dest="goal_command", required=True)
    define = goal_sub.add_parser("add", parents=[common], help="define a goal, or change one")
    define.add_argument("site", help="the site key")
    define.add_argument("name", help="the goal's name, as in ctrlens('goal', NAME) or data-ctr-goal")
    define.add_argument("--path", help="a page path that is the conversion ('*': any text), /thank-you*")
    define.add_argument("--value", help="the value of a conversion sent without one")
    define.set_defaults(handler=_goal_add)
    goals = goal_sub.add_parser("list", parents=[common], help="list a site's goals")
    goals.add_argument("site", help="the site key")
    goals.set_defaults(handler=_goal_list)

    token = sub.add_parser("token", help="the dashboard's admin token")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    reset = token_sub.add_parser("reset", parents=[common], help="generate a new token and print it")
    reset.set_defaults(handler=_token_reset)

    demo = sub.add_parser(
        "demo", parents=[common, server], help="run the example site with simulated traffic"
    )
    demo.add_argument("--days", type=int, default=21, help="days of simulated traffic to seed (default 21)")
    demo.add_argument("--reset", action="store_true", help="start from an empty demo database")
    demo.set_defaults(handler=_demo)

    from ctrlens.dashboard.terminal import add_arguments as report_arguments

    report = sub.add_parser("report", parents=[common], help="print a site's elements with CTR and ratings")
    report_arguments(report)
    report.set_defaults(handler=_report)
    return parser


def _flags(args: argparse.Namespace) -> dict[str, Any]:
    names = ("db", "config", "host", "port", "workers", "rate_limit", "trusted_proxies")
    flags = {name: getattr(args, name, None) for name in names}
    if flags["trusted_proxies"]:
        flags["trusted_proxies"] = tuple(flags["trusted_proxies"])
    return flags


def _with_storage(config: Config, work: Any, create: bool = True) -> Any:
    """Run `work(storage)` on the configured database. Commands that only read (`create=False`)
    refuse a SQLite file that does not exist instead of creating an empty one: that is almost
    always a different --db / CTRLENS_DB than the one `serve` uses."""
    if not create and not is_postgres_url(config.db) and not Path(config.db).is_file():
        raise ValueError(
            f"no database at {config.db}: name the same one for every command with --db or CTRLENS_DB "
            "(ctrlens serve and ctrlens site add create it)"
        )

    async def run() -> Any:
        try:
            storage = await open_storage(config.db)
        except Exception as exc:  # refused, unknown host, bad password, no such file: one line
            raise ValueError(
                f"cannot open the database {redacted(config.db)}: {type(exc).__name__}: {exc}"
            ) from None
        try:
            return await work(storage)
        finally:
            await storage.close()

    return asyncio.run(run())


def _serve(config: Config, args: argparse.Namespace) -> int:
    if config.workers < 1:
        raise ValueError("--workers must be at least 1")
    if config.workers > 1 and not is_postgres_url(config.db):
        raise ValueError("SQLite has a single writer: --workers > 1 needs a postgresql:// database")
    _run_server(config)
    return 0


def _run_server(config: Config, extra_routes: list[Any] | None = None) -> None:
    from ctrlens import server
    from ctrlens.app import create_app
    from ctrlens.dashboard.auth import check_token_strength

    if config.token:
        check_token_strength(config.token)

    # Open (and migrate) the database once before serving: a database that cannot be reached is
    # one clear line here, not a traceback from every worker's startup.
    _with_storage(config, lambda storage: asyncio.sleep(0))
    if config.workers > 1 and extra_routes is None:  # the demo's extra routes run in one process
        server.run(config, "ctrlens.cli:worker_app", workers_environ=config.worker_environ())
        return
    server.run(config, create_app(config, extra_routes=extra_routes))


def worker_app() -> Any:
    """The application of one `ctrlens serve --workers N` process; uvicorn calls this."""
    from ctrlens import server
    from ctrlens.app import create_app

    config = Config.from_worker_environ()
    server.use_deadlines(config)
    return create_app(config)


def _site_add(config: Config, args: argparse.Namespace) -> int:
    key = validate_site_key(args.key)
    origins = validate_origins(args.origins)
    settings = {"timezone": validate_timezone(args.timezone)} if args.timezone else {}

    async def work(storage: Storage) -> None:
        if await storage.get_site(key):
            raise ValueError(f"site {key!r} exists already")
        await storage.add_site(key, args.name or key, origins, settings)

    _with_storage(config, work)
    print(f"added site {key!r} to {redacted(config.db)}; allowed origins: {', '.join(origins)}")
    print(f'install tag: <script defer src="https://YOUR-COLLECTOR/ctr.js" data-site="{key}"></script>')
    return 0


def _site_list(config: Config, args: argparse.Namespace) -> int:
    sites = _with_storage(config, lambda storage: storage.list_sites(), create=False)
    if not sites:
        print(f"no sites yet in {redacted(config.db)}: ctrlens site add KEY --origin https://your.site")
    for site in sites:
        print(f"{site.key}\t{site.name}\t{' '.join(site.origins)}")
    return 0


def _goal_add(config: Config, args: argparse.Namespace) -> int:
    from ctrlens.collector.errors import InvalidRequest
    from ctrlens.dashboard.views.goals import parse_goal

    try:
        name, path, value = parse_goal({"name": args.name, "path": args.path, "value": args.value})
    except InvalidRequest as exc:
        raise ValueError(exc.message) from None

    async def work(storage: Storage) -> Any:
        if await storage.get_site(args.site) is None:
            raise ValueError(f"unknown site {args.site!r}; see ctrlens site list")
        return await storage.define_goal(args.site, name, path, value)

    goal = _with_storage(config, work, create=False)
    print(
        f"goal {goal.name!r} of site {args.site!r}: path {goal.path or '(none)'}, "
        f"default value {goal.value if goal.value is not None else '(none)'}"
    )
    return 0


def _goal_list(config: Config, args: argparse.Namespace) -> int:
    async def work(storage: Storage) -> Any:
        if await storage.get_site(args.site) is None:
            raise ValueError(f"unknown site {args.site!r}; see ctrlens site list")
        return await storage.goals(args.site)

    goals = _with_storage(config, work, create=False)
    if not goals:
        print(f"no goals yet for {args.site!r}: ctrlens goal add {args.site} NAME [--path /thank-you*]")
    for goal in goals:
        value = "" if goal.value is None else goal.value
        print(f"{goal.name}\t{goal.path}\t{value}\t{'defined' if goal.defined else 'seen in conversions'}")
    return 0


def _token_reset(config: Config, args: argparse.Namespace) -> int:
    from ctrlens.dashboard.auth import reset_token

    if config.token:
        raise ValueError(
            "CTRLENS_TOKEN is set: the server would bring that token back at its next start. "
            "Change or unset CTRLENS_TOKEN instead of resetting the token"
        )
    token = _with_storage(config, reset_token, create=False)
    print(f"new admin token (shown once): {token}")
    return 0


def _report(config: Config, args: argparse.Namespace) -> int:
    from ctrlens.dashboard.terminal import report

    return int(_with_storage(config, lambda storage: report(storage, args), create=False))


def _demo(config: Config, args: argparse.Namespace) -> int:
    from ctrlens.dashboard.auth import TOKEN_KEY, digest, reset_token
    from ctrlens.demo import DEMO_SITE, example_routes, simulate_traffic

    if config.db == Config().db:
        config = config.replace(db=".ctrlens/demo.db")
    base = f"http://{config.host}:{config.port}"
    origins = sorted({base, f"http://localhost:{config.port}", f"http://127.0.0.1:{config.port}"})
    # The demo keeps its token beside its SQLite file (readable by this user only), so a restart
    # of the same demo signs in with the same token.
    token_file = None if is_postgres_url(config.db) else Path(config.db).with_suffix(".token")

    async def prepare(storage: Storage) -> tuple[str | None, bool, int]:
        site = await storage.get_site(DEMO_SITE)
        seeded = 0
        if site is None:
            await storage.add_site(DEMO_SITE, "Acme Analytics (demo)", origins)
            seeded = await simulate_traffic(storage, DEMO_SITE, days=args.days, base_url=base)
        else:
            await storage.update_site(DEMO_SITE, origins=sorted({*site.origins, *origins}))
        if config.token:
            return None, False, seeded
        kept = token_file.read_text().strip() if token_file and token_file.is_file() else ""
        if kept and await storage.get_meta(TOKEN_KEY) == digest(kept):
            return kept, True, seeded
        token = await reset_token(storage)
        if token_file:
            token_file.touch(mode=0o600)
            token_file.write_text(token + "\n")
        return token, False, seeded

    if args.reset and not is_postgres_url(config.db):
        for suffix in ("", "-wal", "-shm"):
            Path(config.db + suffix).unlink(missing_ok=True)
    print(f"preparing the demo database ({redacted(config.db)})…", flush=True)
    token, kept, seeded = _with_storage(config, prepare)
    if seeded:
        print(f"seeded {seeded:,} simulated events over {args.days} days")
    if config.token:
        token_line = "(your CTRLENS_TOKEN)"
    elif kept:
        token_line = f"{token}  (the same as last time, kept in {token_file})"
    else:
        token_line = f"{token}  (new: any earlier demo token no longer works)"
    print(
        "\n  ctrlens demo is running:\n"
        f"    example site (variant A or B):  {base}/example/\n"
        f"    dashboard:                      {base}/sites/{DEMO_SITE}\n"
        f"    admin token:                    {token_line}\n"
        "  Scroll the example page, click a few calls-to-action, then refresh the dashboard.\n"
        "  Browsers driven by scripts (headless Chrome, Playwright, Selenium) are dropped as bots\n"
        '  unless the site counts them: Settings → "Count known bots and crawlers".\n'
        "  Press Ctrl+C to stop; run ./dev.sh demo again to continue with the same data.\n",
        flush=True,
    )
    _run_server(config, extra_routes=example_routes())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
