"""`ctrlens demo`: the example site served through the collector, and simulated past traffic.

The simulation writes through the same `Storage.write` path as live events (raw rows +
rollups in one transaction), stamped with past server times, so the dashboard shows exactly
what a real site with this traffic would produce. Each page view reports every element present,
and some clicks lead to a `signup`: `nav-pricing` is clicked as often as the others but hardly
converts (`clicked_not_converting`), `promo-annual` sits where few scroll (`not_seen`).
"""

from __future__ import annotations

import random
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ctrlens.collector.events import StoredEvent, conversion_id
from ctrlens.collector.storage import Storage, WriteBatch

EXAMPLE_SITE = Path(__file__).parent / "examples" / "site"
DEMO_SITE = "demo"


@dataclass(frozen=True)
class Element:
    name: str
    kind: str
    seen: float  # share of page views in which it earns an impression (it is present in all)
    ctr: dict[str, float]  # click probability per variant, given an impression
    converts: float = 0.0  # chance that a visitor whose last click it was signs up


ELEMENTS = (
    Element("hero-signup", "cta", 0.96, {"A": 0.034, "B": 0.047}, 0.30),
    Element("nav-pricing", "nav", 0.99, {"A": 0.031, "B": 0.030}, 0.01),
    Element("nav-docs", "nav", 0.99, {"A": 0.009, "B": 0.010}, 0.16),
    Element("promo-webinar", "banner", 0.62, {"A": 0.011, "B": 0.013}, 0.12),
    Element("promo-annual", "banner", 0.22, {"A": 0.002, "B": 0.0025}, 0.10),
    Element("link-case-study", "link", 0.41, {"A": 0.024, "B": 0.026}, 0.22),
    Element("link-changelog", "link", 0.35, {"A": 0.004, "B": 0.004}, 0.20),
    Element("pricing-trial", "cta", 0.30, {"A": 0.021, "B": 0.019}, 0.40),
    Element("footer-contact", "cta", 0.12, {"A": 0.006, "B": 0.007}, 0.20),
)
#: The demo's goal (name, page path, default value): a `signup`, reached after a click or, now and
#: then, without one.
GOALS = (("signup", "", None),)
UNATTRIBUTED_SIGNUPS = 0.004
SOURCES = (
    ("(direct)", 0.35),
    ("google.com", 0.3),
    ("newsletter", 0.15),
    ("news.ycombinator.com", 0.1),
    ("twitter", 0.1),
)
DEVICES = (("desktop", 0.58), ("mobile", 0.36), ("tablet", 0.06))
ACCOUNTS = tuple(
    f"{name}"
    for name in (
        "acme",
        "globex",
        "initech",
        "umbrella",
        "hooli",
        "stark",
        "wayne",
        "wonka",
        "tyrell",
        "cyberdyne",
        "soylent",
        "aperture",
        "massive-dynamic",
        "vandelay",
        "pied-piper",
        "oscorp",
        "gringotts",
        "monarch",
        "dunder-mifflin",
        "bluth",
        "sterling-cooper",
        "prestige",
        "nakatomi",
        "virtucon",
        "weyland",
        "black-mesa",
        "vehement",
        "kramerica",
        "duff",
        "krusty",
    )
)
#: The campaign of each tagged source's links (utm_campaign), for the overview's filters.
CAMPAIGNS = {"newsletter": "winter-sale", "twitter": "launch-week"}


def _pick(rng: random.Random, options: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([o for o, _ in options], weights=[w for _, w in options])[0]


async def simulate_traffic(
    storage: Storage,
    site: str = DEMO_SITE,
    days: int = 21,
    pageviews_per_day: int = 900,
    base_url: str = "http://127.0.0.1:8000",
    seed: int = 7,
    now: float | None = None,
) -> int:
    """Write `days` days of page views ending now; return the number of events stored."""
    rng = random.Random(seed)
    outcomes = random.Random(seed + 1)
    for name, path, value in GOALS:
        await storage.define_goal(site, name, path, value)
    end = time.time() if now is None else now
    start = end - days * 86400
    total = 0
    batch: list[StoredEvent] = []
    for day in range(days):
        # A little weekly rhythm so the charts are not flat.
        volume = int(pageviews_per_day * (0.75 + 0.5 * rng.random()) * (0.8 if day % 7 in (5, 6) else 1.0))
        for _ in range(volume):
            ts = start + day * 86400 + rng.random() * 86400
            if ts > end:
                continue
            batch.extend(_pageview(rng, outcomes, site, ts, base_url))
            if len(batch) >= 4000:
                total += len(await storage.write(WriteBatch(batch)))
                batch = []
    if batch:
        total += len(await storage.write(WriteBatch(batch)))
    return total


def _pageview(
    rng: random.Random, outcomes: random.Random, site: str, ts: float, base_url: str
) -> list[StoredEvent]:
    variant = rng.choice("AB")
    pageview = secrets.token_urlsafe(12)
    visitor = f"sim{rng.randrange(40_000):05d}"
    account = rng.choice(ACCOUNTS) if rng.random() < 0.18 else ""
    source = _pick(rng, SOURCES)
    device = _pick(rng, DEVICES)
    page = f"/example/{variant.lower()}/"
    campaign = CAMPAIGNS.get(source)
    url = f"{base_url}{page}" + (f"?utm_source={source}&utm_campaign={campaign}" if campaign else "")
    referrer = f"https://{source}/" if "." in source else ""
    seq = 0
    ms = int(ts * 1000)
    context: dict[str, Any] = dict(
        site=site,
        pageview=pageview,
        element="",
        kind="banner",
        variant=variant,
        account=account,
        page=page,
        url=url,
        referrer=referrer,
        source=source,
        device=device,
        visitor=visitor,
        via_click=False,
    )
    # The page view's report: every element is on the page, seen or not.
    present = tuple(e.name for e in ELEMENTS)
    report = StoredEvent(
        event_id=f"{pageview}-0", type="pageview", ts_client=ms, ts_server=ms, present=present, **context
    )
    events = [report]
    last_click: Element | None = None
    for element in ELEMENTS:
        if rng.random() >= element.seen:
            continue
        seq += 1
        ms += rng.randrange(300, 4000)
        common: dict[str, Any] = dict(
            site=site,
            pageview=pageview,
            element=element.name,
            kind=element.kind,
            variant=variant,
            account=account,
            page=page,
            url=url,
            referrer=referrer,
            source=source,
            device=device,
            visitor=visitor,
            ts_client=ms,
        )
        events.append(
            StoredEvent(
                event_id=f"{pageview}-{seq}", type="impression", via_click=False, ts_server=ms, **common
            )
        )
        if rng.random() < element.ctr[variant]:
            clicks = 2 if rng.random() < 0.08 else 1
            for _ in range(clicks):
                seq += 1
                ms += rng.randrange(200, 2500)
                events.append(
                    StoredEvent(
                        event_id=f"{pageview}-{seq}", type="click", via_click=False, ts_server=ms, **common
                    )
                )
            last_click = element
    # Conversions draw from their own generator, so the impressions and clicks stay those of the
    # demo before the funnel.
    if outcomes.random() < (last_click.converts if last_click else UNATTRIBUTED_SIGNUPS):
        ms += outcomes.randrange(5_000, 120_000)
        events.append(
            StoredEvent(
                event_id=conversion_id(pageview, "signup"),
                type="conversion",
                ts_client=ms,
                ts_server=ms,
                goal="signup",
                **context,
            )
        )
    return events


def example_routes() -> list[Route | Mount]:
    """The example landing page at /example/a/ and /example/b/; /example/ picks one at random."""

    async def assign(request: Request) -> Response:
        # A real A/B tool would keep the assignment stable; the demo has no cookies by design.
        return RedirectResponse(f"/example/{random.choice('ab')}/", status_code=302)

    async def page(request: Request) -> Response:
        variant = request.path_params["variant"]
        if variant not in ("a", "b"):
            return HTMLResponse("Not found", status_code=404)
        html = (EXAMPLE_SITE / variant / "index.html").read_text()
        collector = f"{request.url.scheme}://{request.url.netloc}"
        html = html.replace("{{COLLECTOR}}", collector).replace("{{SITE}}", DEMO_SITE)
        return HTMLResponse(html)

    return [
        Route("/example/", assign),
        Route("/example/{variant:str}/", page),
        Mount("/example", StaticFiles(directory=EXAMPLE_SITE), name="example"),
    ]
