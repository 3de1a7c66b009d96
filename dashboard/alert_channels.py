"""Where alerts go: a webhook (Slack-compatible JSON) and e-mail over SMTP (docs/design.md §4
"Around the numbers"), and the validation of a site's alert settings.

Sending blocks (urllib, smtplib), so each send runs in a thread with a timeout: the event loop
that serves POST /e never waits for a slow webhook or mail server.
"""

from __future__ import annotations

import asyncio
import json
import re
import smtplib
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit

from ctrlens.collector.config import Config
from ctrlens.collector.errors import InvalidRequest
from ctrlens.collector.storage.alerts import AlertChannels

WEBHOOK = "webhook"
EMAIL = "email"
CHANNELS = (WEBHOOK, EMAIL)
SEND_TIMEOUT = 10.0
MAX_WEBHOOK = 2048
MAX_EMAILS = 10
MAX_EMAIL = 254
MIN_SILENCE_HOURS = 1
MAX_SILENCE_HOURS = 168
FIELDS = ("webhook", "emails", "silence_hours")
# A plain address: no display name, no spaces or control characters (nothing that could add a
# header), one @ and a dot in the domain.
_ADDRESS = re.compile(r"[^@\s\x00-\x1f\x7f,;<>\"()\[\]\\]+@[^@\s\x00-\x1f\x7f,;<>\"()\[\]\\]+\.[A-Za-z0-9-]+")


@dataclass(frozen=True)
class Message:
    """One alert as the channels send it: a subject line, the text, and fields for machines."""

    subject: str
    text: str
    fields: dict[str, Any]


class ChannelFailed(Exception):
    """A channel did not take a message; the text says why, for the log and the test button."""


# -- settings ---------------------------------------------------------------------------------


def parse_channels(body: Any, current: AlertChannels) -> AlertChannels:
    """A site's alert settings from a JSON object (fields left out keep their value), or a
    readable 400 naming every problem."""
    if not isinstance(body, dict):
        raise InvalidRequest("body must be a JSON object with webhook, emails and silence_hours")
    unknown = sorted(set(body) - set(FIELDS))
    if unknown:
        names = ", ".join(map(repr, unknown))
        raise InvalidRequest(f"unknown alert setting(s) {names}; use {', '.join(FIELDS)}")
    problems: list[str] = []
    webhook, emails, silence = current.webhook, current.emails, current.silence_hours
    if "webhook" in body:
        try:
            webhook = _webhook(body["webhook"])
        except ValueError as exc:
            problems.append(str(exc))
    if "emails" in body:
        try:
            emails = _emails(body["emails"])
        except ValueError as exc:
            problems.append(str(exc))
    if "silence_hours" in body:
        try:
            silence = _silence_hours(body["silence_hours"])
        except ValueError as exc:
            problems.append(str(exc))
    if problems:
        raise InvalidRequest("; ".join(problems))
    return AlertChannels(webhook, emails, silence)


def form_body(form: dict[str, str]) -> dict[str, Any]:
    """The settings form as the JSON body `parse_channels` takes: recipients one per line or
    separated by commas."""
    return {
        "webhook": form.get("webhook", ""),
        "emails": [e for e in re.split(r"[\s,;]+", form.get("emails", "")) if e],
        "silence_hours": form.get("silence_hours", ""),
    }


def _webhook(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError("webhook must be a URL (a string), or empty for none")
    url = value.strip()
    if not url:
        return ""
    problem = f"webhook must be an http:// or https:// URL of at most {MAX_WEBHOOK} characters"
    if len(url) > MAX_WEBHOOK or any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in url):
        raise ValueError(problem)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:
        raise ValueError(problem) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(problem)
    return url


def _emails(value: Any) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        value = [e for e in re.split(r"[\s,;]+", value) if e]
    if not isinstance(value, list) or not all(isinstance(e, str) for e in value):
        raise ValueError("emails must be a list of e-mail addresses")
    addresses = [e.strip() for e in value if e.strip()]
    if len(addresses) > MAX_EMAILS:
        raise ValueError(f"emails holds at most {MAX_EMAILS} addresses, got {len(addresses)}")
    bad = [e for e in addresses if len(e) > MAX_EMAIL or not _ADDRESS.fullmatch(e)]
    if bad:
        shown = ", ".join(repr(e[:60]) for e in bad[:3])
        raise ValueError(f"not an e-mail address: {shown} (write name@example.com)")
    return tuple(dict.fromkeys(addresses))


def _silence_hours(value: Any) -> int:
    problem = f"silence_hours must be a whole number of hours from {MIN_SILENCE_HOURS} to {MAX_SILENCE_HOURS}"
    if isinstance(value, bool):
        raise ValueError(problem)
    try:
        hours = int(str(value).strip())
    except ValueError:
        raise ValueError(problem) from None
    if not MIN_SILENCE_HOURS <= hours <= MAX_SILENCE_HOURS:
        raise ValueError(problem)
    return hours


def channels_json(site: str, channels: AlertChannels, config: Config) -> dict[str, Any]:
    return {
        "site": site,
        "webhook": channels.webhook or None,
        "emails": list(channels.emails),
        "silence_hours": channels.silence_hours,
        # E-mail needs the server's SMTP settings; without them only the webhook is sent.
        "smtp_configured": bool(config.smtp_host),
    }


# -- sending ----------------------------------------------------------------------------------


class Sender:
    """Sends messages to a site's channels, each in a thread and within SEND_TIMEOUT."""

    def __init__(self, config: Config, timeout: float = SEND_TIMEOUT) -> None:
        self.config = config
        self.timeout = timeout

    def channels_of(self, channels: AlertChannels) -> tuple[str, ...]:
        """The channels a site's alerts go to: e-mail only when the server can send it."""
        names = []
        if channels.webhook:
            names.append(WEBHOOK)
        if channels.emails and self.config.smtp_host:
            names.append(EMAIL)
        return tuple(names)

    async def send(self, channel: str, channels: AlertChannels, message: Message) -> None:
        """Send `message` on `channel`; raise ChannelFailed with the reason."""
        try:
            if channel == WEBHOOK:
                await asyncio.to_thread(self._post, channels.webhook, message)
            else:
                await asyncio.to_thread(self._mail, channels.emails, message)
        except ChannelFailed:
            raise
        except (OSError, smtplib.SMTPException, ValueError) as exc:
            raise ChannelFailed(f"{channel}: {type(exc).__name__}: {exc}") from exc

    def _post(self, url: str, message: Message) -> None:
        body = json.dumps({"text": message.text, **message.fields}).encode()
        request = urllib.request.Request(
            url, data=body, method="POST",
            headers={"Content-Type": "application/json", "User-Agent": "ctrlens-alerts"},
        )
        # No redirects: a webhook that moved should be updated, not followed with the alert.
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            with opener.open(request, timeout=self.timeout) as answer:
                status = answer.status
        except urllib.error.HTTPError as exc:
            raise ChannelFailed(f"webhook: the server answered {exc.code}") from None
        if not 200 <= status < 300:
            raise ChannelFailed(f"webhook: the server answered {status}")

    def _mail(self, recipients: tuple[str, ...], message: Message) -> None:
        config = self.config
        if not config.smtp_host:
            raise ChannelFailed("email: no SMTP server configured (CTRLENS_SMTP_HOST)")
        mail = EmailMessage()
        mail["From"] = config.smtp_from
        mail["To"] = ", ".join(recipients)
        mail["Subject"] = message.subject
        mail.set_content(message.text)
        with smtplib.SMTP(config.smtp_host, config.smtp_port, timeout=self.timeout) as smtp:
            if config.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if config.smtp_user:
                smtp.login(config.smtp_user, config.smtp_password or "")
            smtp.send_message(mail)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None
