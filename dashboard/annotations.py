"""Annotations on a site's charts (docs/design.md §4 "Around the numbers"): what a request may
say about one, its JSON, and where it falls on the element chart and the overview's sparklines.

A note is at an instant (`"at": "2026-11-29T14:00:00Z"`, any UTC offset) or on a whole day
(`"at": "2026-11-29"`, a date in the site's time zone); without `at` it is now.
"""

from __future__ import annotations

import time as clock
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from ctrlens.collector.errors import InvalidRequest
from ctrlens.collector.storage import Site, Storage
from ctrlens.collector.storage.annotations import Annotation
from ctrlens.dashboard.charts import Note
from ctrlens.dashboard.periods import Period

MAX_TEXT = 200
MAX_URL = 2048
#: Longer than any ISO 8601 timestamp with microseconds and an offset.
MAX_AT = 40
#: Notes one site may hold: a deploy hook gone wild cannot fill the database.
MAX_PER_SITE = 10_000
#: Notes one chart shows: the oldest in its range first.
MAX_SHOWN = 200
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
HOUR = 3600
ANNOTATION_COLUMNS = ("id", "at", "all_day", "text", "url", "created")


@dataclass(frozen=True)
class NewAnnotation:
    at: int  # UTC epoch seconds; a whole day's UTC midnight
    day: str  # 'YYYY-MM-DD' or ''
    text: str
    url: str


def parse_annotation(body: Any, zone: str | None = None, now: float | None = None) -> NewAnnotation:
    """A note from a JSON body or a form; a readable 400 otherwise. `zone`: the time zone of an
    `at` without an offset (the dashboard's form, in the site's zone); the API needs an offset."""
    if not isinstance(body, dict):
        raise InvalidRequest('body must be a JSON object: {"text": "...", "at": "...", "url": "..."}')
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        raise InvalidRequest(f"text is required: 1 to {MAX_TEXT} printable characters")
    text = text.strip()
    if len(text) > MAX_TEXT or not text.isprintable():
        raise InvalidRequest(f"text must be 1 to {MAX_TEXT} printable characters (no line breaks)")
    url = body.get("url")
    if url in (None, ""):
        url = ""
    elif not isinstance(url, str) or not _is_web_url(url):
        raise InvalidRequest(f"url must be an http:// or https:// address of at most {MAX_URL} characters")
    at = body.get("at")
    if at in (None, ""):
        return NewAnnotation(int(clock.time() if now is None else now), "", text, url)
    if not isinstance(at, str) or len(at) > MAX_AT:
        raise InvalidRequest('at must be a date ("2026-11-29") or a timestamp ("2026-11-29T14:00:00Z")')
    return _placed(at.strip(), zone, text, url)


def _placed(at: str, zone: str | None, text: str, url: str) -> NewAnnotation:
    try:
        if len(at) == 10:
            day = date.fromisoformat(at)
            midnight = datetime.combine(day, time(0), tzinfo=UTC)
            _check_range(midnight)
            return NewAnnotation(int(midnight.timestamp()), day.isoformat(), text, url)
        moment = datetime.fromisoformat(at)
    except ValueError:
        raise InvalidRequest(
            f'at must be a date ("2026-11-29") or a timestamp ("2026-11-29T14:00:00Z"), not {at!r}'
        ) from None
    if moment.tzinfo is None:
        if zone is None:
            raise InvalidRequest('at needs a UTC offset: "2026-11-29T14:00:00Z" or "...+01:00"')
        moment = moment.replace(tzinfo=ZoneInfo(zone))
    _check_range(moment)
    return NewAnnotation(int(moment.timestamp()), "", text, url)


def _check_range(moment: datetime) -> None:
    if not EARLIEST <= moment < LATEST:
        raise InvalidRequest("at must be between 2000 and 2099")


def _is_web_url(url: str) -> bool:
    if len(url) > MAX_URL or not url.isprintable() or " " in url:
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def parse_id(raw: str) -> int:
    if not raw.isdigit() or len(raw) > 18:
        raise InvalidRequest("an annotation id is a positive whole number")
    return int(raw)


def annotation_json(note: Annotation) -> dict[str, Any]:
    """`at` as it was given: a date for a whole-day note, else a UTC timestamp."""
    return {
        "id": note.id,
        "at": note.day or _utc(note.at),
        "all_day": bool(note.day),
        "text": note.text,
        "url": note.url or None,
        "created": _utc(note.created_at),
    }


def _utc(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def local_start(note: Annotation, zone: ZoneInfo) -> int:
    """Where a note sits on a time axis, in epoch seconds: a whole day at its local midnight."""
    if note.day:
        return int(datetime.combine(date.fromisoformat(note.day), time(0), tzinfo=zone).timestamp())
    return note.at


async def annotations_in(storage: Storage, site: Site, period: Period) -> list[Annotation]:
    """The site's notes inside the period (whole days by their date in the site's zone), in
    time order: the order of their numbers on the charts."""
    first, last = period.start.isoformat(), period.end.isoformat()
    found = await storage.annotations_between(
        site.key, period.hour_from, period.hour_to, first, last, MAX_SHOWN
    )
    zone = ZoneInfo(period.tz)
    return sorted(found, key=lambda note: (local_start(note, zone), note.id))


def legend(notes: Sequence[Annotation], tz: str) -> list[dict[str, Any]]:
    """The numbered list under a chart: number, when (in the site's zone), text, url."""
    zone = ZoneInfo(tz)
    rows = []
    for number, note in enumerate(notes, 1):
        if note.day:
            when = date.fromisoformat(note.day).strftime("%-d %b %Y")
        else:
            when = datetime.fromtimestamp(note.at, zone).strftime("%-d %b %Y, %H:%M")
        rows.append({"number": number, "when": when, "text": note.text, "url": note.url, "id": note.id})
    return rows


def chart_notes(notes: Sequence[Annotation], period: Period, interval: str) -> list[Note]:
    """Each note's point on the element chart: its local hour or local day of the period."""
    zone = ZoneInfo(period.tz)
    placed = []
    first_hour = -(-period.hour_from // HOUR) * HOUR
    for note, row in zip(notes, legend(notes, period.tz), strict=True):
        if interval == "hour":
            index = (local_start(note, zone) - first_hour) // HOUR
        else:
            index = (_local_date(note, zone) - period.start).days
        placed.append(Note(index, row["number"], f"{row['number']}. {row['when']}: {note.text}"))
    return placed


def sparkline_marks(notes: Sequence[Annotation], interval: str, starts: Sequence[date]) -> list[int]:
    """The sparkline points (UTC days, or weeks from their Monday) that have a note."""
    if not starts:
        return []
    width = timedelta(days=1 if interval == "day" else 7)
    marks = set()
    for note in notes:
        day = date.fromisoformat(note.day) if note.day else datetime.fromtimestamp(note.at, UTC).date()
        index = (day - starts[0]) // width
        if 0 <= index < len(starts):
            marks.add(index)
    return sorted(marks)


def _local_date(note: Annotation, zone: ZoneInfo) -> date:
    if note.day:
        return date.fromisoformat(note.day)
    return datetime.fromtimestamp(note.at, zone).date()
