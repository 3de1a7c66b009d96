"""A site's settings as the settings page and `GET/PUT /api/sites/{site}/settings` see them.

Stored in `sites.settings` (JSON): `timezone`, `min_impressions`, `thresholds` (fractions per
kind, only the kinds that differ from the defaults), `allow_bots`. Allowed origins and the name
are columns of `sites`. Retention is a server setting (`retention_days`), shown, not edited here.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from ctrlens.collector.errors import InvalidRequest
from ctrlens.collector.events import KINDS
from ctrlens.collector.sites import timezones as zone_names
from ctrlens.collector.sites import validate_origins, validate_timezone
from ctrlens.collector.storage import Site
from ctrlens.dashboard.periods import zone
from ctrlens.dashboard.ratings import (
    DEFAULT_MIN_IMPRESSIONS,
    DEFAULT_THRESHOLDS,
    Thresholds,
    parse_thresholds,
)

EDITABLE = ("name", "origins", "timezone", "min_impressions", "thresholds", "allow_bots")
MAX_MIN_IMPRESSIONS = 10_000_000


@lru_cache(maxsize=1)
def timezones() -> list[str]:
    return sorted(zone_names())


def site_timezone(site: Site) -> str:
    """The zone the site's days are in."""
    return zone(site.settings.get("timezone"))


def rating_settings(site: Site) -> tuple[dict[str, Thresholds] | None, int]:
    """The site's thresholds (None: the defaults) and its minimum impressions for a rating."""
    thresholds = parse_thresholds(site.settings["thresholds"]) if site.settings.get("thresholds") else None
    return thresholds, int(site.settings.get("min_impressions", DEFAULT_MIN_IMPRESSIONS))


def install_tag(collector_url: str, site: str) -> str:
    return f'<script defer src="{collector_url.rstrip("/")}/ctr.js" data-site="{site}"></script>'


def settings_json(site: Site, retention_days: int, collector_url: str) -> dict[str, Any]:
    thresholds = parse_thresholds(site.settings.get("thresholds") or None)
    custom = set((site.settings.get("thresholds") or {}).keys())
    return {
        "site": site.key,
        "name": site.name,
        "origins": list(site.origins),
        "timezone": site_timezone(site),
        "min_impressions": rating_settings(site)[1],
        "thresholds": {
            kind: {"good": thresholds[kind].good, "poor": thresholds[kind].poor, "custom": kind in custom}
            for kind in KINDS
        },
        "allow_bots": bool(site.settings.get("allow_bots", False)),
        "retention_days": retention_days,
        "install_tag": install_tag(collector_url, site.key),
    }


def _min_impressions(value: Any) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_MIN_IMPRESSIONS:
        raise InvalidRequest(f"min_impressions must be a whole number from 1 to {MAX_MIN_IMPRESSIONS:,}")
    return value


def _thresholds(value: Any) -> dict[str, dict[str, float]]:
    if value is None:
        return {}
    try:
        merged = parse_thresholds(value)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    # Store only what differs from the defaults, so a later change of a default reaches the site.
    return {
        kind: {"good": t.good, "poor": t.poor} for kind, t in merged.items() if t != DEFAULT_THRESHOLDS[kind]
    }


def apply_changes(site: Site, changes: Any) -> tuple[str, list[str], dict[str, Any]]:
    """Validate a partial update; return the new (name, origins, settings). Unknown keys are refused."""
    if not isinstance(changes, dict):
        raise InvalidRequest("settings must be a JSON object")
    unknown = sorted(set(changes) - set(EDITABLE))
    if "retention_days" in unknown:
        raise InvalidRequest(
            "retention_days is a server setting (CTRLENS_RETENTION_DAYS), not a site setting"
        )
    if unknown:
        raise InvalidRequest(f"unknown setting(s) {', '.join(unknown)}; editable: {', '.join(EDITABLE)}")
    name = site.name
    if "name" in changes:
        name = str(changes["name"] or "").strip()[:128]
        if not name:
            raise InvalidRequest("name must not be empty")
    origins = list(site.origins)
    if "origins" in changes:
        if not isinstance(changes["origins"], list) or not all(
            isinstance(o, str) for o in changes["origins"]
        ):
            raise InvalidRequest("origins must be a list of strings")
        origins = sorted(set(validate_origins(changes["origins"])))
    settings = dict(site.settings)
    if "timezone" in changes:
        settings["timezone"] = validate_timezone(changes["timezone"])
    if "min_impressions" in changes:
        settings["min_impressions"] = _min_impressions(changes["min_impressions"])
    if "thresholds" in changes:
        custom = _thresholds(changes["thresholds"])
        if custom:
            settings["thresholds"] = custom
        else:
            settings.pop("thresholds", None)
    if "allow_bots" in changes:
        if not isinstance(changes["allow_bots"], bool):
            raise InvalidRequest("allow_bots must be true or false")
        settings["allow_bots"] = changes["allow_bots"]
    return name, origins, settings


def form_changes(form: dict[str, str]) -> dict[str, Any]:
    """The settings form's fields (percentages, one origin per line) as an API-style update."""
    thresholds: dict[str, dict[str, float]] = {}
    for kind in KINDS:
        bounds = {}
        for bound in ("good", "poor"):
            text = form.get(f"{kind}_{bound}", "").strip().rstrip("%").strip()
            if not text:
                continue
            try:
                bounds[bound] = float(text) / 100.0
            except ValueError:
                raise InvalidRequest(
                    f"{kind} {bound} must be a percentage such as 4 or 1.5, got {text!r}"
                ) from None
        if bounds:
            thresholds[kind] = bounds
    return {
        "name": form.get("name", ""),
        "origins": [line.strip() for line in form.get("origins", "").splitlines() if line.strip()],
        "timezone": form.get("timezone", "UTC"),
        "min_impressions": form.get("min_impressions", "").strip(),
        "thresholds": thresholds,
        "allow_bots": form.get("allow_bots") == "on",
    }
