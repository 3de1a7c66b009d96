"""The Events API's wire format (docs/design.md §3) and the enriched event the writer stores.

Validation is msgspec's. A batch is decoded in one call; only when that fails is the envelope
decoded on its own and then each event, so one bad event is rejected with its reason while
the rest of the batch is kept.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Annotated, Any, Generic, Literal, TypeVar, get_args

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

# Look-alike names (docs/design.md §6): `hero` and `hero` followed by a zero-width space, or a name
# holding a right-to-left override, would be separate elements that read the same, and an override
# spills out of its table cell. Such characters are refused per event; names are NFC-normalised so
# one spelling composed two ways is one element. Both need a non-ASCII character, raw or escaped:
# a body of plain ASCII without a backslash is left alone.
_INVISIBLE = re.compile("[\u061c\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]")
_LOOK_ALIKE_NAMES = ("site", "pageview", "variant", "account")

MAX_NAME = 128
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NAME)]
# URLs are stored cut to MAX_URL characters rather than rejected: one page with a long query
# string must not cost the whole batch. The body limit bounds what arrives.
MAX_URL = 2048
Url = Annotated[str, msgspec.Meta(pattern=r"^https?://[^\x00-\x20\x7f]+$")]
Millis = Annotated[int, msgspec.Meta(ge=0, le=10**14)]

EventType = Literal["pageview", "impression", "click", "conversion"]
# The event types about one element; a page view's report and a conversion are about the page view.
ELEMENT_TYPES = ("impression", "click")
# A page view's report names at most this many present elements (docs/design.md §2).
MAX_PRESENT = 200
# A conversion's value (revenue, in the site's currency): a finite, non-negative amount. JSON has
# no NaN or Infinity, and msgspec refuses a number that overflows a float.
MAX_VALUE = 1e9
Value = Annotated[float, msgspec.Meta(ge=0, le=MAX_VALUE)]
# Element kinds (docs/design.md §1): the one list every other module imports, and the kind of an
# element sent without one (what the snippet infers for anything that is not a link or a button).
Kind = Literal["cta", "banner", "link", "nav"]
KINDS: tuple[str, ...] = get_args(Kind)
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
    # Impressions and clicks name their element (`FIELD_OF_TYPE` says which field each type needs).
    element: Name | None = None
    ts: Millis | None = None
    kind: Kind | None = None
    variant: Name | None = None
    via_click: bool = False
    # A page view's report: its present elements, or those that showed up since its last report.
    present: Annotated[list[Name], msgspec.Meta(max_length=MAX_PRESENT)] = []
    goal: Name | None = None
    value: Value | None = None


# The field each event type cannot do without (the rest of the batch is kept when it is missing).
FIELD_OF_TYPE = {"impression": "element", "click": "element", "conversion": "goal"}


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
    # Past this point, fields the raw `events` table does not hold (STORED_COLUMNS ends above):
    # page view reports and conversions are kept by the funnel's ledgers (storage/funnel.py).
    present: tuple[str, ...] = ()
    goal: str = ""
    value: float | None = None
    # A conversion's visitor under yesterday's salt, for a click before midnight (docs/design.md §3).
    previous_visitor: str = ""


class Attribution(msgspec.Struct):
    """Just enough of a body to count a rate-limited request against its site."""

    site: str = ""
    events: list[msgspec.Raw] = []


STORED_COLUMNS = StoredEvent.__struct_fields__[: StoredEvent.__struct_fields__.index("present")]


def conversion_id(pageview: str, goal: str) -> str:
    """A conversion's event id: one conversion per goal per page view (docs/design.md §3), so a
    second one, whatever id its sender gave it, is a duplicate like any repeated id."""
    return f"{pageview}\x1fgoal\x1f{goal}"

# What a body that is not JSON, or not UTF-8, or nested too deep, raises while decoding:
# msgspec reports invalid UTF-8 and runaway nesting with Python's own exceptions.
DECODE_ERRORS = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)

_batch_decoder = msgspec.json.Decoder(Envelope[Event])
_envelope_decoder = msgspec.json.Decoder(Envelope[msgspec.Raw])
_event_decoder = msgspec.json.Decoder(Event)
attribution_decoder = msgspec.json.Decoder(Attribution)

_ENVELOPE_NAMES = ("site", "pageview", "referrer", "variant", "account")
_EVENT_NAMES = ("id", "element", "variant", "goal")


@dataclass
class Batch:
    envelope: Envelope[Any]
    # One entry per event sent, in order: the event, or the reason it is rejected.
    events: list[Event | str]


def decode_batch(body: bytes) -> Batch:
    """Decode and validate a POST /e body.

    Raises msgspec.ValidationError for a bad envelope and DECODE_ERRORS for a body that is
    not JSON; a bad event is not an error, it comes back as its rejection reason.
    """
    envelope: Envelope[Any]  # of decoded events, or of raw ones when the batch fails as a whole
    try:
        envelope = _batch_decoder.decode(body)
        events: list[Event | str] = list(envelope.events)
    except DECODE_ERRORS:  # ValidationError is a DecodeError
        # Raises again if the envelope itself is at fault; otherwise some event is (invalid
        # UTF-8 inside one event, for one, is that event's fault alone).
        envelope = _envelope_decoder.decode(body)
        events = [_decode_event(raw) for raw in envelope.events]
    for index, event in enumerate(events):
        if isinstance(event, Event) and event.type in FIELD_OF_TYPE:
            needed = FIELD_OF_TYPE[event.type]
            if getattr(event, needed) is None:
                events[index] = f"Object missing required field `{needed}` (a {event.type} has one) - at `$`"
    if any(marker in body for marker in _MAY_HOLD_CONTROL):
        for name in _ENVELOPE_NAMES:
            if _CONTROL.search(getattr(envelope, name) or ""):
                raise msgspec.ValidationError(_not_printable(f"$.{name}"))
        events = [_printable(e) for e in events]
    if b"\\" in body or not body.isascii():
        _normalise_envelope(envelope)
        events = [_normalised(e) for e in events]
    return Batch(envelope, events)


def _normalise_envelope(envelope: Envelope[Any]) -> None:
    for name in _LOOK_ALIKE_NAMES:
        value = getattr(envelope, name)
        if value is None:
            continue
        if _INVISIBLE.search(value):
            raise msgspec.ValidationError(_invisible(f"$.{name}"))
        setattr(envelope, name, unicodedata.normalize("NFC", value))
    envelope.url = unicodedata.normalize("NFC", envelope.url)


def _normalised(event: Event | str) -> Event | str:
    if isinstance(event, str):
        return event
    for name in _EVENT_NAMES:
        value = getattr(event, name)
        if value is None:
            continue
        if _INVISIBLE.search(value):
            return _invisible(f"$.{name}")
        setattr(event, name, unicodedata.normalize("NFC", value))
    for index, name in enumerate(event.present):
        if _INVISIBLE.search(name):
            return _invisible(f"$.present[{index}]")
    event.present = [unicodedata.normalize("NFC", name) for name in event.present]
    return event


def _invisible(path: str) -> str:
    return f"Expected `str` without bidirectional or zero-width characters (look-alike names) - at `{path}`"


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
    for index, name in enumerate(event.present):
        if _CONTROL.search(name):
            return _not_printable(f"$.present[{index}]")
    return event


def _not_printable(path: str) -> str:
    return f"Expected `str` of printable characters (no control characters) - at `{path}`"
