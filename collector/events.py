"""The Events API's wire format (DESIGN §3) and the enriched event the writer stores.

Validation is msgspec's: the envelope is decoded strictly, then each event on its own, so one
bad event is rejected with its reason while the rest of the batch is kept.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

MAX_BODY_BYTES = 64 * 1024
MAX_EVENTS = 200

# Printable text: no control characters (C0, DEL, C1).
_PRINTABLE = r"^[^\x00-\x1f\x7f-\x9f]*$"

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=_PRINTABLE)]
# URLs are stored cut to MAX_URL characters rather than rejected: one page with a long query
# string must not cost the whole batch. The body limit bounds what arrives.
MAX_URL = 2048
Url = Annotated[str, msgspec.Meta(pattern=r"^https?://[^\x00-\x20\x7f]+$")]
Referrer = Annotated[str, msgspec.Meta(pattern=_PRINTABLE)]
Millis = Annotated[int, msgspec.Meta(ge=0, le=10**14)]

EventType = Literal["impression", "click"]
Kind = Literal["cta", "banner", "link", "nav"]
KINDS: tuple[str, ...] = ("cta", "banner", "link", "nav")
DEFAULT_KIND = "banner"


class Envelope(msgspec.Struct):
    site: Name
    pageview: Name
    url: Url
    events: list[msgspec.Raw]
    referrer: Referrer | None = None
    variant: Name | None = None
    account: Name | None = None
    # Events the snippet had to discard because its offline store was full.
    dropped: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] = 0


class Event(msgspec.Struct):
    id: Name
    type: EventType
    element: Name
    ts: Millis | None = None
    kind: Kind | None = None
    variant: Name | None = None
    via_click: bool = False


class StoredEvent(msgspec.Struct, array_like=True):
    """An accepted event with everything the server adds; one row of `events`."""

    site: str
    event_id: str
    pageview: str
    type: str
    element: str
    kind: str
    variant: str
    account: str
    page: str
    url: str
    referrer: str
    source: str
    device: str
    visitor: str
    via_click: bool
    ts_client: int | None
    ts_server: int


class Attribution(msgspec.Struct):
    """Just enough of a body to count a rate-limited request against its site."""

    site: str = ""
    events: list[msgspec.Raw] = []


STORED_COLUMNS = tuple(StoredEvent.__struct_fields__)

# What a body that is not JSON, or not UTF-8, or nested too deep, raises while decoding:
# msgspec reports invalid UTF-8 and runaway nesting with Python's own exceptions.
DECODE_ERRORS = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)

envelope_decoder = msgspec.json.Decoder(Envelope)
event_decoder = msgspec.json.Decoder(Event)
attribution_decoder = msgspec.json.Decoder(Attribution)
