"""Single-use, expiring acknowledge links: only a hash of the token is stored, the token lives in the message."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class AckLink:
    alarm: str
    recipient: str
    channel: str
    expires_at: datetime
    used_at: datetime | None


class LinkRefused(Exception):
    """The link cannot acknowledge: unknown, already used or expired (`reason` is shown to the person)."""

    def __init__(self, reason: str, status: int) -> None:
        self.reason = reason
        self.status = status
        super().__init__(reason)


async def issue(conn: psycopg.AsyncConnection[Any], alarm: str, recipient: str, channel: str, message_id: int,
                now: datetime, ttl_s: float) -> str:
    token = secrets.token_urlsafe(32)
    await conn.execute(
        "INSERT INTO notify_ack_link (digest, alarm, recipient, channel, message_id, created, expires_at) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s)",
        (digest(token), alarm, recipient, channel, message_id, now, now + timedelta(seconds=ttl_s)))
    return token


async def look_up(conn: psycopg.AsyncConnection[Any], token: str) -> AckLink | None:
    cur = await conn.execute("SELECT alarm, recipient, channel, expires_at, used_at FROM notify_ack_link "
                             "WHERE digest = %s", (digest(token),))
    row = await cur.fetchone()
    return None if row is None else AckLink(*row)


def check(link: AckLink | None, now: datetime) -> AckLink:
    """The link if it may still acknowledge, else LinkRefused saying why."""
    if link is None:
        raise LinkRefused("This link is not known. It may be mistyped or from another plant.", 404)
    if link.used_at is not None:
        raise LinkRefused(f"This link was already used (at {link.used_at:%Y-%m-%d %H:%M:%S} UTC); "
                          "each link acknowledges once.", 410)
    if link.expires_at <= now:
        raise LinkRefused(f"This link expired at {link.expires_at:%Y-%m-%d %H:%M:%S} UTC. "
                          "Acknowledge in the panel.", 410)
    return link


async def consume(conn: psycopg.AsyncConnection[Any], token: str, now: datetime, source: str) -> AckLink:
    """Mark the link used, atomically (two clicks at once: one wins); LinkRefused if it cannot be used."""
    cur = await conn.execute(
        "UPDATE notify_ack_link SET used_at = %s, used_from = %s "
        "WHERE digest = %s AND used_at IS NULL AND expires_at > %s "
        "RETURNING alarm, recipient, channel, expires_at, used_at", (now, source, digest(token), now))
    row = await cur.fetchone()
    if row is None:
        check(await look_up(conn, token), now)
        raise LinkRefused("This link was already used.", 410)  # raced: used between the two statements
    return AckLink(*row)
