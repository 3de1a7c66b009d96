"""The live overlay's server side (docs/design.md §4 "Around the numbers", "Live overlay"): the
short-lived token the dashboard hands to a site page, where "Open on page" sends the browser,
and the numbers the overlay draws.

The token travels in the URL fragment of a page on one of the site's allowed origins, so it never
reaches that site's server, and it unlocks nothing but the read-only numbers of its one site. It is
signed with the session secret and names the session generation it was minted in: signing out or
resetting the admin token ends every overlay token with the sessions.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from itsdangerous import BadSignature, URLSafeSerializer

from ctrlens.collector.errors import Unauthorized
from ctrlens.collector.storage import Site, Storage
from ctrlens.dashboard.diagnosis import DIAGNOSIS_LABELS
from ctrlens.dashboard.periods import Period
from ctrlens.dashboard.ratings import RATING_LABELS
from ctrlens.dashboard.reports import Filters, overview, period_json

#: How long a token unlocks the numbers: long enough to look around a page, short enough that a
#: copied URL is worthless by the time anyone else reads it.
TOKEN_SECONDS = 600
#: What a token is for; a signature made for anything else (a session) never passes as one.
PURPOSE = "overlay:read"
FRAGMENT_KEY = "ctrlens-overlay"
#: The fields of an elements row the overlay shows; the rest of the row stays on the dashboard.
FIELDS = (
    "element", "kind", "impressions", "clicks", "ctr", "ctr_low", "ctr_high", "rating", "rating_firm",
    "present", "viewability_rate", "conversions", "assisted", "post_click_rate", "diagnosis",
    "diagnosis_text", "pages",
)


@dataclass(frozen=True)
class OverlayToken:
    """What a valid token says: the one site it reads, until when, and its session generation."""

    site: str
    expires_at: int
    generation: str


class OverlayTokens:
    """Mints and checks overlay tokens with the session secret (shared by every collector)."""

    def __init__(self, secret: str) -> None:
        # The salt keeps these signatures apart from the session cookie's, made with the same secret.
        self.serializer = URLSafeSerializer(secret, salt="ctrlens.overlay")

    def mint(self, site: str, generation: str, expires_at: int) -> str:
        return self.serializer.dumps({"purpose": PURPOSE, "site": site, "exp": expires_at, "gen": generation})

    def verify(self, token: str, site: str, generation: str, now: float | None = None) -> OverlayToken:
        """The token's claims, or `Unauthorized` for a forged, expired, revoked or other-site token."""
        invalid = "the overlay token is not valid: open the overlay again from the dashboard"
        try:
            claims = self.serializer.loads(token)
        except BadSignature:
            raise Unauthorized(invalid) from None
        if not isinstance(claims, dict) or claims.get("purpose") != PURPOSE:
            raise Unauthorized(invalid)
        if claims.get("site") != site:
            raise Unauthorized("the overlay token is for another site")
        expires_at = claims.get("exp")
        if not isinstance(expires_at, int) or expires_at <= (time.time() if now is None else now):
            raise Unauthorized("the overlay token has expired: open the overlay again from the dashboard")
        if claims.get("gen") != generation:
            raise Unauthorized("the overlay token ended with its session: sign in and open the overlay again")
        return OverlayToken(site, expires_at, generation)


def page_url(site: Site, path: str | None, origin: str | None = None) -> str:
    """A page of the site: `origin` (one of the site's allowed origins, else its first) and `path`.

    Page paths come from events, which anyone can send: a path that would leave the origin
    (`//evil.example`, `@evil.example`, a backslash or a control character) falls back to `/`.
    """
    base = origin if origin is not None and site.allows_origin(origin) else site.origins[0]
    base = base.rstrip("/")
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        path = "/"
    if any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in path):
        path = "/"
    url = base + quote(path, safe="/%:@!$&'()*+,;=-._~")
    parts = urlsplit(url)
    if f"{parts.scheme}://{parts.netloc}" != base or parts.query or parts.fragment:
        return base + "/"
    return url


def overlay_link(page: str, token: str, choices: dict[str, str]) -> str:
    """The page with the token (and the period, variant, goal and element to start with) in its
    fragment, which the browser keeps to itself."""
    return page + "#" + urlencode({FRAGMENT_KEY: token, **{k: v for k, v in choices.items() if v}})


async def busiest_page(storage: Storage, site: Site, period: Period, element: str | None) -> str | None:
    """The page path where `element` (or, without one, any element) had most impressions."""
    by_page: dict[str, int] = {}
    for cell in await storage.element_cells(site.key, period.hour_from, period.hour_to, element=element):
        by_page[cell["page"]] = by_page.get(cell["page"], 0) + cell["impressions"]
    if not by_page:
        return None
    return max(sorted(by_page), key=lambda page: by_page[page])


async def overlay_numbers(
    storage: Storage, site: Site, period: Period, variant: str | None, goal: str | None
) -> dict[str, Any]:
    """The elements report of the overview and `/api/sites/{site}/elements` (one row per element,
    the same numbers), cut down to what the overlay draws."""
    result = await overview(
        storage, site, period, "none", Filters(variant=variant), goal=goal
    )
    return {
        "site": site.key,
        **{k: v for k, v in period_json(period).items() if k in ("from", "to", "timezone")},
        "period": period.preset,
        "variant": variant,
        "variants": result.variants,
        "goal": result.goal,
        "goals": result.goals,
        "rating_labels": RATING_LABELS,
        "diagnosis_labels": DIAGNOSIS_LABELS,
        "elements": [{k: row.get(k) for k in FIELDS} for row in result.rows],
    }
