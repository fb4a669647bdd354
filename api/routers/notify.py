"""On-call notification: who is on call, the notification log per alarm, time to acknowledge, and ack links.

The acknowledge link in a message opens a page (GET, no change: mail scanners follow links) whose button
POSTs the acknowledgement; the token is single-use, expiring and bound to the alarm and the recipient.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from html import escape
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field

from api.auth.deps import Ctx, Engineer, Operator, Viewer
from api.context import ApiContext, client_ip
from api.errors import ApiProblem, problem_responses
from api.schemas import NO_NUL
from api.timerange import ApiDateTime
from plantctl.audit.audit import AuditAction
from plantctl.config.notifications import OverrideConfig
from plantctl.notify import overrides, report
from plantctl.notify.links import LinkRefused
from plantctl.notify.service import Notifier
from plantctl.samples import utcnow

router = APIRouter(prefix="/api/v1/notify", tags=["notifications"], responses=problem_responses(401, 403, 422, 503))
ack_router = APIRouter(prefix="/notify", include_in_schema=False)
Token = Annotated[str, Path(min_length=20, max_length=100, pattern=r"^[A-Za-z0-9_\-]+$")]


def _notifier(ctx: ApiContext) -> Notifier:
    n = ctx.runtime.notifier
    if n is None:
        raise ApiProblem(503, "no-notifications", "Notifications not configured",
                         "the plant file has no notifications: section (docs/notifications.md)")
    return n


class ShiftOut(BaseModel):
    rotation: str
    person: str
    start: datetime
    end: datetime
    override: bool
    reason: str


class PersonOut(BaseModel):
    name: str
    user: str | None
    channels: list[str]


class PipelineOut(BaseModel):
    name: str
    priorities: list[int]
    alarms: list[str]
    steps: list[str]


class OnCallOut(BaseModel):
    timezone: str
    now: list[ShiftOut]
    schedule: list[ShiftOut]
    people: list[PersonOut]
    pipelines: list[PipelineOut]


@router.get("/oncall", summary="Who is on call now, and the schedule for the coming weeks")
async def on_call(ctx: Ctx, _user: Viewer,
                  days: Annotated[int, Query(ge=1, le=90, description="schedule length")] = 28) -> OnCallOut:
    n = _notifier(ctx)
    now = utcnow()
    cfg = n.cfg

    def out(s: object) -> ShiftOut:
        return ShiftOut.model_validate(s, from_attributes=True)

    schedule = [out(s) for r in cfg.rotations for s in n.roster.schedule(r.name, now, now + timedelta(days=days))]
    return OnCallOut(
        timezone=cfg.timezone, now=[out(n.roster.on_call(r.name, now)) for r in cfg.rotations], schedule=schedule,
        people=[PersonOut(name=p.name, user=p.user, channels=[c.value for c in p.addresses()]) for p in cfg.people],
        pipelines=[PipelineOut(name=p.name, priorities=p.priorities, alarms=p.alarms,
                               steps=[f"{', '.join(s.notify)} via {', '.join(v.value for v in s.via)}, "
                                      f"then wait {s.wait_s:g} s" for s in p.steps]) for p in cfg.pipelines])


class IncidentOut(BaseModel):
    id: int
    raised_at: datetime
    pipeline: str
    step: int
    next_step_at: datetime | None
    notified: list[str]
    closed_at: datetime | None
    close_reason: str | None
    acked_by: str | None
    acked_via: str | None


class MessageOut(BaseModel):
    id: int
    created: datetime
    recipient: str
    channel: str
    kind: str
    subject: str
    status: str
    attempts: int
    last_error: str
    sent_at: datetime | None
    escalated: bool


class AlarmLogOut(BaseModel):
    alarm: str
    incidents: list[IncidentOut]
    messages: list[MessageOut]


@router.get("/log", summary="The notification log of one alarm: pages, deliveries, failures, acknowledgements")
async def alarm_log(ctx: Ctx, _user: Viewer,
                    alarm: Annotated[str, Query(min_length=1, max_length=64, pattern=NO_NUL)]) -> AlarmLogOut:
    _notifier(ctx)
    async with ctx.pool.connection() as conn:
        incidents, messages = await report.alarm_log(conn, alarm)
    return AlarmLogOut(alarm=alarm,
                       incidents=[IncidentOut.model_validate(i, from_attributes=True) for i in incidents],
                       messages=[MessageOut.model_validate(m, from_attributes=True) for m in messages])


class AckTimesOut(BaseModel):
    priority: int | None
    acknowledged: int
    median_s: float | None
    p90_s: float | None
    max_s: float | None


@router.get("/kpis", summary="Time to acknowledge paged alarms (overall: priority null), per priority")
async def kpis(ctx: Ctx, _user: Viewer, days: Annotated[int, Query(ge=1, le=366)] = 30) -> list[AckTimesOut]:
    _notifier(ctx)
    end = utcnow()
    async with ctx.pool.connection() as conn:
        rows = await report.time_to_acknowledge(conn, end - timedelta(days=days), end)
    return [AckTimesOut.model_validate(r, from_attributes=True) for r in rows]


class ChannelOut(BaseModel):
    channel: str
    sent: int
    failures: int
    failing_since: datetime | None
    failing: bool
    last_error: str


class StatusOut(BaseModel):
    channels: list[ChannelOut]
    outbox: dict[str, int]
    heartbeat_ok: datetime | None
    heartbeat_error: str


@router.get("/status", summary="Channel health (a channel failing past escalate_after_s is failing), outbox")
async def status(ctx: Ctx, _user: Viewer) -> StatusOut:
    n = _notifier(ctx)
    failing = n.failing_channels()
    async with ctx.pool.connection() as conn:
        outbox = await report.outbox_counts(conn)
    hb = n.heartbeat.stats if n.heartbeat is not None else None
    return StatusOut(
        channels=[ChannelOut(channel=c, sent=h.sent, failures=h.failures, failing_since=h.failing_since,
                             failing=c in failing, last_error=h.last_error) for c, h in n.stats.channels.items()],
        outbox=outbox, heartbeat_ok=hb.last_ok if hb else None, heartbeat_error=hb.last_error if hb else "")


# --- overrides made in the panel ----------------------------------------------------------------------

class OverrideIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "rotation": "primary", "person": "carla", "start": "2026-12-24T17:00:00Z", "end": "2026-12-26T07:00:00Z",
        "reason": "swap with anna"}]})
    rotation: str = Field(min_length=1, max_length=64, pattern=NO_NUL)
    person: str = Field(min_length=1, max_length=64, pattern=NO_NUL)
    start: ApiDateTime  # ISO 8601 text inside the supported range (api.timerange)
    end: ApiDateTime
    reason: str = Field(default="", max_length=500, pattern=NO_NUL)


class OverrideOut(BaseModel):
    id: int | None = Field(description="null: from the plant file (edited there)")
    rotation: str
    person: str
    start: datetime
    end: datetime
    reason: str
    source: str
    created_by: str | None


@router.get("/overrides", summary="On-call overrides: the plant file's and the panel's (the panel's win)")
async def list_overrides(ctx: Ctx, _user: Viewer) -> list[OverrideOut]:
    n = _notifier(ctx)
    async with ctx.pool.connection() as conn:
        panel = await overrides.active(conn, utcnow() - timedelta(days=1))
    zone = n.cfg.zone
    out = [OverrideOut(id=o.id, rotation=o.rotation, person=o.person, start=o.start, end=o.end, reason=o.reason,
                       source="panel", created_by=o.created_by) for o in panel]
    out += [OverrideOut(id=None, rotation=o.rotation, person=o.person,
                        start=o.start if o.start.tzinfo else o.start.replace(tzinfo=zone),
                        end=o.end if o.end.tzinfo else o.end.replace(tzinfo=zone), reason=o.reason,
                        source="plant file", created_by=None) for o in n.cfg.overrides]
    return out


@router.post("/overrides", status_code=201, summary="Put someone on call for a rotation for a time (engineer)",
             responses=problem_responses(422))
async def add_override(body: OverrideIn, request: Request, ctx: Ctx, user: Engineer) -> OverrideOut:
    n = _notifier(ctx)
    if body.rotation not in {r.name for r in n.cfg.rotations}:
        raise ApiProblem(422, "validation", "Unknown rotation", f"no rotation {body.rotation!r} in the plant file")
    if body.person not in {p.name for p in n.cfg.people}:
        raise ApiProblem(422, "validation", "Unknown person", f"no person {body.person!r} in the plant file")
    if not body.start < body.end:
        raise ApiProblem(422, "validation", "Empty override", "start must be before end")
    cfg = OverrideConfig(rotation=body.rotation, person=body.person, start=body.start, end=body.end,
                         reason=body.reason)
    async with ctx.pool.connection() as conn:
        o = await overrides.add(conn, cfg, user.username)
    await n.reload_overrides()
    await ctx.audit.record(user.username, AuditAction.ONCALL_OVERRIDE, o.rotation,
                           new={"person": o.person, "start": o.start.isoformat(), "end": o.end.isoformat()},
                           source_address=client_ip(request), detail={"reason": o.reason, "id": o.id})
    return OverrideOut(id=o.id, rotation=o.rotation, person=o.person, start=o.start, end=o.end, reason=o.reason,
                       source="panel", created_by=o.created_by)


@router.delete("/overrides/{override_id}", status_code=204, summary="Remove a panel override (engineer)",
               responses=problem_responses(404))
async def remove_override(override_id: int, request: Request, ctx: Ctx, user: Engineer) -> None:
    n = _notifier(ctx)
    async with ctx.pool.connection() as conn:
        o = await overrides.remove(conn, override_id, user.username, utcnow())
    if o is None:
        raise ApiProblem(404, "unknown-override", "Unknown override", f"no panel override {override_id} in force")
    await n.reload_overrides()
    await ctx.audit.record(user.username, AuditAction.ONCALL_OVERRIDE, o.rotation,
                           old={"person": o.person, "start": o.start.isoformat(), "end": o.end.isoformat()},
                           source_address=client_ip(request), detail={"removed": o.id})


class LinkAckOut(BaseModel):
    alarm: str
    user: str
    channel: str


@router.post("/ack/{token}", summary="Acknowledge from a message's link, logged in (operator)",
             responses=problem_responses(404, 409, 410))
async def ack_logged_in(token: Token, request: Request, ctx: Ctx, user: Operator) -> LinkAckOut:
    """The path when ack_link.require_login is set: the link opened the panel, the operator confirms there."""
    n = _notifier(ctx)
    try:
        outcome = await n.acknowledge_link(token, client_ip(request), user.username)
    except LinkRefused as exc:
        raise ApiProblem(exc.status, "ack-link-refused", "Link cannot acknowledge", exc.reason) from None
    if outcome.refused is not None:
        raise ApiProblem(409, "alarm-refused", "Alarm action refused",
                         f"acknowledge {outcome.alarm}: {outcome.refused}")
    return LinkAckOut(alarm=outcome.alarm, user=outcome.user, channel=outcome.channel)


# --- the acknowledge link: a page, then a confirming POST ---------------------------------------------

def _page(title: str, *body: str, status: int = 200) -> HTMLResponse:
    html = ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<meta name=\"robots\" content=\"noindex\">"
            f"<title>{escape(title)} · plantctl</title><link rel=\"stylesheet\" href=\"/css/panel.css\"></head>"
            f"<body><main class=\"ack-link\" id=\"main\"><h1>{escape(title)}</h1>{''.join(body)}</main></body></html>")
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def _refused(exc: LinkRefused) -> HTMLResponse:
    return _page("Link cannot acknowledge", f"<p data-testid=\"ack-refused\">{escape(exc.reason)}</p>",
                 status=exc.status)


def _link_notifier(request: Request) -> Notifier | None:
    ctx = getattr(request.app.state, "ctx", None)
    return None if ctx is None else ctx.runtime.notifier


@ack_router.get("/ack/{token}")
async def ack_page(token: Token, request: Request) -> HTMLResponse:
    """Shows the alarm and a confirm button; a GET never acknowledges (mail scanners open links)."""
    n = _link_notifier(request)
    if n is None:
        return _page("Notifications not running", "<p>This service is not sending notifications.</p>", status=503)
    try:
        link, st = await n.link(token)
    except LinkRefused as exc:
        return _refused(exc)
    state = "" if st is None else (f"<p>Priority {st.priority} · state <strong data-testid=\"ack-state\">"
                                   f"{escape(st.state.value)}</strong>"
                                   + ("" if st.value is None else f" · value {st.value:g}") + "</p>"
                                   + (f"<p>{escape(st.message)}</p>" if st.message else ""))
    confirm = (f"<p><a data-testid=\"ack-login\" href=\"/#/oncall?ack={escape(token)}\">Log in to acknowledge</a> "
               "(this plant acknowledges from messages only after logging in).</p>" if n.cfg.ack_link.require_login
               else f"<form method=\"post\" action=\"/notify/ack/{escape(token)}\">"
                    "<button type=\"submit\" data-testid=\"confirm-ack\">Acknowledge</button></form>")
    return _page(f"Acknowledge {link.alarm}?",
                 f"<p>For <strong>{escape(link.recipient)}</strong>, sent by {escape(link.channel)}. "
                 f"The link works once, until {link.expires_at:%Y-%m-%d %H:%M} UTC.</p>", state, confirm)


@ack_router.post("/ack/{token}")
async def ack_confirm(token: Token, request: Request) -> HTMLResponse:
    """The acknowledgement itself, through the alarm service (audited), recording the channel."""
    n = _link_notifier(request)
    if n is None:
        return _page("Notifications not running", "<p>This service is not sending notifications.</p>", status=503)
    if n.cfg.ack_link.require_login:
        return _page("Log in to acknowledge", f"<p data-testid=\"ack-refused\">This plant acknowledges from messages "
                     f"only after logging in: <a href=\"/#/oncall?ack={escape(token)}\">log in</a>.</p>", status=403)
    try:
        outcome = await n.acknowledge_link(token, client_ip(request))
    except LinkRefused as exc:
        return _refused(exc)
    if outcome.refused is not None:
        return _page(f"{outcome.alarm} not acknowledged",
                     f"<p data-testid=\"ack-refused\">{escape(outcome.refused)}</p>", status=409)
    return _page(f"{outcome.alarm} acknowledged",
                 f"<p data-testid=\"ack-done\">Acknowledged by {escape(outcome.user)} "
                 f"from the {escape(outcome.channel)} notification.</p>")


routes = APIRouter()
"""Both routers, for one include in the app."""
routes.include_router(router)
routes.include_router(ack_router)
