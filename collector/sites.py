"""What a valid site key and allowed origin look like, for the CLI and the API alike."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from zoneinfo import available_timezones

from ctrlens.collector.errors import InvalidRequest

SITE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
ORIGIN = re.compile(r"^https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?$|^https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")


def validate_site_key(key: str) -> str:
    if not SITE_KEY.match(key):
        raise InvalidRequest(
            "a site key is 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return key


def validate_origins(origins: Iterable[str]) -> list[str]:
    cleaned = []
    for origin in origins:
        origin = origin.strip().rstrip("/")
        if not ORIGIN.match(origin):
            raise InvalidRequest(
                f"origin {origin!r} must be a scheme and host with an optional port, like https://shop.example"
            )
        cleaned.append(origin.lower())
    if not cleaned:
        raise InvalidRequest("a site needs at least one allowed origin")
    return cleaned


@cache
def timezones() -> frozenset[str]:
    """The IANA zone names of the system's zone database, and UTC."""
    return frozenset(available_timezones() | {"UTC"})


def validate_timezone(value: object) -> str:
    if not isinstance(value, str) or value not in timezones():
        raise InvalidRequest(f"timezone must be an IANA time zone name such as Europe/Berlin, got {value!r}")
    return value
