"""Alerts (docs/design.md §4 "Around the numbers"): sent to a local webhook receiver and a local
SMTP server, once per condition, again only after the condition cleared and returned.

Data goes in through real POST /e on a `ctrlens serve` whose clock the test sets
(`CTRLENS_CLOCK_FILE`), so "impressions two days ago, none for seven hours" needs no waiting and
no direct writes; `ctrlens alerts check SITE` (same database, same clock) runs each check, and one
test lets the server's own periodic task do it.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import closing
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from playwright.sync_api import Page, expect
from test_charts import sign_in
from test_users import viewer_session

from dashboard_seed import Seeder
from harness import CTRLENS, ROOT, Databases, Server, free_port, opened, run_sync

ORIGIN = "https://shop.example"
PUBLIC_URL = "https://stats.shop.example"
HOUR_MS = 3_600_000
# Thresholds that make a handful of impressions enough for a firm rating (docs/design.md §4).
FAST_RATINGS = {"min_impressions": 10, "thresholds": {"cta": {"good": 0.5, "poor": 0.3}}}


class Webhook:
    """A local webhook receiver: keeps every JSON body POSTed to it; answers 500 while `failing`."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.attempts = 0
        self.failing = False
        received = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.attempts += 1
                if received.failing:
                    self.send_response(500)
                    self.end_headers()
                    return
                assert self.headers["Content-Type"] == "application/json"
                received.bodies.append(json.loads(body))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def of(self, site: str) -> list[dict[str, Any]]:
        return [b for b in self.bodies if b.get("site") == site]


class Mailbox:
    """A local SMTP server (aiosmtpd): keeps every message with its envelope recipients."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []
        mailbox = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
                mail = message_from_bytes(envelope.content, policy=policy.default)
                assert isinstance(mail, EmailMessage)
                mailbox.messages.append((list(envelope.rcpt_tos), mail))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def of(self, site_name: str) -> list[tuple[list[str], EmailMessage]]:
        return [(to, m) for to, m in self.messages if f"] {site_name}:" in str(m["Subject"])]


@pytest.fixture(scope="module")
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.server.shutdown()


@pytest.fixture(scope="module")
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    yield box
    box.controller.stop()


class Clock:
    def __init__(self, path: Path) -> None:
        self.path = path
        # Half past an hour, so "seven hours later" is plainly seven whole hours on.
        self.start = int(time.time()) // 3600 * HOUR_MS + HOUR_MS // 2
        self.set(self.start)

    def set(self, ms: int) -> None:
        self.path.write_text(str(ms))


def alert_env(clock: Path, mailbox: Mailbox, interval: str = "0") -> dict[str, str]:
    return {
        "CTRLENS_CLOCK_FILE": str(clock),
        "CTRLENS_SMTP_HOST": "127.0.0.1",
        "CTRLENS_SMTP_PORT": str(mailbox.port),
        "CTRLENS_SMTP_STARTTLS": "0",
        "CTRLENS_SMTP_FROM": "alerts@ctrlens.test",
        "CTRLENS_ALERT_INTERVAL": interval,
        "CTRLENS_PUBLIC_URL": PUBLIC_URL,
    }


@pytest.fixture(scope="module")
def clocked(
    backend: str, databases: Databases, mailbox: Mailbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Clock]]:
    """A `ctrlens serve` on a clock the test sets, with SMTP settings and no periodic check (the
    tests run `ctrlens alerts check` themselves)."""
    clock = Clock(tmp_path_factory.mktemp("clock") / f"now-{backend}")
    srv = Server(databases.new(backend), env=alert_env(clock.path, mailbox)).start()
    yield srv, clock
    srv.stop()


def check(server: Server, site: str) -> str:
    """`ctrlens alerts check SITE`, as an operator (or cron) runs it."""
    done = subprocess.run(
        [*CTRLENS, "alerts", "check", site, "--db", server.db],
        cwd=ROOT, env=server.env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode in (0, 1), done.stderr
    return done.stdout + done.stderr


def configure(server: Server, site: str, **body: Any) -> httpx.Response:
    return server.client.put(f"/api/sites/{site}/alerts", json=body, headers=server.auth)


def new_site(server: Server, webhook: Webhook, **settings: Any) -> Seeder:
    seeder = Seeder(server, server.new_site([ORIGIN], **settings), ORIGIN)
    r = configure(server, seeder.site, webhook=webhook.url, emails=["ops@example.com", "lead@example.com"])
    assert r.status_code == 200, r.text
    return seeder


def conditions(bodies: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    return sorted((b["condition"], b["element"]) for b in bodies)


def test_each_alert_arrives_once_per_channel_and_again_after_it_clears(clocked, webhook, mailbox):
    server, clock = clocked
    shop = new_site(server, webhook, **FAST_RATINGS)
    site_name = shop.site  # sites made through the API are named after their key

    # Two days ago the footer link was seen; today the hero button gets 12 impressions, no click.
    clock.set(clock.start - 48 * HOUR_MS)
    shop.many("footer", "link", 5, 0)
    clock.set(clock.start)
    shop.many("hero", "cta", 12, 0)

    out = check(server, shop.site)
    assert "sent 2" in out, out
    bodies = webhook.of(shop.site)
    assert conditions(bodies) == [("poor", "hero"), ("silent", "footer")]
    poor = next(b for b in bodies if b["condition"] == "poor")
    assert poor["text"].startswith(f"ctrlens · {site_name}: hero is rated Poor.")
    assert "CTR 0.0% from 12 impressions and 0 clicks" in poor["text"]
    assert "What to do:" in poor["text"]
    assert poor["url"] == f"{PUBLIC_URL}/sites/{shop.site}/elements/hero?period=7d"
    silent = next(b for b in bodies if b["condition"] == "silent")
    assert "\"footer\" had 5 impressions in the 7 days before, and none in the last 6 hours" in silent["text"]
    assert 'data-ctr="footer"' in silent["text"]

    mails = mailbox.of(site_name)
    assert len(mails) == 2
    for recipients, mail in mails:
        assert sorted(recipients) == ["lead@example.com", "ops@example.com"]
        assert mail["From"] == "alerts@ctrlens.test"
    subjects = sorted(str(m["Subject"]) for _, m in mails)
    assert subjects == [
        f"[ctrlens] {site_name}: footer has had no impressions for 6 hours",
        f"[ctrlens] {site_name}: hero is rated Poor",
    ]
    assert "What to do:" in mails[0][1].get_content()

    # The next check finds the same conditions: nothing is sent again.
    out = check(server, shop.site)
    assert "sent 0" in out, out
    assert len(webhook.of(shop.site)) == 2 and len(mailbox.of(site_name)) == 2

    # Both clear: the hero gets clicked (50% CTR), the footer is seen again.
    shop.many("hero", "cta", 12, 12)
    shop.many("footer", "link", 1, 0)
    out = check(server, shop.site)
    assert "sent 0" in out and "re-armed 2" in out, out

    # And both return: seven hours on, the footer is silent again and the hero firmly poor.
    clock.set(clock.start + 7 * HOUR_MS)
    shop.many("hero", "cta", 60, 0)  # 12 clicks in 84 impressions: 14%, its interval below 30%
    out = check(server, shop.site)
    assert "sent 2" in out, out
    assert conditions(webhook.of(shop.site)) == [
        ("poor", "hero"), ("poor", "hero"), ("silent", "footer"), ("silent", "footer")
    ]
    assert len(mailbox.of(site_name)) == 4
    assert "sent 0" in check(server, shop.site)
    assert len(webhook.of(shop.site)) == 4 and len(mailbox.of(site_name)) == 4


def test_many_alerts_at_once_are_one_digest_and_each_still_fires_once(clocked, webhook, mailbox):
    server, clock = clocked
    shop = new_site(server, webhook, **FAST_RATINGS)
    # A deploy drops seven tags at once: seen two days ago, silent now.
    clock.set(clock.start - 48 * HOUR_MS)
    for n in range(7):
        shop.many(f"tag-{n}", "link", 2, 0)
    clock.set(clock.start)
    out = check(server, shop.site)
    assert "sent 7" in out, out
    (digest,) = webhook.of(shop.site)
    assert digest["condition"] == "digest"
    assert sorted(a["element"] for a in digest["alerts"]) == [f"tag-{n}" for n in range(7)]
    assert digest["text"].startswith(f"ctrlens · {shop.site}: 7 alerts at once.")
    assert digest["text"].count("\n- ") == 7
    (_, mail), = mailbox.of(shop.site)
    assert str(mail["Subject"]) == f"[ctrlens] {shop.site}: 7 alerts at once"
    # Each alert counts as sent: the next check sends nothing.
    assert "sent 0" in check(server, shop.site)
    assert len(webhook.of(shop.site)) == 1 and len(mailbox.of(shop.site)) == 1


def test_experiment_alerts_a_broken_split_and_a_decision(clocked, webhook, mailbox):
    server, clock = clocked
    clock.set(clock.start)
    lab = new_site(
        server, webhook, min_impressions=10,
        experiment={"variants": [{"name": "A", "share": 0.5}, {"name": "B", "share": 0.5}]},
    )
    # "hero" on /a: an even split, B far better. "promo" on /b: A got twice B's page views.
    for variant, impressions, clicks in (("A", 150, 6), ("B", 150, 60)):
        lab.many("hero", "cta", impressions, clicks, variant=variant, path="/a")
    for variant, impressions in (("A", 120), ("B", 60)):
        lab.many("promo", "banner", impressions, 0, variant=variant, path="/b")

    out = check(server, lab.site)
    assert "sent 2" in out, out
    bodies = webhook.of(lab.site)
    assert conditions(bodies) == [("ship", "hero"), ("split", "promo")]
    split = next(b for b in bodies if b["condition"] == "split")
    assert split["variant"] == "B"
    assert "A had 120 page views and B 60" in split["text"] and "What to do:" in split["text"]
    assert split["url"] == f"{PUBLIC_URL}/sites/{lab.site}/variants"
    ship = next(b for b in bodies if b["condition"] == "ship")
    assert "reached a decision: Ship it." in ship["text"] and "Ship B" in ship["text"]
    assert len(mailbox.of(lab.site)) == 2
    assert "sent 0" in check(server, lab.site)

    # The split is mended (B catches up), then breaks again (A runs ahead): one more alert.
    lab.many("promo", "banner", 60, 0, variant="B", path="/b")
    assert "re-armed 1" in check(server, lab.site)
    lab.many("promo", "banner", 120, 0, variant="A", path="/b")
    assert "sent 1" in check(server, lab.site)
    assert conditions(webhook.of(lab.site)) == [("ship", "hero"), ("split", "promo"), ("split", "promo")]
    assert len(mailbox.of(lab.site)) == 3


def test_a_failing_channel_is_retried_and_the_others_are_not_resent(clocked, webhook, mailbox):
    server, clock = clocked
    clock.set(clock.start)
    shop = new_site(server, webhook, **FAST_RATINGS)
    shop.many("hero", "cta", 12, 0)
    webhook.failing = True
    try:
        attempts = webhook.attempts
        out = check(server, shop.site)
        assert "webhook: the server answered 500" in out, out
        assert webhook.attempts == attempts + 1
        # Ingest and pages go on while a channel fails.
        shop.many("hero", "cta", 1, 0)
        assert server.client.get(f"/api/sites/{shop.site}/alerts", headers=server.auth).status_code == 200
    finally:
        webhook.failing = False
    assert len(mailbox.of(shop.site)) == 1 and webhook.of(shop.site) == []
    out = check(server, shop.site)
    assert "sent 1" in out, out
    assert conditions(webhook.of(shop.site)) == [("poor", "hero")]
    assert len(mailbox.of(shop.site)) == 1  # e-mail had it already
    assert "sent 0" in check(server, shop.site)


def test_the_test_alert_reaches_each_channel(clocked, webhook, mailbox):
    server, _ = clocked
    shop = new_site(server, webhook)
    r = server.client.post(f"/api/sites/{shop.site}/alerts/test", json={}, headers=server.auth)
    assert r.status_code == 200, r.text
    assert r.json()["results"] == {"webhook": "sent", "email": "sent"}
    assert [b["condition"] for b in webhook.of(shop.site)] == ["test"]
    assert [str(m["Subject"]) for _, m in mailbox.of(shop.site)] == [f"[ctrlens] {shop.site}: test alert"]

    webhook.failing = True
    try:
        r = server.client.post(f"/api/sites/{shop.site}/alerts/test", json={}, headers=server.auth)
    finally:
        webhook.failing = False
    assert r.status_code == 502
    assert r.json()["error"] == "the test alert was not sent: webhook: the server answered 500"

    bare = server.new_site([ORIGIN])
    r = server.client.post(f"/api/sites/{bare}/alerts/test", json={}, headers=server.auth)
    assert r.status_code == 400 and "no alert channel to test" in r.json()["error"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"webhook": "ftp://hooks.example/x"}, "webhook must be an http:// or https:// URL"),
        ({"webhook": "https://" + "a" * 2050 + ".example"}, "at most 2048 characters"),
        ({"webhook": "javascript:alert(1)"}, "webhook must be an http:// or https:// URL"),
        ({"emails": ["ops@example.com", "not an address"]}, "not an e-mail address: 'not an address'"),
        ({"emails": ["a@b.example\r\nBcc: x@evil.example"]}, "not an e-mail address"),
        ({"emails": [f"u{i}@example.com" for i in range(11)]}, "emails holds at most 10 addresses, got 11"),
        ({"emails": "ops@example.com"}, None),  # one address as a string is fine
        ({"silence_hours": 0}, "silence_hours must be a whole number of hours from 1 to 168"),
        ({"silence_hours": "six"}, "silence_hours must be a whole number of hours from 1 to 168"),
        ({"silence_hours": 6, "email": []}, "unknown alert setting(s) 'email'"),
        ([], "body must be a JSON object"),
    ],
)
def test_bad_settings_are_a_readable_400(server, body, message):
    site = server.new_site([ORIGIN])
    r = server.client.put(f"/api/sites/{site}/alerts", json=body, headers=server.auth)
    if message is None:
        assert r.status_code == 200, r.text
        return
    assert r.status_code == 400, r.text
    assert message in r.json()["error"]
    # Nothing was stored.
    stored = server.client.get(f"/api/sites/{site}/alerts", headers=server.auth).json()
    assert stored == {"site": site, "webhook": None, "emails": [], "silence_hours": 6,
                      "smtp_configured": False}


def test_all_problems_are_named_at_once(server):
    site = server.new_site([ORIGIN])
    r = configure(server, site, webhook="ftp://x", emails=["nope"], silence_hours=999)
    assert r.status_code == 400
    error = r.json()["error"]
    assert "webhook" in error and "nope" in error and "silence_hours" in error


def test_settings_need_a_sign_in_and_forms_a_csrf_token(server):
    site = server.new_site([ORIGIN])
    anonymous = httpx.Client(base_url=server.url)
    assert anonymous.get(f"/api/sites/{site}/alerts").status_code == 401
    assert anonymous.put(f"/api/sites/{site}/alerts", json={"silence_hours": 2}).status_code == 401
    assert anonymous.post(f"/api/sites/{site}/alerts/test", json={}).status_code == 401
    # A signed-in browser's form without the page's CSRF token is refused.
    browser = httpx.Client(base_url=server.url)
    csrf = re.search(r'name="csrf" value="([^"]+)"', browser.get("/login").text)
    assert csrf is not None
    assert browser.post("/login", data={"token": server.token, "csrf": csrf[1]}).status_code == 303
    r = browser.post(f"/sites/{site}/alerts", data={"silence_hours": "2"}, headers={"Accept": "text/html"})
    assert r.status_code == 400 and "form expired" in r.text
    assert server.client.get(f"/api/sites/{site}/alerts", headers=server.auth).json()["silence_hours"] == 6


def test_the_periodic_check_sends_once(databases, mailbox, webhook, tmp_path):
    """The server's own task (alert_interval 1 s) finds the condition and alerts exactly once."""
    clock = Clock(tmp_path / "now")
    srv = Server(databases.new("sqlite"), env=alert_env(clock.path, mailbox, interval="1")).start()
    try:
        shop = new_site(srv, webhook, **FAST_RATINGS)
        shop.many("hero", "cta", 12, 0)
        deadline = time.monotonic() + 20
        while not webhook.of(shop.site) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(3)  # three more checks
        assert conditions(webhook.of(shop.site)) == [("poor", "hero")]
        assert len(mailbox.of(shop.site)) == 1
    finally:
        srv.stop()


def test_one_process_takes_each_round(fresh_db):
    """Several `serve --workers` processes share a database: only one runs each periodic check."""

    async def claims() -> list[bool]:
        async with opened(fresh_db) as one, opened(fresh_db) as two:
            first = [await one.claim_alert_round(1_000, 60), await two.claim_alert_round(1_000, 60)]
            later = [await two.claim_alert_round(1_030, 60), await one.claim_alert_round(1_060, 60)]
            return first + later

    assert run_sync(claims()) == [True, False, False, True]


def test_the_settings_page_sets_alerts_and_sends_a_test(sqlite_server, webhook, page: Page):
    site = sqlite_server.new_site([ORIGIN])
    sign_in(page, sqlite_server, f"/sites/{site}/settings")
    section = page.locator("#alerts")
    section.locator("input[name=webhook]").fill("ftp://hooks.example/x")
    section.locator("textarea[name=emails]").fill("ops@example.com\nnot-an-address")
    section.locator("button:has-text('Save alert settings')").click()
    expect(page.locator("#alerts .error")).to_contain_text("webhook must be an http:// or https:// URL")
    expect(page.locator("#alerts .error")).to_contain_text("not an e-mail address: 'not-an-address'")
    expect(page.locator("#alerts input[name=webhook]")).to_have_value("ftp://hooks.example/x")

    page.locator("#alerts input[name=webhook]").fill(webhook.url)
    page.locator("#alerts textarea[name=emails]").fill("ops@example.com")
    page.locator("#alerts input[name=silence_hours]").fill("12")
    page.locator("#alerts button:has-text('Save alert settings')").click()
    expect(page.locator("#alerts .notice")).to_have_text("Alert settings saved.")
    expect(page.locator("#alerts input[name=silence_hours]")).to_have_value("12")
    page.locator("#alerts button:has-text('Send a test alert')").click()
    expect(page.locator("#alerts .notice")).to_have_text("Test alert sent.")
    assert [b["condition"] for b in webhook.of(site)] == ["test"]
    assert "12 hours" in webhook.of(site)[0]["text"]


def test_viewers_can_neither_read_nor_change_alerts(server):
    """A webhook URL is a secret (Slack's are): alert settings are for admins, reading included."""
    site = server.new_site([ORIGIN])
    viewer, _ = viewer_session(server)
    with closing(viewer):
        r = viewer.get(f"/api/sites/{site}/alerts")
        assert r.status_code == 403 and "admins" in r.json()["error"]
        r = viewer.put(f"/api/sites/{site}/alerts", json={"silence_hours": 2},
                       headers={"Origin": server.url})
        assert r.status_code == 403
        assert viewer.get(f"/sites/{site}/alerts", headers={"Accept": "text/html"}).status_code == 403
