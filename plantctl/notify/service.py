"""The notifier: alarm transitions in, escalating pages out, every step kept in the database so none is lost.

One pass (`run_once`) does, in order: open/close incidents from the alarm transitions received; page the
escalation steps that are due (into per-recipient pending rows); turn each recipient's pending pages into
one message (a page, a small group, or a flood digest) per channel once its gather window has passed; send
the due outbox messages, retrying with backoff. Everything is timed by the injected clock, so tests run
escalations in virtual time; the background task only calls `run_once` when woken or every tick.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg

from plantctl.alarms.service import AlarmService
from plantctl.alarms.states import AlarmEvent, AlarmState, Transition
from plantctl.config.models import PlantConfig
from plantctl.config.notifications import ChannelKind, NotificationsConfig, PipelineConfig, StepConfig
from plantctl.notify import compose, links, overrides, rotations
from plantctl.notify import points as channel_points
from plantctl.notify.channels import AppriseChannel, Channel, DeliveryError, EmailChannel, Outgoing, WebhookChannel
from plantctl.notify.heartbeat import Heartbeat
from plantctl.notify.roster import Roster
from plantctl.points import PointPublisher, Publish
from plantctl.samples import utcnow

log = logging.getLogger(__name__)

LINKED_KINDS = frozenset({"page", "group"})  # messages that carry acknowledge links (a digest links the panel)
CHANNEL_PIPELINE = "SYS.NOTIFY"  # the built-in pipeline of the channel alarms (user pipelines may not use SYS.)
CHANNEL_REPEAT_S = 1800.0  # an unacknowledged channel alarm is paged again this often, through the other channels


@dataclass
class ChannelHealth:
    """A channel whose last attempt failed is failing (its system point is 1) until a message goes through."""

    sent: int = 0
    failures: int = 0
    failing_since: datetime | None = None
    last_error: str = ""
    escalated: int = 0


@dataclass
class NotifierStats:
    incidents_opened: int = 0
    incidents_closed: int = 0
    pages: int = 0
    messages_created: int = 0
    messages_sent: int = 0
    messages_cancelled: int = 0
    messages_expired: int = 0
    undeliverable: int = 0  # a page to someone with no address on the step's channels
    pass_failures: int = 0
    channels: dict[str, ChannelHealth] = field(default_factory=dict)


@contextlib.asynccontextmanager
async def _connect(url: str) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
    async with await psycopg.AsyncConnection.connect(url, connect_timeout=5, autocommit=True) as conn:
        yield conn


class AckOutcome:
    """What acknowledging from a link did: the alarm acknowledged, or why the alarm refused."""

    def __init__(self, alarm: str, user: str, channel: str, refused: str | None) -> None:
        self.alarm, self.user, self.channel, self.refused = alarm, user, channel, refused


class Notifier:
    """One plant's on-call notification; a runtime component (start/stop) listening to the alarm service."""

    def __init__(self, cfg: NotificationsConfig, plant_name: str, database_url: str, alarms: AlarmService, *,
                 units: Mapping[str, str] | None = None, clock: Callable[[], datetime] = utcnow, tick_s: float = 0.25,
                 channels: Mapping[ChannelKind, Channel] | None = None, send_concurrency: int = 8,
                 publish: Publish | None = None) -> None:
        self.cfg = cfg
        self.plant_name = plant_name
        self.units = dict(units or {})  # tag → unit, for the values messages quote
        self.roster = Roster(cfg)
        self.alarms = alarms
        self._url = database_url
        self._clock = clock
        self._tick_s = tick_s
        self._pipelines = {p.name: p for p in cfg.pipelines}
        self.channels: dict[ChannelKind, Channel] = dict(channels) if channels is not None else self._channels()
        self._received: list[Transition] = []
        self._ack_via: dict[str, str] = {}
        self._hold_until: dict[str, datetime] = {}  # person → no message before (flood digest, rate limit)
        self._sent_times: dict[str, deque[datetime]] = {}  # person → when messages went out (rate limit)
        self._reconciled = False
        self._wake = asyncio.Event()
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._lock = asyncio.Lock()
        self._send_slots = asyncio.Semaphore(send_concurrency)
        self._tasks: list[asyncio.Task[None]] = []
        self.heartbeat = Heartbeat(cfg.heartbeat) if cfg.heartbeat is not None else None
        self.stats = NotifierStats()
        declared = channel_points.channel_points(cfg)
        missing = sorted({a.name for a in declared.alarms} - set(alarms.engine.names()))
        if missing:
            raise ValueError(f"the alarm service has no alarm {', '.join(missing)}: build the plant the service runs "
                             "with plantctl.runtime.assemble.service_plant (system points)")
        # the channels' system points, to the bus (or, without one, straight to the alarm service's tap)
        self.points = PointPublisher(publish if publish is not None else alarms.submit, declared)
        self._channel_of = {channel_points.alarm_name(c): c for c in channel_points.channels_in_use(cfg)}
        self._channel_pipeline = self._channel_alarm_pipeline()
        if self._channel_pipeline is not None:
            self._pipelines[CHANNEL_PIPELINE] = self._channel_pipeline
        alarms.add_listener(self.receive)

    @classmethod
    def for_plant(cls, plant: PlantConfig, database_url: str, alarms: AlarmService, **kw: Any) -> Notifier | None:
        """The plant's notifier, or None without a `notifications:` section (the default).

        `plant` is the service's plant (with its system points, assemble.service_plant); `publish=` the bus's.
        """
        if plant.notifications is None:
            return None
        return cls(plant.notifications, plant.plant.name, database_url, alarms,
                   units={t.name: t.unit for t in plant.tags}, **kw)

    def _channel_alarm_pipeline(self) -> PipelineConfig | None:
        """Channel alarms page channel_failure_notify (default: everyone the pipelines name), repeated until acked."""
        targets = self.cfg.channel_failure_notify or [t for p in self.cfg.pipelines for s in p.steps for t in s.notify]
        if not targets:
            return None  # nobody to tell: the alarm is in the alarm list only
        step = StepConfig(notify=list(dict.fromkeys(targets)), via=list(ChannelKind), wait_s=CHANNEL_REPEAT_S)
        # no return-to-normal message: the people it would go to were paged by other channels, or not at all
        return PipelineConfig(name=CHANNEL_PIPELINE, alarms=list(self._channel_of), steps=[step])

    def _channels(self) -> dict[ChannelKind, Channel]:
        out: dict[ChannelKind, Channel] = {ChannelKind.APPRISE: AppriseChannel()}
        if self.cfg.channels.email is not None:
            out[ChannelKind.EMAIL] = EmailChannel(self.cfg.channels.email)
        if self.cfg.channels.webhook is not None:
            out[ChannelKind.WEBHOOK] = WebhookChannel(self.cfg.channels.webhook)
        return out

    # -- the alarm service's side ----------------------------------------------------------------
    def receive(self, transitions: list[Transition]) -> None:
        """Alarm service listener: keep the transitions for the next pass; never waits."""
        self._received.extend(transitions)
        self._wake.set()

    # -- lifecycle -------------------------------------------------------------------------------
    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._run(), name="notifier"))
        if self.heartbeat is not None:
            self._tasks.append(asyncio.create_task(self.heartbeat.run(), name="notifier-heartbeat"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        with contextlib.suppress(psycopg.Error, OSError):
            await self.run_once()  # what was received before the stop is saved (and due pages sent)
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.run_once()
            except (psycopg.Error, OSError) as exc:
                self.stats.pass_failures += 1
                log.warning("notifier pass failed (%s); retrying", exc)
                if self._conn is not None:
                    with contextlib.suppress(psycopg.Error, OSError):
                        await self._conn.close()
                    self._conn = None
                await asyncio.sleep(1.0)
            except Exception:
                self.stats.pass_failures += 1
                log.exception("notifier pass failed")
                await asyncio.sleep(1.0)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._tick_s)

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = await psycopg.AsyncConnection.connect(self._url, connect_timeout=5, autocommit=True)
        return self._conn

    async def run_once(self) -> None:
        """One pass at the clock's now: incidents, escalation, gathering, delivery, the daily test."""
        async with self._lock:
            now = self._clock()
            conn = await self._connection()
            if not self._reconciled:
                await self._load_overrides(conn, now)
                await self._reconcile(conn, now)
                self._reconciled = True
            await self._apply(conn, now)
            await self._escalate_undelivered(conn, now)
            await self._escalate(conn, now)
            await self._gather(conn, now)
            await self._deliver(conn, now)
            await self._daily_test(conn, now)
            self._publish_channel_points(now)

    async def _load_overrides(self, conn: psycopg.AsyncConnection[Any], now: datetime) -> None:
        self.roster.panel_overrides = [o.config() for o in await overrides.active(conn, now - timedelta(days=1))]
        self.roster.panel_rotations = {r.rotation: r.config() for r in await rotations.in_force(conn)}

    def _own_connection(self) -> contextlib.AbstractAsyncContextManager[psycopg.AsyncConnection[Any]]:
        """A connection of a request's own: a pass sending to a slow mail server must not hold an ack up."""
        return _connect(self._url)

    async def reload_overrides(self) -> None:
        """Take the panel's overrides and rotations again (after an engineer changed them)."""
        async with self._own_connection() as conn:
            await self._load_overrides(conn, self._clock())

    # -- incidents -------------------------------------------------------------------------------
    def pipeline_for(self, alarm: str, priority: int) -> PipelineConfig | None:
        if alarm in self._channel_of:  # the notifier's own alarms: their pipeline, never an area's
            return self._channel_pipeline
        for p in self.cfg.pipelines:
            if priority in p.priorities and any(fnmatch.fnmatchcase(alarm, pat) for pat in p.alarms):
                return p
        return None

    async def _open(self, conn: psycopg.AsyncConnection[Any], alarm: str, priority: int, raised: datetime,
                    now: datetime) -> None:
        pipeline = self.pipeline_for(alarm, priority)
        if pipeline is None:
            return
        due = self.roster.quiet(priority, now) or now
        cur = await conn.execute(
            "INSERT INTO notify_incident (alarm, pipeline, priority, raised_at, next_step_at) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (alarm) WHERE closed_at IS NULL DO NOTHING RETURNING id",
            (alarm, pipeline.name, priority, raised, due))
        if await cur.fetchone() is not None:
            self.stats.incidents_opened += 1

    async def _close(self, conn: psycopg.AsyncConnection[Any], t: Transition, now: datetime) -> None:
        acked = t.event is AlarmEvent.ACK
        via = self._ack_via.pop(t.alarm, "panel") if acked else None
        cur = await conn.execute(
            "UPDATE notify_incident SET closed_at = %s, close_reason = %s, acked_by = %s, acked_via = %s, "
            "next_step_at = NULL WHERE alarm = %s AND closed_at IS NULL RETURNING id, pipeline, notified",
            (t.ts, t.event.value, t.user if acked else None, via, t.alarm))
        row = await cur.fetchone()
        if row is None:
            return
        self.stats.incidents_closed += 1
        _id, pipeline_name, notified = row
        pipeline = self._pipelines.get(pipeline_name)
        if t.event is AlarmEvent.CLEAR and pipeline is not None and pipeline.notify_return_to_normal:
            subject, body = compose.return_to_normal(self.plant_name, t.alarm, t.ts, self.cfg.zone)
            for person in notified:
                await self._create(conn, person, list(ChannelKind), "rtn", subject, body, [t.alarm], [], now)

    async def _apply(self, conn: psycopg.AsyncConnection[Any], now: datetime) -> None:
        batch, self._received = self._received, []
        try:
            async with conn.transaction():
                for t in batch:
                    if t.new_state is AlarmState.UNACK and t.old_state is not AlarmState.UNACK:
                        await self._open(conn, t.alarm, t.priority, t.ts, now)
                    elif t.new_state is not AlarmState.UNACK:
                        # acknowledged, returned to normal, shelved, suppressed, out of service: no more paging
                        await self._close(conn, t, now)
        except BaseException:
            self._received[:0] = batch  # kept for the next pass
            raise

    async def _reconcile(self, conn: psycopg.AsyncConnection[Any], now: datetime) -> None:
        """After a restart: alarms unacknowledged now get an incident; incidents of alarms no longer so close."""
        unacked = {s.name: s for s in self.alarms.engine.statuses() if s.state is AlarmState.UNACK}
        async with conn.transaction():
            cur = await conn.execute("SELECT alarm FROM notify_incident WHERE closed_at IS NULL")
            open_now = {r[0] for r in await cur.fetchall()}
            for name in open_now - set(unacked):
                await conn.execute("UPDATE notify_incident SET closed_at = %s, close_reason = 'restart', "
                                   "next_step_at = NULL WHERE alarm = %s AND closed_at IS NULL", (now, name))
            for name, s in unacked.items():
                if name not in open_now:
                    await self._open(conn, name, s.priority, s.active_since or now, now)

    # -- escalation ------------------------------------------------------------------------------
    async def _escalate(self, conn: psycopg.AsyncConnection[Any], now: datetime) -> None:
        async with conn.transaction():
            cur = await conn.execute(
                "SELECT id, alarm, pipeline, step FROM notify_incident WHERE closed_at IS NULL "
                "AND next_step_at <= %s ORDER BY next_step_at LIMIT 5000 FOR UPDATE SKIP LOCKED", (now,))
            pending: list[tuple[str, int, list[str], datetime]] = []
            for incident, alarm, pipeline_name, step_no in await cur.fetchall():
                pipeline = self._pipelines.get(pipeline_name)
                if pipeline is None:
                    log.error("alarm %s: pipeline %r is no longer configured; its paging stops", alarm, pipeline_name)
                    await conn.execute("UPDATE notify_incident SET next_step_at = NULL WHERE id = %s", (incident,))
                    continue
                last = len(pipeline.steps) - 1
                step = pipeline.steps[min(step_no, last)]  # after the last step, the last step repeats
                people = self.roster.resolve(step.notify, now)
                failing = self._channel_of.get(alarm)  # a channel's own alarm never goes by that channel
                via = [v.value for v in step.via if v is not failing]
                pending += [(p, incident, via, now) for p in people]
                await conn.execute(
                    "UPDATE notify_incident SET step = %s, next_step_at = %s, "
                    "notified = notified || ARRAY(SELECT p FROM unnest(%s::text[]) p WHERE p <> ALL(notified)) "
                    "WHERE id = %s",
                    (min(step_no + 1, last + 1), now + timedelta(seconds=step.wait_s), people, incident))
                self.stats.pages += len(people)
            if pending:
                async with conn.cursor() as c:
                    await c.executemany("INSERT INTO notify_pending (person, incident, via, created) "
                                        "VALUES (%s, %s, %s, %s)", pending)

    # -- gathering pages into messages -------------------------------------------------------------
    def _rate_limited_until(self, person: str, now: datetime) -> datetime | None:
        rl = self.cfg.rate_limit
        window = timedelta(seconds=rl.per_s)
        sent = self._sent_times.setdefault(person, deque())
        while sent and sent[0] <= now - window:
            sent.popleft()
        return sent[0] + window if len(sent) >= rl.messages else None

    async def _gather(self, conn: psycopg.AsyncConnection[Any], now: datetime) -> None:
        cur = await conn.execute(
            "SELECT p.id, p.person, p.via, p.created, i.id, i.alarm, i.priority, i.raised_at, i.closed_at "
            "FROM notify_pending p JOIN notify_incident i ON i.id = p.incident ORDER BY p.person, p.created")
        by_person: dict[str, list[tuple[Any, ...]]] = {}
        for row in await cur.fetchall():
            by_person.setdefault(row[1], []).append(row)
        flood = self.cfg.flood
        for person, rows in by_person.items():
            held = self._hold_until.get(person)
            if held is not None and now < held:
                continue
            if held is None and now - rows[0][3] < timedelta(seconds=flood.gather_s):
                continue  # more pages may arrive for the same message
            ids = [r[0] for r in rows]
            open_rows: dict[int, tuple[Any, ...]] = {}
            for r in rows:
                if r[8] is None:
                    open_rows.setdefault(r[4], r)
            if open_rows:
                limited = self._rate_limited_until(person, now)
                if limited is not None:
                    self._hold_until[person] = limited
                    continue
                self._hold_until.pop(person, None)
                for part in self._apart(list(open_rows.values())):
                    await self._message_for(conn, person, part, now)
            await conn.execute("DELETE FROM notify_pending WHERE id = ANY(%s)", (ids,))

    def _apart(self, rows: list[tuple[Any, ...]]) -> list[list[tuple[Any, ...]]]:
        """The plant's alarms in one message; a channel's own alarm in one of its own, sent only by the channels
        its page names (in a shared message it would go by the failing channel too, or hold the others up)."""
        parts: dict[tuple[str, ...] | None, list[tuple[Any, ...]]] = {}
        for r in rows:
            parts.setdefault(tuple(r[2]) if r[5] in self._channel_of else None, []).append(r)
        return list(parts.values())

    async def _message_for(self, conn: psycopg.AsyncConnection[Any], person: str, rows: list[tuple[Any, ...]],
                           now: datetime) -> None:
        via: list[ChannelKind] = []
        for r in rows:
            via += [ChannelKind(v) for v in r[2] if ChannelKind(v) not in via]
        lines = [self._line(r[5], r[6], r[7]) for r in rows]
        panel = self.cfg.public_url.rstrip("/") + "/"
        if len(lines) == 1:
            kind = "page"
            subject, body = compose.page(self.plant_name, lines[0], panel, self.cfg.zone)
        else:
            digest = len(lines) > self.cfg.flood.threshold
            kind = "digest" if digest else "group"
            unacked = sum(1 for a in self.alarms.engine.annunciated() if a.state is AlarmState.UNACK)
            subject, body = compose.group(self.plant_name, lines, panel, self.cfg.zone, digest, unacked)
            if digest:
                self._hold_until[person] = now + timedelta(seconds=self.cfg.flood.hold_s)
        self._sent_times.setdefault(person, deque()).append(now)
        ordered = compose.worst_first(lines)
        await self._create(conn, person, via, kind, subject, body, [a.alarm for a in ordered],
                           [r[4] for r in rows], now)

    def _line(self, alarm: str, priority: int, raised: datetime) -> compose.AlarmLine:
        try:
            s = self.alarms.engine.status(alarm)
        except KeyError:  # no longer configured
            return compose.AlarmLine(alarm, priority, raised)
        channel = self._channel_of.get(alarm)
        if channel is not None:  # what failed, rather than "at 1 bool"
            error = self.stats.channels.get(channel.value, ChannelHealth()).last_error
            return compose.AlarmLine(alarm, priority, raised, s.message + (f" (last error: {error})" if error else ""))
        return compose.AlarmLine(alarm, priority, raised, s.message, s.value, self.units.get(s.tag, ""))

    async def _create(self, conn: psycopg.AsyncConnection[Any], person: str, via: list[ChannelKind], kind: str,
                      subject: str, body: str, alarms: list[str], incidents: list[int], now: datetime) -> int:
        """Outbox rows for each of the person's addresses on these channels; returns how many."""
        try:
            addresses = self.cfg.person(person).addresses()
        except KeyError:
            addresses = {}
        rows = [(now, person, ch.value, addr, kind, subject, body, alarms, incidents, now)
                for ch in via if ch in addresses for addr in addresses[ch]]
        if not rows:
            self.stats.undeliverable += 1
            log.error("%s for %s not sent: no address on channels %s", kind, person, ", ".join(v.value for v in via))
            return 0
        async with conn.cursor() as c:
            await c.executemany(
                "INSERT INTO notify_message (created, recipient, channel, address, kind, subject, body, alarms, "
                "incidents, next_attempt_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", rows)
        self.stats.messages_created += len(rows)
        self._wake.set()
        return len(rows)

    # -- delivery --------------------------------------------------------------------------------
    async def _deliver(self, conn: psycopg.AsyncConnection[Any], now: datetime) -> None:
        cur = await conn.execute(
            "SELECT m.id, m.recipient, m.channel, m.address, m.kind, m.subject, m.body, m.alarms, m.incidents, "
            "m.attempts, m.created, m.escalated, "
            "(cardinality(m.incidents) > 0 AND NOT EXISTS (SELECT 1 FROM notify_incident i "
            " WHERE i.id = ANY(m.incidents) AND i.closed_at IS NULL)) AS stale "
            "FROM notify_message m WHERE m.status = 'pending' AND m.next_attempt_at <= %s "
            "ORDER BY m.next_attempt_at, m.id LIMIT 200", (now,))
        rows = await cur.fetchall()
        if not rows:
            return
        stale = [r[0] for r in rows if r[12]]
        if stale:  # every alarm in it was acknowledged or cleared before it went out: nobody needs it now
            await conn.execute("UPDATE notify_message SET status = 'cancelled' WHERE id = ANY(%s)", (stale,))
            self.stats.messages_cancelled += len(stale)
        todo = [r for r in rows if not r[12]]
        outcomes = await asyncio.gather(*(self._send_one(conn, r, now) for r in todo))
        for r, error in zip(todo, outcomes, strict=True):
            await self._record(conn, r, error, now)

    async def _send_one(self, conn: psycopg.AsyncConnection[Any], r: tuple[Any, ...], now: datetime) -> str | None:
        msg_id, person, channel, address, kind, subject, body, alarms = r[:8]
        ch = self.channels.get(ChannelKind(channel))
        if ch is None:
            return f"channel {channel} is not configured"
        ack_links: dict[str, str] = {}
        if kind in LINKED_KINDS:
            base = self.cfg.public_url.rstrip("/")
            for alarm in alarms:
                token = await links.issue(conn, alarm, person, channel, msg_id, now, self.cfg.ack_link.ttl_s)
                ack_links[alarm] = f"{base}/notify/ack/{token}"
        out = Outgoing(msg_id, person, address, kind, subject, body, tuple(alarms), ack_links)
        async with self._send_slots:
            try:
                await ch.send(out)
            except DeliveryError as exc:
                return str(exc)
            except Exception as exc:  # a channel library's surprise is a failed attempt, retried like the rest
                log.exception("channel %s raised", channel)
                return f"{channel}: {exc!r}"
        return None

    async def _record(self, conn: psycopg.AsyncConnection[Any], r: tuple[Any, ...], error: str | None,
                      now: datetime) -> None:
        msg_id, _person, channel = r[0], r[1], r[2]
        attempts, created = r[9] + 1, r[10]
        health = self.stats.channels.setdefault(channel, ChannelHealth())
        if error is None:
            await conn.execute("UPDATE notify_message SET status = 'sent', sent_at = %s, attempts = %s, "
                               "last_error = '' WHERE id = %s", (self._clock(), attempts, msg_id))
            self.stats.messages_sent += 1
            health.sent += 1
            if health.failing_since is not None:
                log.warning("channel %s delivers again (failing since %s)", channel, health.failing_since)
            health.failing_since, health.last_error = None, ""
            return
        health.failures += 1
        health.last_error = error
        if health.failing_since is None:
            health.failing_since = now
        d = self.cfg.delivery
        age = (now - created).total_seconds()
        if age >= d.expire_s:
            await conn.execute("UPDATE notify_message SET status = 'expired', attempts = %s, last_error = %s "
                               "WHERE id = %s", (attempts, error, msg_id))
            self.stats.messages_expired += 1
            log.error("notification %d given up after %d attempts: %s", msg_id, attempts, error)
            return
        delay = min(d.retry_base_s * 2 ** min(attempts - 1, 20), d.retry_max_s)
        await conn.execute("UPDATE notify_message SET attempts = %s, last_error = %s, next_attempt_at = %s "
                           "WHERE id = %s", (attempts, error, now + timedelta(seconds=delay), msg_id))

    async def _escalate_undelivered(self, conn: psycopg.AsyncConnection[Any], now: datetime) -> None:
        """A page not delivered within escalate_after_s: its person cannot be reached, page the next step now."""
        cur = await conn.execute(
            "UPDATE notify_message SET escalated = true WHERE status = 'pending' AND NOT escalated "
            "AND created <= %s RETURNING id, channel, incidents, last_error",
            (now - timedelta(seconds=self.cfg.delivery.escalate_after_s),))
        for msg_id, channel, incidents, error in await cur.fetchall():
            health = self.stats.channels.setdefault(channel, ChannelHealth())
            health.escalated += 1
            log.error("notification %d not delivered by %s for %.0f s (%s): escalating its alarms",
                      msg_id, channel, self.cfg.delivery.escalate_after_s, error)
            rows = await (await conn.execute(
                "SELECT id, pipeline, step FROM notify_incident WHERE id = ANY(%s) AND closed_at IS NULL "
                "AND next_step_at > %s", (incidents, now))).fetchall()
            # a next step exists: page it now (the last step is not repeated on a failure, only after its wait)
            ids = [i for i, name, step in rows if name in self._pipelines and step < len(self._pipelines[name].steps)]
            await conn.execute("UPDATE notify_incident SET next_step_at = %s WHERE id = ANY(%s)", (now, ids))

    def _publish_channel_points(self, now: datetime) -> None:
        """Each channel's system point: 1 while its last attempt failed; its alarm (on-delay escalate_after_s) pages."""
        for channel in self._channel_of.values():
            health = self.stats.channels.get(channel.value)
            failing = health is not None and health.failing_since is not None
            self.points.set(channel_points.point_name(channel), 1.0 if failing else 0.0, now)

    def failing_channels(self, now: datetime | None = None) -> dict[str, ChannelHealth]:
        """Channels failing for longer than delivery.escalate_after_s (their alarms' on-delay): on the status page."""
        now = now or self._clock()
        limit = timedelta(seconds=self.cfg.delivery.escalate_after_s)
        return {name: h for name, h in self.stats.channels.items()
                if h.failing_since is not None and now - h.failing_since >= limit}

    # -- the daily test ----------------------------------------------------------------------------
    async def _daily_test(self, conn: psycopg.AsyncConnection[Any], now: datetime) -> None:
        tm = self.cfg.test_message
        if tm is None:
            return
        local = now.astimezone(self.cfg.zone)
        if local.time() < tm.at:
            return
        day_start = datetime.combine(local.date(), tm.at, self.cfg.zone)
        cur = await conn.execute("SELECT 1 FROM notify_message WHERE kind = 'test' AND created >= %s LIMIT 1",
                                 (day_start,))
        if await cur.fetchone() is not None:
            return
        for person in tm.people:
            subject, body = compose.test_message(self.plant_name, person, now, self.cfg.zone)
            await self._create(conn, person, list(ChannelKind), "test", subject, body, [], [], now)

    # -- acknowledge from a message --------------------------------------------------------------
    async def link(self, token: str) -> tuple[links.AckLink, Any]:
        """What a link would acknowledge (for the confirmation page); LinkRefused if it cannot."""
        async with self._own_connection() as conn:
            link = links.check(await links.look_up(conn, token), self._clock())
        try:
            status = self.alarms.engine.status(link.alarm)
        except KeyError:
            status = None
        return link, status

    async def acknowledge_link(self, token: str, source_address: str, user: str | None = None) -> AckOutcome:
        """Use a link once: the alarm is acknowledged through the alarm service (audited), as the logged-in
        user when there is one, else as the recipient's linked user."""
        async with self._own_connection() as conn:
            link = await links.consume(conn, token, self._clock(), source_address)
        if user is None:
            try:
                person = self.cfg.person(link.recipient)
                user = person.user or f"{person.name} (on call)"
            except KeyError:
                user = f"{link.recipient} (on call)"
        self._ack_via[link.alarm] = link.channel
        result = await self.alarms.acknowledge([link.alarm], user,
                                               f"acknowledged from the {link.channel} notification",
                                               source_address)
        refused = result.refused.get(link.alarm)
        if refused is not None:
            self._ack_via.pop(link.alarm, None)
        self._wake.set()
        return AckOutcome(link.alarm, user, link.channel, None if refused is None else refused.reason)
