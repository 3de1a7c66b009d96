"""Alerts: where a site's alerts go, which alerts have been sent, and whose turn it is to check
(docs/design.md §4 "Around the numbers"; schema version 11).

An alert is keyed by (site, condition, element, variant). Its row is written as channels take it
and removed when the condition clears, so each condition alerts once and re-arms when it clears.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from ctrlens.collector.storage.database import Database

#: (condition, element, variant): one alert of a site.
AlertKey = tuple[str, str, str]
DEFAULT_SILENCE_HOURS = 6


@dataclass(frozen=True)
class AlertChannels:
    """A site's alert settings: a webhook URL ('' for none), e-mail recipients, and the hours
    without impressions after which a previously seen element counts as silent."""

    webhook: str = ""
    emails: tuple[str, ...] = ()
    silence_hours: int = DEFAULT_SILENCE_HOURS

    @property
    def configured(self) -> bool:
        return bool(self.webhook or self.emails)


@dataclass(frozen=True)
class AlertRecord:
    """What was sent of one alert: the channels that took it, and when the last one did."""

    delivered: frozenset[str] = field(default_factory=frozenset)
    fired_at: int | None = None


class Alerts:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def channels(self, site: str) -> AlertChannels:
        rows = await self.db.fetch(
            "SELECT webhook, emails, silence_hours FROM alert_channels WHERE site = ?", (site,)
        )
        if not rows:
            return AlertChannels()
        webhook, emails, silence_hours = rows[0]
        return AlertChannels(webhook, tuple(json.loads(emails)), int(silence_hours))

    async def save_channels(self, site: str, channels: AlertChannels) -> None:
        await self.db.execute(
            "INSERT INTO alert_channels (site, webhook, emails, silence_hours, updated_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (site) DO UPDATE SET webhook = excluded.webhook, "
            "emails = excluded.emails, silence_hours = excluded.silence_hours, "
            "updated_at = excluded.updated_at",
            (site, channels.webhook, json.dumps(list(channels.emails)), channels.silence_hours,
             int(time.time())),
        )

    async def records(self, site: str) -> dict[AlertKey, AlertRecord]:
        rows = await self.db.fetch(
            "SELECT condition, element, variant, delivered, fired_at FROM alert_state WHERE site = ?", (site,)
        )
        return {
            (condition, element, variant): AlertRecord(
                frozenset(name for name in delivered.split(",") if name),
                None if fired_at is None else int(fired_at),
            )
            for condition, element, variant, delivered, fired_at in rows
        }

    async def record(self, site: str, key: AlertKey, record: AlertRecord) -> None:
        await self.db.execute(
            "INSERT INTO alert_state (site, condition, element, variant, delivered, fired_at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (site, condition, element, variant) DO UPDATE SET "
            "delivered = excluded.delivered, fired_at = excluded.fired_at",
            (site, *key, ",".join(sorted(record.delivered)), record.fired_at),
        )

    async def rearm(self, site: str, keys: list[AlertKey]) -> None:
        """Forget that these alerts were sent: their conditions cleared."""
        if keys:
            await self.db.executemany(
                "DELETE FROM alert_state WHERE site = ? AND condition = ? AND element = ? AND variant = ?",
                [(site, *key) for key in keys],
            )

    async def claim_round(self, now: int, interval: int) -> bool:
        """True for the one process that takes the check due at `now` (epoch seconds); the next
        is then due `interval` seconds later."""
        async with self.db.transaction() as tx:
            rows = await tx.fetch(
                "UPDATE alert_rounds SET due_at = ? WHERE name = 'check' AND due_at <= ? RETURNING name",
                (now + interval, now),
            )
        return bool(rows)
