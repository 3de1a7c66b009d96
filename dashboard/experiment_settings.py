"""An experiment as a site declares it (docs/design.md §4 "Variant verdicts"), in the site's
settings under `experiment`; every field is optional.

- `variants`: the variants and their planned split, control first, e.g.
  `[{"name": "A", "share": 0.5}, {"name": "B", "share": 0.5}]`. Shares are relative (50/50,
  1/1 and 0.5/0.5 mean the same) and stored as fractions. Without it: every variant seen, an
  equal split, the control first alphabetically.
- `start`: the first day (YYYY-MM-DD, the site's time zone); without it, the first event.
- `metric`: `ctr` (clicks per impression) or `conversions_per_impression` of the goal named by
  `goal` (conversions credited to the element by last click, docs/design.md §3). A goal must be
  one of the site's goals (`check_goal`, which needs storage, so the views call it).
- `smallest_effect`: the smallest lift worth detecting, relative (0.1 is 10%).
- `inference`: `always_valid` (default) or `fixed_horizon`; `correction`: `bh` (default),
  `holm` or `none`.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from ctrlens.dashboard.inference import CORRECTIONS
from ctrlens.dashboard.statistics import DEFAULT_SMALLEST_EFFECT, INFERENCES

#: Primary metrics an experiment can be judged on.
METRICS = ("ctr", "conversions_per_impression")
METRIC_NAMES = {
    "ctr": "CTR (clicks per impression)", "conversions_per_impression": "conversions per impression"
}
FIELDS = ("variants", "start", "metric", "goal", "smallest_effect", "inference", "correction")
MAX_VARIANTS = 20
MAX_NAME = 128
#: A relative lift above 1,000% is not a "smallest" effect: likely a percentage typed as a fraction.
MAX_SMALLEST_EFFECT = 10.0


@dataclass(frozen=True)
class Experiment:
    variants: tuple[tuple[str, float], ...] = ()  # (name, share), control first; () = not declared
    start: date | None = None
    metric: str = "ctr"
    goal: str | None = None  # the goal of `conversions_per_impression`
    smallest_effect: float = DEFAULT_SMALLEST_EFFECT
    inference: str = "always_valid"
    correction: str = "bh"

    @property
    def control(self) -> str | None:
        return self.variants[0][0] if self.variants else None

    def names(self) -> list[str]:
        return [name for name, _ in self.variants]

    def treatment_share(self, control: str, treatment: str) -> float:
        """The treatment's planned share of the two arms' page views (0.5 when not declared)."""
        shares = dict(self.variants)
        if control in shares and treatment in shares:
            return shares[treatment] / (shares[control] + shares[treatment])
        return 0.5

    def to_json(self) -> dict[str, Any]:
        """Every field; `goal` only with the metric that has one."""
        return {
            "variants": [{"name": name, "share": share} for name, share in self.variants],
            "start": self.start.isoformat() if self.start else None,
            "metric": self.metric,
            **({"goal": self.goal} if self.goal is not None else {}),
            "smallest_effect": self.smallest_effect,
            "inference": self.inference,
            "correction": self.correction,
        }


def experiment_of(settings: dict[str, Any]) -> Experiment:
    """The experiment stored in a site's settings (validated when it was saved)."""
    stored = settings.get("experiment")
    if not stored:
        return Experiment()
    try:
        return parse_experiment(stored)
    except ValueError:
        return Experiment()


def _variants(value: Any) -> tuple[tuple[str, float], ...]:
    if value is None or value == []:
        return ()
    if not isinstance(value, list):
        raise ValueError('experiment variants must be a list such as [{"name": "A", "share": 0.5}, ...]')
    if len(value) == 1 or len(value) > MAX_VARIANTS:
        raise ValueError(f"an experiment has from 2 to {MAX_VARIANTS} variants, got {len(value)}")
    names: list[str] = []
    shares: list[float] = []
    for item in value:
        if not isinstance(item, dict) or set(item) - {"name", "share"} or "name" not in item:
            raise ValueError(f'each experiment variant is {{"name": ..., "share": ...}}, got {item!r}')
        name, share = item["name"], item.get("share", 1.0)
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
            raise ValueError(f"a variant name is text of 1 to {MAX_NAME} characters, got {name!r}")
        if name in names:
            raise ValueError(f"variant {name!r} is listed twice")
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share < math.inf:
            raise ValueError(f"the share of variant {name!r} must be a positive number, got {share!r}")
        names.append(name)
        shares.append(float(share))
    total = sum(shares)
    return tuple((name, share / total) for name, share in zip(names, shares, strict=True))


def _start(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise ValueError(f"experiment start must be a date as YYYY-MM-DD, got {value!r}")


def _choice(name: str, value: Any, choices: tuple[str, ...], default: str) -> str:
    if value is None:
        return default
    if value not in choices:
        raise ValueError(f"experiment {name} must be one of {', '.join(choices)}, got {value!r}")
    return str(value)


def _goal(metric: str, value: Any) -> str | None:
    if value is None or value == "":
        if metric == "conversions_per_impression":
            raise ValueError(
                "experiment metric conversions_per_impression needs a goal: name one of the site's goals"
            )
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > MAX_NAME:
        raise ValueError(f"experiment goal is a goal name of 1 to {MAX_NAME} characters, got {value!r}")
    if metric != "conversions_per_impression":
        raise ValueError("experiment goal only goes with metric conversions_per_impression")
    return value


def check_goal(experiment: Experiment, goals: Collection[str]) -> None:
    """The experiment's goal is one of the site's goals; ValueError naming them if not."""
    if experiment.goal is not None and experiment.goal not in goals:
        known = ", ".join(sorted(goals)) or "none yet: define one on the goals page"
        raise ValueError(f"experiment goal {experiment.goal!r} is not a goal of this site (goals: {known})")


def _smallest_effect(value: Any) -> float:
    if value is None:
        return DEFAULT_SMALLEST_EFFECT
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"experiment smallest_effect must be a number (0.1 is 10%), got {value!r}")
    if not 0.0 < value <= MAX_SMALLEST_EFFECT:
        raise ValueError(
            f"experiment smallest_effect is a relative lift above 0 and at most {MAX_SMALLEST_EFFECT:g} "
            f"(0.1 is 10%), got {value!r}"
        )
    return float(value)


def parse_experiment(value: Any) -> Experiment:
    """Validate an experiment (a JSON object, or null for none); raise ValueError naming the problem."""
    if value is None:
        return Experiment()
    if not isinstance(value, dict):
        raise ValueError("experiment must be a JSON object (or null to remove it)")
    unknown = sorted(set(value) - set(FIELDS))
    if unknown:
        raise ValueError(f"unknown experiment field(s) {', '.join(unknown)}; known: {', '.join(FIELDS)}")
    metric = _choice("metric", value.get("metric"), METRICS, "ctr")
    return Experiment(
        variants=_variants(value.get("variants")),
        start=_start(value.get("start")),
        metric=metric,
        goal=_goal(metric, value.get("goal")),
        smallest_effect=_smallest_effect(value.get("smallest_effect")),
        inference=_choice("inference", value.get("inference"), INFERENCES, "always_valid"),
        correction=_choice("correction", value.get("correction"), CORRECTIONS, "bh"),
    )


def stored(experiment: Experiment) -> dict[str, Any] | None:
    """What settings keep: only what differs from the defaults (None when nothing does)."""
    data = experiment.to_json()
    defaults = Experiment().to_json()
    kept = {key: value for key, value in data.items() if value != defaults.get(key)}
    return kept or None


def with_choices(experiment: Experiment, inference: str | None, correction: str | None) -> Experiment:
    """The experiment with a request's `?inference=` / `?correction=` over its settings."""
    return replace(
        experiment,
        inference=inference or experiment.inference,
        correction=correction or experiment.correction,
    )


def parse_form_variants(text: str) -> list[dict[str, Any]]:
    """The settings form's "A 50, B 50" (commas or new lines; a share may end in %)."""
    variants: list[dict[str, Any]] = []
    for part in text.replace("\n", ",").split(","):
        words = part.replace("=", " ").replace(":", " ").split()
        if not words:
            continue
        share_text = words[-1].rstrip("%") if len(words) > 1 else ""
        try:
            share = float(share_text)
            name = " ".join(words[:-1])
        except ValueError:
            share, name = 1.0, " ".join(words)
        variants.append({"name": name, "share": share})
    return variants
