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
    server.add_argument(
        "--public-url",
        dest="public_url",
        help="the address browsers reach ctrlens at, e.g. https://stats.shop.example: the install tag "
        "uses it, and an https one makes cookies Secure (env CTRLENS_PUBLIC_URL)",
    )
    server.add_argument(
        "--secret-file",
        dest="secret_file",
        help="the file holding the secret that keys visitor ids, made on first start (default: beside "
        "the SQLite file, or ./ctrlens.secret for PostgreSQL; env CTRLENS_SECRET gives it directly)",
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
    edit = site_sub.add_parser("edit", parents=[common], help="change a site's name or allowed origins")
    edit.add_argument("key", help="the site key")
    edit.add_argument(
        "--origin", dest="origins", action="append", help="an allowed origin, repeatable (replaces the list)"
    )
    edit.add_argument("--name", help="the new display name")
    edit.set_defaults(handler=_site_edit)
    remove = site_sub.add_parser("remove", parents=[common], help="remove a site and all its data")
    remove.add_argument("key", help="the site key")
    remove.add_argument("--yes", action="store_true", help="do not ask for confirmation (for scripts)")
    remove.set_defaults(handler=_site_remove)

    user = sub.add_parser("user", help="manage the people who sign in to the dashboard")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    user_add = user_sub.add_parser("add", parents=[common], help="add a user (asks for the password)")
    user_add.add_argument("name", help="the name to sign in with")
    user_add.add_argument("--role", choices=("admin", "viewer"), default="viewer", help="default: viewer")
    user_add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    user_add.set_defaults(handler=_user_add)
    user_list = user_sub.add_parser("list", parents=[common], help="list users")
    user_list.set_defaults(handler=_user_list)
    user_remove = user_sub.add_parser("remove", parents=[common], help="remove a user and their tokens")
    user_remove.add_argument("name")
    user_remove.set_defaults(handler=_user_remove)
    user_password = user_sub.add_parser("password", parents=[common], help="set a user's password")
    user_password.add_argument("name")
    user_password.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    user_password.set_defaults(handler=_user_password)

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
    create = token_sub.add_parser("create", parents=[common], help="create a user's personal API token")
    create.add_argument("--user", required=True, help="the user the token acts as, with their role")
    create.add_argument("--name", default="", help="a label: what the token is for")
    create.set_defaults(handler=_token_create)

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

    alerts = sub.add_parser("alerts", help="the sites' alerts (webhook, e-mail)")
    alerts_sub = alerts.add_subparsers(dest="alerts_command", required=True)
    check = alerts_sub.add_parser(
        "check", parents=[common], help="check every site's alert conditions once and send what is new"
    )
    check.add_argument("site", nargs="?", help="only this site")
    check.set_defaults(handler=_alerts_check)
    return parser


def _flags(args: argparse.Namespace) -> dict[str, Any]:
    names = ["db", "config", "host", "port", "workers", "rate_limit", "trusted_proxies"]
    names += ["public_url", "secret_file"]
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
    from ctrlens.collector.privacy import visitor_secret
    from ctrlens.dashboard.auth import check_token_strength

    if config.token:
        check_token_strength(config.token)
    # Made here, once, so a weak secret is one line and worker processes all find the same file.
    visitor_secret(config)

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


def _alerts_check(config: Config, args: argparse.Namespace) -> int:
    from ctrlens.dashboard.alerts import check

    async def work(storage: Storage) -> Any:
        if args.site is not None and await storage.get_site(args.site) is None:
            raise ValueError(f"unknown site {args.site!r}; see ctrlens site list")
        return await check(storage, config, args.site)

    failed = False
    for outcome in _with_storage(config, work, create=False):
        sent = ", ".join(f"{a.condition} {a.key[1] or ''}".strip() for a in outcome.sent) or "none"
        print(f"{outcome.site}: {outcome.holding} holding, sent {len(outcome.sent)} ({sent}), "
              f"re-armed {len(outcome.rearmed)}")
        for failure in outcome.failures:
            failed = True
            print(f"{outcome.site}: not sent, retried at the next check: {failure}", file=sys.stderr)
    return 1 if failed else 0


def _site_edit(config: Config, args: argparse.Namespace) -> int:
    if not args.origins and args.name is None:
        raise ValueError("say what changes: --origin (repeatable) and/or --name")
    origins = validate_origins(args.origins) if args.origins else None
    if args.name is not None and not 0 < len(args.name.strip()) <= 128:
        raise ValueError("a site's name has 1 to 128 characters")

    async def work(storage: Storage) -> Any:
        site = await storage.update_site(args.key, name=args.name and args.name.strip(), origins=origins)
        if site is None:
            raise ValueError(f"unknown site {args.key!r}; see ctrlens site list")
        return site

    site = _with_storage(config, work, create=False)
    print(f"site {site.key!r}: name {site.name!r}; allowed origins: {', '.join(site.origins)}")
    return 0


def _site_remove(config: Config, args: argparse.Namespace) -> int:
    if not args.yes:
        print(
            f"Removing site {args.key!r} deletes all its data (events, rollups, goals, conversions, "
            "share links, settings) in one transaction. It cannot be undone."
        )
        if input("Type the site key to confirm: ").strip() != args.key:
            print("not removed", file=sys.stderr)
            return 1

    async def work(storage: Storage) -> Any:
        rows = await storage.remove_site(args.key)
        if rows is None:
            raise ValueError(f"unknown site {args.key!r}; see ctrlens site list")
        return rows

    rows = _with_storage(config, work, create=False)
    print(f"removed site {args.key!r} and {sum(rows.values()):,} rows of its data")
    return 0


def _read_password(args: argparse.Namespace) -> str:
    """From stdin (`--password-stdin`, one line) or typed twice at a prompt."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    import getpass

    password = getpass.getpass("Password (at least 10 characters): ")
    if getpass.getpass("Once more: ") != password:
        raise ValueError("the two passwords differ")
    return password


def _user_add(config: Config, args: argparse.Namespace) -> int:
    from ctrlens.dashboard.users import add_user, validate_name, validate_password

    name, password = validate_name(args.name), validate_password(_read_password(args))
    user = _with_storage(config, lambda storage: add_user(storage, name, args.role, password))
    print(f"added {user.role} {user.name!r}: they sign in at /login with this name and password")
    return 0


def _user_list(config: Config, args: argparse.Namespace) -> int:
    users = _with_storage(config, lambda storage: storage.list_users(), create=False)
    if not users:
        print("no users yet (the admin token signs in): ctrlens user add NAME --role admin")
    for user in users:
        print(f"{user.name}\t{user.role}")
    return 0


def _user_remove(config: Config, args: argparse.Namespace) -> int:
    from ctrlens.dashboard.users import user_named

    async def work(storage: Storage) -> None:
        await storage.remove_user((await user_named(storage, args.name)).id)

    _with_storage(config, work, create=False)
    print(f"removed {args.name!r}: their sessions and API tokens no longer work")
    return 0


def _user_password(config: Config, args: argparse.Namespace) -> int:
    from ctrlens.dashboard.users import change_password, user_named, validate_password

    password = validate_password(_read_password(args))

    async def work(storage: Storage) -> None:
        await change_password(storage, await user_named(storage, args.name), password)

    _with_storage(config, work, create=False)
    print(f"new password for {args.name!r}; every session of theirs ended")
    return 0


def _token_create(config: Config, args: argparse.Namespace) -> int:
    from ctrlens.dashboard.users import create_token, user_named

    async def work(storage: Storage) -> str:
        return await create_token(storage, await user_named(storage, args.user), args.name)

    token = _with_storage(config, work, create=False)
    print(f"API token of {args.user!r} (shown once; send it as Authorization: Bearer …): {token}")
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
