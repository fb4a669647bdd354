"""Delivery channels: email (aiosmtplib, STARTTLS), signed JSON webhooks (httpx) and apprise URLs for the rest."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import ssl
import time
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any, Protocol

import aiosmtplib
import httpx

from plantctl.config.notifications import ChannelKind, EmailConfig, WebhookConfig
from plantctl.samples import utcnow

SIGNATURE_HEADER = "X-Plantctl-Signature"
TIMESTAMP_HEADER = "X-Plantctl-Timestamp"


class DeliveryError(Exception):
    """A message was not accepted; `reason` says by whom and why (kept on the outbox row)."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message as a channel sends it."""

    message_id: int
    recipient: str
    address: str
    kind: str
    subject: str
    body: str
    alarms: tuple[str, ...] = ()
    links: dict[str, str] = field(default_factory=dict)  # alarm → acknowledge URL


class Channel(Protocol):
    kind: ChannelKind

    async def send(self, msg: Outgoing) -> None: ...


def _text(msg: Outgoing) -> str:
    lines = [msg.body]
    for alarm, url in msg.links.items():
        lines.append(f"Acknowledge {alarm}: {url}")
    return "\n".join(lines) + "\n"


class EmailChannel:
    """SMTP submission with STARTTLS; the password comes from the environment variable the plant file names."""

    kind = ChannelKind.EMAIL

    def __init__(self, cfg: EmailConfig) -> None:
        self.cfg = cfg

    def _tls(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.cfg.ca_file)

    def compose(self, msg: Outgoing) -> EmailMessage:
        m = EmailMessage()
        m["From"] = self.cfg.sender
        m["To"] = msg.address
        m["Subject"] = msg.subject
        m["Date"] = format_datetime(utcnow())
        m["Message-ID"] = make_msgid(idstring=f"plantctl-{msg.message_id}")
        m["X-Plantctl-Message"] = str(msg.message_id)
        m["X-Plantctl-Kind"] = msg.kind
        if msg.alarms:
            m["X-Plantctl-Alarms"] = ", ".join(msg.alarms[:20])
        m["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
        m.set_content(_text(msg))
        return m

    async def send(self, msg: Outgoing) -> None:
        c = self.cfg
        user = os.environ.get(c.username_env, "") if c.username_env else None
        password = os.environ.get(c.password_env, "") if c.password_env else None
        if c.password_env and not password:
            raise DeliveryError(f"email: environment variable {c.password_env} (the SMTP password) is not set")
        try:
            await aiosmtplib.send(self.compose(msg), hostname=c.host, port=c.port, start_tls=c.starttls,
                                  use_tls=False, username=user or None, password=password or None,
                                  tls_context=self._tls() if c.starttls else None, timeout=c.timeout_s)
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"email to {msg.address} via {c.host}:{c.port}: {exc}") from exc


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """HMAC-SHA256 over "<timestamp>.<body>" (the receiver checks it and the timestamp's age)."""
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


class WebhookChannel:
    """POSTs the message as JSON with an HMAC-SHA256 signature header over the timestamp and body."""

    kind = ChannelKind.WEBHOOK

    def __init__(self, cfg: WebhookConfig) -> None:
        self.cfg = cfg

    def payload(self, msg: Outgoing) -> dict[str, Any]:
        return {"id": msg.message_id, "kind": msg.kind, "recipient": msg.recipient, "subject": msg.subject,
                "text": msg.body, "alarms": list(msg.alarms), "ack_links": msg.links}

    async def send(self, msg: Outgoing) -> None:
        secret = os.environ.get(self.cfg.secret_env, "")
        if not secret:
            raise DeliveryError(f"webhook: environment variable {self.cfg.secret_env} (the signing key) is not set")
        body = json.dumps(self.payload(msg), separators=(",", ":")).encode()
        ts = str(int(time.time()))
        headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: ts,
                   SIGNATURE_HEADER: sign(secret.encode(), ts, body), "Idempotency-Key": f"plantctl-{msg.message_id}"}
        try:
            async with httpx.AsyncClient(timeout=self.cfg.timeout_s) as client:
                r = await client.post(msg.address, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"webhook {msg.address}: {exc!r}") from exc
        if r.status_code >= 300:
            raise DeliveryError(f"webhook {msg.address}: HTTP {r.status_code}")


class AppriseChannel:
    """Chat, push and SMS gateways by apprise URL (one maintained library instead of a client per service)."""

    kind = ChannelKind.APPRISE

    async def send(self, msg: Outgoing) -> None:
        import apprise  # heavy import (hundreds of plugins): only when an apprise URL is paged

        ap = apprise.Apprise()
        if not ap.add(msg.address):
            raise DeliveryError("apprise: the URL is not one apprise understands")
        ok = await ap.async_notify(body=_text(msg), title=msg.subject)
        if not ok:
            raise DeliveryError("apprise: the service did not accept the message")
