"""A site's settings as the settings page and `GET/PUT /api/sites/{site}/settings` see them.

Stored in `sites.settings` (JSON): `timezone`, `min_impressions`, `thresholds` (fractions per
kind, only the kinds that differ from the defaults), `allow_bots`, `experiment` (its fields that
differ from the defaults: experiment_settings.py), and the funnel's `attribution_window_hours`
and `viewability_threshold`, and the caps on new names per UTC day (`max_new_elements_per_day`
and its siblings: collector/storage/names.py) (docs/design.md §3, §4); goals have their own page
(views/goals.py).
Allowed origins and the name are columns of `sites`. Retention is a server setting
(`retention_days`), shown, not edited here.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

from ctrlens.collector.errors import InvalidRequest
from ctrlens.collector.events import KINDS
from ctrlens.collector.sites import timezones as zone_names
from ctrlens.collector.sites import validate_origins, validate_timezone
from ctrlens.collector.storage import Site
from ctrlens.collector.storage.attribution import DEFAULT_WINDOW_HOURS, MAX_WINDOW_HOURS
from ctrlens.collector.storage.names import CAP_SETTINGS, MAX_CAP, NameCaps
from ctrlens.dashboard.experiment_settings import (
    experiment_of,
    parse_experiment,
    parse_form_variants,
    stored,
)
from ctrlens.dashboard.funnel import viewability_threshold
from ctrlens.dashboard.periods import zone
from ctrlens.dashboard.ratings import (
    DEFAULT_MIN_IMPRESSIONS,
    DEFAULT_THRESHOLDS,
    Thresholds,
    parse_thresholds,
)

EDITABLE = (
    "name", "origins", "timezone", "min_impressions", "thresholds", "allow_bots", "experiment",
    "attribution_window_hours", "viewability_threshold", *CAP_SETTINGS.values(),
)
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
        "experiment": experiment_of(site.settings).to_json(),
        "attribution_window_hours": site.settings.get("attribution_window_hours", DEFAULT_WINDOW_HOURS),
        "viewability_threshold": viewability_threshold(site),
        # The caps on new names per UTC day (docs/design.md §3), one setting per dimension.
        **{CAP_SETTINGS[d]: cap for d, cap in NameCaps.of(site.settings).caps.items()},
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
    if "experiment" in changes:
        try:
            experiment = stored(parse_experiment(changes["experiment"]))
        except ValueError as exc:
            raise InvalidRequest(str(exc)) from None
        if experiment:
            settings["experiment"] = experiment
        else:
            settings.pop("experiment", None)
    if "attribution_window_hours" in changes:
        settings["attribution_window_hours"] = _window_hours(changes["attribution_window_hours"])
    if "viewability_threshold" in changes:
        settings["viewability_threshold"] = _share(changes["viewability_threshold"])
    for setting in CAP_SETTINGS.values():
        if setting in changes:
            settings[setting] = _cap(setting, changes[setting])
    return name, origins, settings


def _cap(setting: str, value: Any) -> int:
    if isinstance(value, str) and value.strip().replace(",", "").isdigit():
        value = int(value.strip().replace(",", ""))
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CAP:
        raise InvalidRequest(f"{setting} must be a whole number from 1 to {MAX_CAP:,}")
    return value


def _window_hours(value: Any) -> int:
    """Visitor ids last a day and yesterday's is still known, so a window reaches two days at most."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_WINDOW_HOURS:
        raise InvalidRequest(
            f"attribution_window_hours must be a whole number of hours from 1 to {MAX_WINDOW_HOURS}"
        )
    return value


def _share(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
        math.isfinite(value) and 0 < value <= 1
    ):
        raise InvalidRequest("viewability_threshold must be a fraction above 0 and at most 1 (30% is 0.3)")
    return float(value)


def form_changes(form: dict[str, str]) -> dict[str, Any]:
    """The settings form's fields (percentages, one origin per line) as an API-style update.
    The form is checked here, so that what is wrong with it is said in its own unit, percent."""
    thresholds: dict[str, dict[str, float]] = {}
    for kind in KINDS:
        percents = {}
        for bound in ("good", "poor"):
            text = form.get(f"{kind}_{bound}", "").strip().rstrip("%").strip()
            if not text:
                continue
            percents[bound] = _percent(kind, bound, text)
        if percents:
            _check_order(kind, percents)
            thresholds[kind] = {bound: value / 100.0 for bound, value in percents.items()}
    changes = {
        "name": form.get("name", ""),
        "origins": [line.strip() for line in form.get("origins", "").splitlines() if line.strip()],
        "timezone": form.get("timezone", "UTC"),
        "min_impressions": form.get("min_impressions", "").strip(),
        "thresholds": thresholds,
        "allow_bots": form.get("allow_bots") == "on",
    }
    if "experiment_effect" in form:  # the form's experiment part
        changes["experiment"] = _experiment_form(form)
    if "funnel_window" in form:  # the form's funnel part
        changes["attribution_window_hours"] = form["funnel_window"].strip()
        seen = form.get("funnel_viewability", "").strip().rstrip("%").strip()
        try:
            changes["viewability_threshold"] = float(seen) / 100.0
        except ValueError:
            raise InvalidRequest(f"'not seen below' must be a percentage such as 30, got {seen!r}") from None
    for setting in CAP_SETTINGS.values():  # the form's limits part
        if setting in form:
            changes[setting] = form[setting].strip()
    return changes


def _experiment_form(form: dict[str, str]) -> dict[str, Any]:
    effect = form.get("experiment_effect", "").strip().rstrip("%").strip()
    try:
        smallest_effect = float(effect) / 100.0 if effect else None
    except ValueError:
        raise InvalidRequest(f"smallest effect must be a percentage such as 10, got {effect!r}") from None
    return {
        "variants": parse_form_variants(form.get("experiment_variants", "")),
        "start": form.get("experiment_start", "").strip() or None,
        "metric": form.get("experiment_metric") or None,
        "smallest_effect": smallest_effect,
        "inference": form.get("experiment_inference") or None,
        "correction": form.get("experiment_correction") or None,
    }


def _percent(kind: str, bound: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InvalidRequest(f"{kind} {bound} must be a percentage such as 4 or 1.5, got {text!r}") from None
    if not (math.isfinite(value) and 0 < value <= 100):
        raise InvalidRequest(f"{kind} {bound} must be a percentage above 0 and at most 100, got {text}%")
    return value


def _check_order(kind: str, percents: dict[str, float]) -> None:
    """Good above Poor; a bound left empty keeps its default."""
    default = DEFAULT_THRESHOLDS[kind]
    good = percents.get("good", default.good * 100)
    poor = percents.get("poor", default.poor * 100)
    if not good > poor:
        raise InvalidRequest(f"{kind}: Good must be above Poor (Good {good:g}% ≤ Poor {poor:g}%)")
