"""Seeding for the dashboard tests: real page views POSTed to `/e` of a running `ctrlens serve`,
so the same data lands on SQLite and PostgreSQL through the real write path."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from harness import BROWSER_UA, Server

MOBILE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)


@dataclass
class Seen:
    """One element in one page view: seen, and clicked `clicks` times."""

    element: str
    kind: str = "cta"
    clicks: int = 0


@dataclass
class Seeder:
    server: Server
    site: str
    origin: str
    sent: int = 0
    _visitor: int = field(default=0, repr=False)

    def pageview(
        self,
        seen: list[Seen],
        path: str = "/",
        variant: str | None = None,
        account: str | None = None,
        query: str = "",
        referrer: str | None = None,
        user_agent: str = BROWSER_UA,
        new_visitor: bool = True,
    ) -> None:
        pv = uuid.uuid4().hex
        events: list[dict[str, Any]] = []
        for s in seen:
            events.append(
                {"id": f"{pv}-{len(events)}", "type": "impression", "element": s.element, "kind": s.kind}
            )
            for _ in range(s.clicks):
                events.append({"id": f"{pv}-{len(events)}", "type": "click", "element": s.element})
        body: dict[str, Any] = {
            "site": self.site,
            "pageview": pv,
            "url": f"{self.origin}{path}{query}",
            "events": events,
        }
        if variant is not None:
            body["variant"] = variant
        if account is not None:
            body["account"] = account
        if referrer is not None:
            body["referrer"] = referrer
        if new_visitor:
            # A distinct user agent is a distinct (pseudonymous) visitor; the suffix keeps the device class.
            self._visitor += 1
            user_agent = f"{user_agent} visitor/{self._visitor}"
        r = self.server.post(body, self.origin, user_agent=user_agent)
        assert r.status_code == 202, r.text
        assert r.json()["accepted"] == len(events), r.text
        self.sent += len(events)

    def many(self, element: str, kind: str, impressions: int, clicks: int, **fields: Any) -> None:
        """`impressions` page views that each see `element`; the first `clicks` of them click it."""
        for i in range(impressions):
            self.pageview([Seen(element, kind, 1 if i < clicks else 0)], **fields)


def new_seeder(server: Server, **settings: Any) -> Seeder:
    origin = "https://shop.example"
    return Seeder(server, server.new_site([origin], **settings), origin)


@dataclass(frozen=True)
class Shop:
    """The shared test site and what was sent to it (docs/design.md §1's textbook numbers included)."""

    site: str
    origin: str


_shops: dict[str, Shop] = {}


def shop(server: Server) -> Shop:
    """Seed the shared test site once per server (both backends get the same data):

    - hero-signup (cta, /pricing): A seen 400 times and clicked in 16 page views (one twice),
      B seen 400 times and clicked 30; 100 of A's views on a phone, 50 from utm_source=newsletter;
    - footer-link (link, /pricing): only in variant A, 50 views, 1 click;
    - promo (banner, /promo): A 300 views / 3 clicks, B 150 / 3: a broken split (SRM);
    - pricing-table (banner, /accounts, no variant): 80 accounts saw it, 20 clicked.
    """
    if server.url in _shops:
        return _shops[server.url]
    s = new_seeder(server)
    for i in range(400):
        seen = [Seen("hero-signup", "cta", (2 if i == 0 else 1) if i < 16 else 0)]
        if i < 50:
            seen.append(Seen("footer-link", "link", 1 if i == 49 else 0))
        s.pageview(
            seen,
            "/pricing",
            "A",
            user_agent=MOBILE_UA if 100 <= i < 200 else BROWSER_UA,
            query="?utm_source=newsletter" if 300 <= i < 350 else "",
        )
    s.many("hero-signup", "cta", 400, 30, path="/pricing", variant="B")
    s.many("promo", "banner", 300, 3, path="/promo", variant="A")
    s.many("promo", "banner", 150, 3, path="/promo", variant="B")
    for i in range(80):
        s.pageview(
            [Seen("pricing-table", "banner", 1 if i < 20 else 0)], "/accounts", account=f"acct-{i:02d}"
        )
    _shops[server.url] = Shop(s.site, s.origin)
    return _shops[server.url]


def many_elements(server: Server, count: int, per_batch: int = 200) -> str:
    """A new site whose one page lists `count` elements (`el-00000`, …), each seen once."""
    origin = "https://shop.example"
    key = server.new_site([origin], max_new_elements_per_day=count + 10)
    for start in range(0, count, per_batch):
        pageview = uuid.uuid4().hex
        events = [
            {"id": f"{pageview}-{i}", "type": "impression", "element": f"el-{i:05d}", "kind": "cta"}
            for i in range(start, min(count, start + per_batch))
        ]
        body = {"site": key, "pageview": pageview, "url": f"{origin}/list", "events": events}
        r = server.post(body, origin)
        assert r.status_code == 202 and r.json()["accepted"] == len(events), r.text
    return key

