"""Alerts (docs/design.md §4 "Around the numbers"): which of a site's conditions hold now, and
sending each one once to the site's channels (alert_channels.py).

The conditions are read with the functions the pages use, so an alert never disagrees with the
dashboard: an element's rating over the last 7 days (`reports.overview`), an experiment's sample
ratio check and decision (`experiments.variant_report`), and impressions per element from the
rollups for a tag that went silent.

Each alert is keyed by (condition, element, variant). It is sent while its condition holds and no
record says every channel took it; the record is written channel by channel as each one takes it
(a failing channel is tried again at the next check) and removed when the condition clears, which
re-arms the alert.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from ctrlens.collector.clock import Clock
from ctrlens.collector.config import Config
from ctrlens.collector.storage import Site, Storage
from ctrlens.collector.storage.alerts import AlertChannels, AlertKey, AlertRecord
from ctrlens.dashboard.alert_channels import ChannelFailed, Message, Sender
from ctrlens.dashboard.experiment_settings import experiment_of
from ctrlens.dashboard.experiments import DECISION_LABELS, default_period, variant_label, variant_report
from ctrlens.dashboard.periods import Period
from ctrlens.dashboard.reports import overview
from ctrlens.dashboard.site_settings import site_timezone

log = logging.getLogger("ctrlens.alerts")

POOR = "poor"
SILENT = "silent"
SPLIT = "split"
#: The experiment decisions that are alerts: the ones that end a test.
DECISIONS = ("ship", "no_meaningful_difference")
CONDITIONS = (POOR, SILENT, SPLIT, *DECISIONS)
#: A split this unlikely under the planned shares is broken (the variants page warns from 0.001 too).
SRM_ALPHA = 0.001
RATING_DAYS = 7
#: How far back an element must have had impressions for its silence to be an alert.
HISTORY_DAYS = 7
HOUR = 3600
#: How often each process asks whether the periodic check is due (the check itself runs once
#: per `alert_interval` across all processes: storage's `claim_alert_round`).
POLL_SECONDS = 60.0
#: More alerts than this in one check of one site go out as one digest.
MAX_SEPARATE = 5
DIGEST_LINES = 20


@dataclass(frozen=True)
class Alert:
    """A condition that holds: what happened and what to do, and the page that shows it."""

    key: AlertKey
    headline: str
    text: str
    path: str  # a dashboard path, made absolute with config `public_url` (no trailing slash) when set

    @property
    def condition(self) -> str:
        return self.key[0]


@dataclass
class Findings:
    """The conditions of one site that hold now, and those that may or may not (kept as they are);
    every other alert has cleared."""

    holding: list[Alert] = field(default_factory=list)
    undecided: set[AlertKey] = field(default_factory=set)

    def cleared(self, key: AlertKey) -> bool:
        return key not in self.undecided and all(alert.key != key for alert in self.holding)


@dataclass
class Outcome:
    """What one check did for one site."""

    site: str
    sent: list[Alert] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    rearmed: list[AlertKey] = field(default_factory=list)
    holding: int = 0


def _percent(fraction: float | None) -> str:
    return "–" if fraction is None else f"{fraction * 100:.1f}%"


def _element_path(site: Site, element: str) -> str:
    query = urlencode({"period": "7d"})
    return f"/sites/{quote(site.key, safe='')}/elements/{quote(element, safe='')}?{query}"


def _today(site: Site, now_ms: int) -> date:
    return datetime.fromtimestamp(now_ms / 1000, ZoneInfo(site_timezone(site))).date()


async def _ratings(storage: Storage, site: Site, now_ms: int, found: Findings) -> None:
    """Elements whose rating over the last 7 days is firmly poor (the overview's rows)."""
    today = _today(site, now_ms)
    period = Period(today - timedelta(days=RATING_DAYS - 1), today, site_timezone(site))
    rows = (await overview(storage, site, period)).rows
    for row in rows:
        if row["rating"] != POOR:
            continue
        key = (POOR, row["element"], "")
        if not row["rating_firm"]:
            # Tentatively poor: not sure enough to alert, nor that an alert sent has cleared.
            found.undecided.add(key)
            continue
        found.holding.append(Alert(
            key,
            f"{row['element']} is rated Poor",
            f"The {row['kind']} \"{row['element']}\" is rated Poor over the last {RATING_DAYS} days: "
            f"CTR {_percent(row['ctr'])} from {row['impressions']:,} impressions and "
            f"{row['clicks']:,} clicks "
            f"(95% interval {_percent(row['ctr_low'])} to {_percent(row['ctr_high'])}), firmly below "
            "the site's Poor threshold for its kind. What to do: check that it is visible and reads as "
            "something to click (wording, placement, contrast), then try a better version as a variant "
            "and compare them on the Variants page.",
            _element_path(site, row["element"]),
        ))


async def _silence(storage: Storage, site: Site, hours: int, now_ms: int, found: Findings) -> None:
    """Elements with impressions in the 7 days before the last `hours` hours, and none since:
    a tag a deploy broke. Impressions in the last `hours` hours clear it; so do 7 days without
    any (the element was retired, and alerting on it again would be noise)."""
    current_hour = now_ms // 1000 // HOUR * HOUR
    since = current_hour - hours * HOUR  # `hours` whole hours without an impression, at least
    recent = {
        r["element"]: r["impressions"]
        for r in await storage.element_totals(site.key, since, current_hour + HOUR, counts=("impressions",))
    }
    before = {
        r["element"]: r["impressions"]
        for r in await storage.element_totals(
            site.key, since - HISTORY_DAYS * 86400, since, counts=("impressions",)
        )
    }
    for element, impressions in sorted(before.items()):
        if impressions <= 0 or recent.get(element, 0) > 0:
            continue
        found.holding.append(Alert(
            (SILENT, element, ""),
            f"{element} has had no impressions for {hours} hours",
            f"\"{element}\" had {impressions:,} impressions in the {HISTORY_DAYS} days before, and none in "
            f"the last {hours} hours (since {datetime.fromtimestamp(since, UTC):%Y-%m-%d %H:00} UTC). "
            "A deploy may have removed its data-ctr attribute, renamed it, or dropped the ctrlens "
            "tag from the page. What to do: open a page that should show it, check the element still "
            f"has data-ctr=\"{element}\" and the page loads ctr.js, and watch the live check on the "
            "site's Settings page.",
            _element_path(site, element),
        ))


async def _experiments(storage: Storage, site: Site, now_ms: int, found: Findings) -> None:
    """Broken splits and decided comparisons, as the Variants page judges them."""
    experiment = experiment_of(site.settings)
    period = default_period(
        site, experiment, await storage.first_moments_day(site.key), today=_today(site, now_ms)
    )
    rows = await variant_report(storage, site, period, experiment)
    path = f"/sites/{quote(site.key, safe='')}/variants"
    for row in rows:
        element = row["element"]
        control, treatment = variant_label(row["control"]), variant_label(row["treatment"])
        if row["srm_p_value"] < SRM_ALPHA:
            found.holding.append(Alert(
                (SPLIT, element, row["treatment"]),
                f"the split of {control} and {treatment} is broken on {element}",
                f"The experiment's split is broken for \"{element}\": {control} had "
                f"{row['control_pageviews']:,} page views and {treatment} {row['treatment_pageviews']:,}, "
                f"far from the planned shares (sample ratio mismatch, p = {row['srm_p_value']:.2g}). "
                "Its results may be biased and no verdict is given. What to do: check how visitors are "
                "assigned a variant (caching, redirects, a variant that fails to load or to send), fix "
                "it, and start the experiment again from a new start date.",
                path,
            ))
        if row["decision"] in DECISIONS:
            found.holding.append(Alert(
                (row["decision"], element, row["treatment"]),
                f"{element}: {DECISION_LABELS[row['decision']]} ({treatment} against {control})",
                f"The experiment on \"{element}\" reached a decision: {DECISION_LABELS[row['decision']]}. "
                f"{row['sentence']}",
                path,
            ))


async def findings(storage: Storage, site: Site, channels: AlertChannels, now_ms: int) -> Findings:
    """Every condition of `site` at `now_ms`: those that hold, and those known to be clear."""
    found = Findings()
    await _ratings(storage, site, now_ms, found)
    await _silence(storage, site, channels.silence_hours, now_ms, found)
    await _experiments(storage, site, now_ms, found)
    return found


def message_of(site: Site, alert: Alert, public_url: str | None) -> Message:
    link = f"{public_url or ''}{alert.path}"
    return Message(
        subject=f"[ctrlens] {site.name}: {alert.headline}",
        text=f"ctrlens · {site.name}: {alert.headline}.\n{alert.text}\nOpen: {link}",
        fields={
            "site": site.key,
            "condition": alert.condition,
            "element": alert.key[1] or None,
            "variant": alert.key[2] or None,
            "url": link,
        },
    )


def digest_of(site: Site, group: list[tuple[Alert, AlertRecord]], public_url: str | None) -> Message:
    """Many alerts of one check as one message: a line each, the first DIGEST_LINES of them."""
    alerts = [alert for alert, _ in group]
    lines = [f"- {a.headline}" for a in alerts[:DIGEST_LINES]]
    if len(alerts) > DIGEST_LINES:
        lines.append(f"- and {len(alerts) - DIGEST_LINES} more")
    link = f"{public_url or ''}/sites/{quote(site.key, safe='')}"
    headline = f"{len(alerts)} alerts at once"
    return Message(
        subject=f"[ctrlens] {site.name}: {headline}",
        text=(
            f"ctrlens · {site.name}: {headline}. Many at once usually means one cause, such as a "
            f"deploy that changed the tags: start with the first.\n" + "\n".join(lines) + f"\nOpen: {link}"
        ),
        fields={
            "site": site.key,
            "condition": "digest",
            "element": None,
            "variant": None,
            "url": link,
            "alerts": [
                {"condition": a.condition, "element": a.key[1] or None, "variant": a.key[2] or None}
                for a in alerts
            ],
        },
    )


async def check_site(
    storage: Storage, site: Site, sender: Sender, now_ms: int, link_base: str | None
) -> Outcome:
    """One check of one site: send what holds and was not sent, re-arm what cleared."""
    outcome = Outcome(site.key)
    channels = await storage.alert_channels(site.key)
    records = await storage.alert_records(site.key)
    wanted = sender.channels_of(channels)
    if not wanted:
        # Nowhere to send: forget what was sent, so alerts start afresh once a channel is set.
        outcome.rearmed = sorted(records)
        await storage.rearm_alerts(site.key, outcome.rearmed)
        return outcome
    found = await findings(storage, site, channels, now_ms)
    outcome.holding = len(found.holding)
    outcome.rearmed = sorted(key for key in records if found.cleared(key))
    await storage.rearm_alerts(site.key, outcome.rearmed)
    due: list[tuple[Alert, AlertRecord]] = []
    for alert in found.holding:
        record = records.get(alert.key, AlertRecord())
        if record.fired_at is None and any(c not in record.delivered for c in wanted):
            due.append((alert, record))
    # A deploy that breaks fifty tags is one message, not fifty: past MAX_SEPARATE alerts in one
    # check, they go together in one digest (each still fires once, and re-arms on its own).
    groups = [[d] for d in due] if len(due) <= MAX_SEPARATE else [due]
    down: set[str] = set()  # a channel that failed once is not tried again in this check
    for group in groups:
        message = (
            message_of(site, group[0][0], link_base) if len(group) == 1 else digest_of(site, group, link_base)
        )
        delivered = {alert.key: set(record.delivered) for alert, record in group}
        for channel in [c for c in wanted if any(c not in r.delivered for _, r in group)]:
            if channel in down:
                continue
            try:
                await sender.send(channel, channels, message)
            except ChannelFailed as exc:
                down.add(channel)
                outcome.failures.append(str(exc))
                log.warning("alert for site %s not sent (retried at the next check): %s", site.key, exc)
                continue
            for alert, _ in group:
                delivered[alert.key].add(channel)
        for alert, record in group:
            if delivered[alert.key] != set(record.delivered):
                done = all(c in delivered[alert.key] for c in wanted)
                await storage.record_alert(
                    site.key,
                    alert.key,
                    AlertRecord(frozenset(delivered[alert.key]), now_ms // 1000 if done else None),
                )
                if done:
                    outcome.sent.append(alert)
    return outcome


async def check(storage: Storage, config: Config, site_key: str | None = None) -> list[Outcome]:
    """One check of every site (or of one): what `ctrlens alerts check` and the periodic task run.
    A site whose check fails is logged and skipped; the others go on."""
    sites = await storage.list_sites()
    if site_key is not None:
        sites = [s for s in sites if s.key == site_key]
    sender = Sender(config)
    now_ms = Clock(config.clock_file).now_ms()
    outcomes = []
    for site in sites:
        try:
            outcomes.append(await check_site(storage, site, sender, now_ms, config.public_url))
        except Exception:  # one site's failure must not stop the others' alerts
            log.exception("alert check of site %s failed", site.key)
            outcomes.append(Outcome(site.key, failures=["the check failed; see the server log"]))
    return outcomes


async def run_periodically(storage: Storage, config: Config) -> None:
    """The lifespan's task: every `alert_interval` seconds, one check, by one process only."""
    interval = max(1, round(config.alert_interval))
    while True:
        try:
            if await storage.claim_alert_round(int(time.time()), interval):
                for outcome in await check(storage, config):
                    if outcome.sent:
                        log.info("alerts for site %s: sent %d", outcome.site, len(outcome.sent))
        except Exception:  # never let the alert task die: ingest and pages go on regardless
            log.exception("alert check failed")
        await asyncio.sleep(min(float(interval), POLL_SECONDS))


async def send_test(storage: Storage, site: Site, config: Config) -> dict[str, str]:
    """A test message to each of the site's channels: {channel: "sent" or why it failed}."""
    sender = Sender(config)
    channels = await storage.alert_channels(site.key)
    link = f"{config.public_url or ''}/sites/{quote(site.key, safe='')}/settings#alerts"
    message = Message(
        subject=f"[ctrlens] {site.name}: test alert",
        text=(
            f"ctrlens · {site.name}: test alert.\nThis channel receives the alerts of {site.name} "
            f"({site.key}): a firmly poor rating, an element without impressions for "
            f"{channels.silence_hours} hours, a broken experiment split, an experiment's decision. "
            f"Nothing to do.\nOpen: {link}"
        ),
        fields={"site": site.key, "condition": "test", "element": None, "variant": None, "url": link},
    )
    results: dict[str, str] = {}
    for channel in sender.channels_of(channels):
        try:
            await sender.send(channel, channels, message)
        except ChannelFailed as exc:
            results[channel] = str(exc)
        else:
            results[channel] = "sent"
    return results
