"""The Events API's wire format (DESIGN §3) and the enriched event the writer stores.

Validation is msgspec's. A batch is decoded in one call; only when that fails is the envelope
decoded on its own and then each event, so one bad event is rejected with its reason while
the rest of the batch is kept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Generic, Literal, TypeVar

import msgspec

MAX_BODY_BYTES = 64 * 1024
MAX_EVENTS = 200

# Names are printable text: no control characters (C0, DEL, C1). That is checked once per body
# rather than by a msgspec pattern on every string (a regex call each, most of the decoding
# time): JSON cannot carry a raw C0 character inside a string, so a control character can only
# arrive escaped (a backslash), as a raw DEL, or as a C1 character (UTF-8 0xC2 0x80-0x9F).
# A body with none of those three bytes holds none; any other body is checked string by string.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_MAY_HOLD_CONTROL = (b"\\", b"\x7f", b"\xc2")

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
# URLs are stored cut to MAX_URL characters rather than rejected: one page with a long query
# string must not cost the whole batch. The body limit bounds what arrives.
MAX_URL = 2048
Url = Annotated[str, msgspec.Meta(pattern=r"^https?://[^\x00-\x20\x7f]+$")]
Millis = Annotated[int, msgspec.Meta(ge=0, le=10**14)]

EventType = Literal["impression", "click"]
Kind = Literal["cta", "banner", "link", "nav"]
KINDS: tuple[str, ...] = ("cta", "banner", "link", "nav")
DEFAULT_KIND = "banner"


T = TypeVar("T")


class Envelope(msgspec.Struct, Generic[T]):
    site: Name
    pageview: Name
    url: Url
    events: list[T]
    referrer: str | None = None
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

_batch_decoder = msgspec.json.Decoder(Envelope[Event])
_envelope_decoder = msgspec.json.Decoder(Envelope[msgspec.Raw])
_event_decoder = msgspec.json.Decoder(Event)
attribution_decoder = msgspec.json.Decoder(Attribution)

_ENVELOPE_NAMES = ("site", "pageview", "referrer", "variant", "account")
_EVENT_NAMES = ("id", "element", "variant")


@dataclass
class Batch:
    envelope: Envelope[object]
    # One entry per event sent, in order: the event, or the reason it is rejected.
    events: list[Event | str]


def decode_batch(body: bytes) -> Batch:
    """Decode and validate a POST /e body.

    Raises msgspec.ValidationError for a bad envelope and DECODE_ERRORS for a body that is
    not JSON; a bad event is not an error, it comes back as its rejection reason.
    """
    envelope: Envelope[object]
    try:
        envelope = _batch_decoder.decode(body)
        events: list[Event | str] = list(envelope.events)  # type: ignore[arg-type]
    except DECODE_ERRORS:  # ValidationError is a DecodeError
        # Raises again if the envelope itself is at fault; otherwise some event is (invalid
        # UTF-8 inside one event, for one, is that event's fault alone).
        envelope = _envelope_decoder.decode(body)
        events = [_decode_event(raw) for raw in envelope.events]  # type: ignore[arg-type]
    if any(marker in body for marker in _MAY_HOLD_CONTROL):
        for name in _ENVELOPE_NAMES:
            if _CONTROL.search(getattr(envelope, name) or ""):
                raise msgspec.ValidationError(_not_printable(f"$.{name}"))
        events = [_printable(e) for e in events]
    return Batch(envelope, events)


def _decode_event(raw: msgspec.Raw) -> Event | str:
    try:
        return _event_decoder.decode(raw)
    except msgspec.ValidationError as exc:
        return str(exc)
    except DECODE_ERRORS:
        return "malformed JSON"


def _printable(event: Event | str) -> Event | str:
    if isinstance(event, str):
        return event
    for name in _EVENT_NAMES:
        if _CONTROL.search(getattr(event, name) or ""):
            return _not_printable(f"$.{name}")
    return event


def _not_printable(path: str) -> str:
    return f"Expected `str` of printable characters (no control characters) - at `{path}`"
