"""Control loops: state, and the operator's mode, setpoint and manual output, each range-checked and audited."""

from __future__ import annotations

import math
from datetime import datetime
from itertools import pairwise

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from api.auth.deps import Ctx, Engineer, Operator, Viewer
from api.context import ApiContext, client_ip
from api.errors import ApiProblem, problem_responses
from api.outcomes import audit_unavailable
from api.schemas import NO_NUL, SampleOut, sample_out
from control.loop import Loop, ModeRefused
from plantctl.audit import AuditAction, AuditNotDurableError, AuditRecord
from plantctl.config.models import LoopMode
from plantctl.samples import utcnow

router = APIRouter(prefix="/api/v1/loops", tags=["loops"], responses=problem_responses(401, 403, 422, 503))
WRITE_RESPONSES = problem_responses(404, 409, 503)


class LimitsOut(BaseModel):
    low: float
    high: float


class FeedforwardOut(BaseModel):
    output: float = Field(description="the feedforward's part of the output, %")
    gain: float = Field(description="the adapted ratio on the feedforward model (1.0: the model as configured; "
                                    "above 1: the influent needs more base than the model says)")


class ElectrodeOut(BaseModel):
    tag: str
    in_vote: bool
    fault: str | None = Field(description="why it is out of the vote (frozen, drift, broken_glass, bad_quality, "
                                          "stale, deviation, out_of_service); None while it votes")
    reason: str
    deviation_alarm: bool = Field(description="departs from the other two while still voting")


class VoteOut(BaseModel):
    value: float
    quality: str
    electrodes: list[ElectrodeOut]


class BufferFitOut(BaseModel):
    at: datetime
    ph: float = Field(description="the operating pH the fit is about (mean over its window)")
    slope: float | None = Field(description="identified buffering d(base)/d(pH), mmol/L per pH (None: no fit)")
    rel_error: float | None = Field(description="its standard error over its value (None: no fit)")
    curve_slope: float = Field(description="the buffering the curve in use had there")
    accepted: bool = Field(description="passed the confidence rule (excitation, error, sign, bounds)")
    reason: str


class TitrationStateOut(BaseModel):
    points: list[tuple[float, float]] = Field(description="the curve in use, [pH, base mmol/L]")
    source: str = Field(description="'plant file' (the prior) or 'identified' (lab titrations, on-line fits)")
    slope_at_setpoint: float = Field(description="its buffering at the setpoint, mmol/L per pH")
    last_fit: BufferFitOut | None = Field(description="the latest on-line identification (loops with "
                                                      "identification:), accepted or not")


class SetpointShiftOut(BaseModel):
    limit: float = Field(description="the limit the working setpoint may approach, PV unit")
    margin: float = Field(description="how far from the limit it is kept now (min_margin, or sigmas x RMS)")
    deviation_rms: float = Field(description="RMS of the PV's recent deviations toward the limit")
    doubt: str | None = Field(description="why the working setpoint is held at (or returning to) the operator's; "
                                          "None while it may shift")


class LoopOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "name": "PHC-101", "description": "T-101 pH", "pv_tag": "AIT-101", "pv": None, "pv_unit": "pH",
        "mode": "AUTO", "setpoint": 7.5, "setpoint_limits": {"low": 6.5, "high": 8.5}, "remote_setpoint": None,
        "output": 12.5, "output_unit": "%", "output_limits": {"low": -100, "high": 100},
        "outputs": ["P-201.SP", "P-202.SP"], "period_s": 1.0, "fail_safe": "normal", "interlocks": [],
        "feedforward": {"output": 10.4, "gain": 1.21}, "at": "2026-11-27T23:10:00Z"}]})

    name: str
    description: str
    pv_tag: str
    pv: SampleOut | None = Field(description="the newest PV sample")
    pv_unit: str
    mode: LoopMode
    setpoint: float
    setpoint_limits: LimitsOut
    remote_setpoint: float | None
    working_setpoint: float | None = Field(default=None, description="what the loop controls to now: the remote "
                                           "setpoint in CAS, the shifted one (setpoint_shift:) in AUTO, else the "
                                           "operator's")
    setpoint_shift: SetpointShiftOut | None = Field(default=None, description="loops with setpoint_shift:")
    output: float = Field(description="controller output, % (split-range signal for two outputs)")
    output_unit: str
    output_limits: LimitsOut
    outputs: list[str]
    period_s: float
    fail_safe: str
    interlocks: list[str] = Field(description="interlocks holding the outputs now")
    feedforward: FeedforwardOut | None = Field(description="None when the loop has no feedforward")
    vote: VoteOut | None = Field(default=None, description="the voted PV's electrodes (loops with voted_with:)")
    titration: TitrationStateOut | None = Field(default=None, description="the titration curve the compensation "
                                                                          "uses (pH loops with one)")
    at: datetime


class ModeIn(BaseModel):
    model_config = ConfigDict(extra="forbid",
                              json_schema_extra={"examples": [{"mode": "MAN", "reason": "sensor check"}]})
    mode: LoopMode
    reason: str = Field(default="", max_length=500, pattern=NO_NUL)


class ElectrodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"in_vote": False, "reason": "two-point calibration"}]})
    in_vote: bool = Field(strict=True, description="false takes it out (calibration); true returns it after repair")
    reason: str = Field(default="", max_length=500, pattern=NO_NUL)


class LabTitrationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "points": [[2.5, 0.0], [4.0, 8.1], [6.0, 9.9], [7.0, 11.6], [9.0, 12.9]],
        "sample": "T-101 inlet grab sample 08:10, 100 mL, 0.1 M NaOH"}]})
    points: list[tuple[float, float]] = Field(min_length=3, max_length=200,
                                              description="[pH, base mmol per litre of effluent], pH rising")
    sample: str = Field(default="", max_length=500, pattern=NO_NUL, description="what was titrated, when, how")


class TitrationOut(BaseModel):
    loop: str
    points: list[tuple[float, float]] = Field(description="the curve now in use, [pH, base mmol/L]")


class ValueIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"value": 7.2}]})
    value: float = Field(strict=True, allow_inf_nan=False,  # strict: JSON true/false is not a number
                         description="in the loop's unit (setpoint: the PV's; output: %)")


def _loop(ctx: ApiContext, name: str) -> Loop:
    if ctx.loops is None:
        raise ApiProblem(503, "no-loops", "Control not running", "this service runs without control loops")
    loop = ctx.loops.get(name)
    if loop is None:
        raise ApiProblem(404, "unknown-loop", "Unknown loop", f"no loop {name!r} in the plant file")
    return loop


def vote_out(loop: Loop) -> VoteOut | None:
    voter, last = loop.voter, loop.vote
    if voter is None or last is None:
        return None
    return VoteOut(value=last.value, quality=last.quality.name, electrodes=[
        ElectrodeOut(tag=t, in_vote=voter.fault_of(t) is None,
                     fault=None if (f := voter.fault_of(t)) is None else f.value, reason=voter.fault_reason(t),
                     deviation_alarm=voter.deviation_alarm(t)) for t in voter.electrodes])


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def titration_out(loop: Loop) -> TitrationStateOut | None:
    curve = loop.titration_curve
    if curve is None:
        return None
    fit = loop.buffer_fit
    return TitrationStateOut(
        points=list(curve.points), source="identified" if loop.titration_identified else "plant file",
        slope_at_setpoint=curve.slope(loop.setpoint),
        last_fit=None if fit is None else BufferFitOut(
            at=fit.ts, ph=fit.ph, slope=_finite(fit.slope), rel_error=_finite(fit.rel_error),
            curve_slope=fit.curve_slope, accepted=fit.accepted, reason=fit.reason))


def loop_out(ctx: ApiContext, loop: Loop) -> LoopOut:
    cfg = loop.cfg
    pv = ctx.runtime.live.get(cfg.pv)
    return LoopOut(name=loop.name, description=cfg.description, pv_tag=cfg.pv,
                   pv=None if pv is None else sample_out(pv, loop.pv_unit), pv_unit=loop.pv_unit, mode=loop.mode,
                   setpoint=loop.setpoint, setpoint_limits=LimitsOut(low=cfg.setpoint_low, high=cfg.setpoint_high),
                   remote_setpoint=loop.remote_setpoint, working_setpoint=loop.working_setpoint,
                   setpoint_shift=None if loop.shift is None else SetpointShiftOut(
                       limit=loop.shift.cfg.limit, margin=loop.shift.margin(), deviation_rms=loop.shift.rms,
                       doubt=loop.shift.doubt),
                   output=loop.output, output_unit="%",
                   output_limits=LimitsOut(low=cfg.output_low, high=cfg.output_high), outputs=list(cfg.mv),
                   period_s=cfg.period_s, fail_safe=loop.fail_safe.value, interlocks=loop.active_interlocks,
                   feedforward=None if loop.feedforward is None else FeedforwardOut(
                       output=loop.feedforward_output, gain=loop.feedforward_gain),
                   vote=vote_out(loop), titration=titration_out(loop), at=utcnow())


@router.get("", summary="Every control loop's state")
async def list_loops(ctx: Ctx, _user: Viewer) -> list[LoopOut]:
    if ctx.loops is None:
        raise ApiProblem(503, "no-loops", "Control not running", "this service runs without control loops")
    return [loop_out(ctx, lp) for lp in ctx.loops.values()]


@router.get("/{name}", summary="One loop's state", responses=problem_responses(404))
async def get_loop(name: str, ctx: Ctx, _user: Viewer) -> LoopOut:
    return loop_out(ctx, _loop(ctx, name))


@router.put("/{name}/mode", summary="Change mode MAN / AUTO / CAS (operator); 409 with the reason if refused",
            responses=WRITE_RESPONSES)
async def set_mode(name: str, body: ModeIn, request: Request, ctx: Ctx, user: Operator) -> LoopOut:
    loop = _loop(ctx, name)
    old = loop.mode

    def apply() -> None:
        loop.set_mode(body.mode, user.username, utcnow(), body.reason)

    def record(_: None) -> AuditRecord:
        return AuditRecord(user.username, AuditAction.MODE, name, {"mode": old.value}, {"mode": loop.mode.value},
                           client_ip(request), {"reason": body.reason, "via": user.via})
    try:
        await ctx.audit.apply_audited(apply, record)
    except ModeRefused as exc:
        raise ApiProblem(409, "mode-refused", "Mode change refused", str(exc)) from None
    except AuditNotDurableError as exc:
        raise audit_unavailable(exc) from None
    return loop_out(ctx, loop)


@router.put("/{name}/setpoint", summary="Change the setpoint within its limits (operator); 422 outside them",
            responses=WRITE_RESPONSES)
async def set_setpoint(name: str, body: ValueIn, request: Request, ctx: Ctx, user: Operator) -> LoopOut:
    loop = _loop(ctx, name)
    old = loop.setpoint

    def apply() -> None:
        loop.set_setpoint(body.value, user.username, utcnow())

    def record(_: None) -> AuditRecord:
        return AuditRecord(user.username, AuditAction.SETPOINT, name, {"value": old, "unit": loop.pv_unit},
                           {"value": loop.setpoint, "unit": loop.pv_unit}, client_ip(request), {"via": user.via})
    try:
        await ctx.audit.apply_audited(apply, record)
    except ValueError as exc:
        raise ApiProblem(422, "out-of-range", "Setpoint out of range", str(exc)) from None
    except AuditNotDurableError as exc:
        raise audit_unavailable(exc) from None
    return loop_out(ctx, loop)


@router.put("/{name}/output", summary="Set the manual output in MAN (operator); 409 in AUTO/CAS, 422 outside limits",
            responses=WRITE_RESPONSES)
async def set_output(name: str, body: ValueIn, request: Request, ctx: Ctx, user: Operator) -> LoopOut:
    loop = _loop(ctx, name)
    old = loop.output

    def apply() -> None:
        loop.set_output(body.value, user.username, utcnow())

    def record(_: None) -> AuditRecord:
        return AuditRecord(user.username, AuditAction.MANUAL_OUTPUT, name, {"value": old, "unit": "%"},
                           {"value": body.value, "unit": "%"}, client_ip(request), {"via": user.via})
    try:
        await ctx.audit.apply_audited(apply, record)
    except ModeRefused as exc:
        raise ApiProblem(409, "not-in-manual", "Output refused", str(exc)) from None
    except ValueError as exc:
        raise ApiProblem(422, "out-of-range", "Output out of range", str(exc)) from None
    except AuditNotDurableError as exc:
        raise audit_unavailable(exc) from None
    return loop_out(ctx, loop)


@router.put("/{name}/electrodes/{tag}", summary="Take an electrode out of the loop's vote or return it (operator)",
            responses=WRITE_RESPONSES)
async def set_electrode(name: str, tag: str, body: ElectrodeIn, request: Request, ctx: Ctx,
                        user: Operator) -> LoopOut:
    loop = _loop(ctx, name)
    voter = loop.voter
    if voter is None or tag not in voter.electrodes:
        raise ApiProblem(404, "unknown-electrode", "Unknown electrode",
                         f"{tag!r} is not one of loop {name}'s voted electrodes"
                         + (f" ({', '.join(voter.electrodes)})" if voter is not None else " (the loop has no vote)"))
    was = voter.fault_of(tag)
    if body.in_vote and was is None:
        return loop_out(ctx, loop)
    if not body.in_vote and was is not None:
        raise ApiProblem(409, "already-out", "Already out of the vote", f"{tag} is out of the vote ({was.value})")

    def apply() -> None:
        now = utcnow()
        if body.in_vote:
            voter.readmit(tag, now, user.username)
        else:
            voter.take_out(tag, now, body.reason or f"taken out by {user.username}")

    def record(_: None) -> AuditRecord:
        return AuditRecord(user.username, AuditAction.ELECTRODE_VOTE, f"{name}/{tag}",
                           {"in_vote": was is None, "fault": was.value if was is not None else None},
                           {"in_vote": body.in_vote}, client_ip(request), {"reason": body.reason, "via": user.via})
    try:
        await ctx.audit.apply_audited(apply, record)
    except AuditNotDurableError as exc:
        raise audit_unavailable(exc) from None
    return loop_out(ctx, loop)


@router.put("/{name}/titration", summary="Enter a lab titration that refines a pH loop's titration curve (engineer)",
            responses=WRITE_RESPONSES)
async def enter_lab_titration(name: str, body: LabTitrationIn, request: Request, ctx: Ctx,
                              user: Engineer) -> TitrationOut:
    loop = _loop(ctx, name)
    pts = body.points
    bad = next((p for p in pts if not (0.0 <= p[0] <= 14.0) or p[1] != p[1] or abs(p[1]) > 1e4), None)
    if bad is not None:
        raise ApiProblem(422, "bad-titration", "Unusable titration point",
                         f"({bad[0]}, {bad[1]}): a pH in 0..14 with a finite base in mmol/L is needed")
    if any(b[0] <= a[0] or b[1] < a[1] for a, b in pairwise(pts)):
        raise ApiProblem(422, "bad-titration", "Titration not monotone",
                         "points must be in rising pH, and the base added cannot fall as the pH rises")
    before = list(loop.compensator.curve.points) if loop.compensator.curve is not None else None
    result: list[tuple[float, float]] = []

    def apply() -> None:
        curve = loop.enter_lab_titration(list(pts), user.username, utcnow())
        result.extend(curve.points)

    def record(_: None) -> AuditRecord:
        return AuditRecord(user.username, AuditAction.LAB_TITRATION, name, {"points": before},
                           {"points": result, "entered": [list(p) for p in pts]}, client_ip(request),
                           {"sample": body.sample, "via": user.via})
    try:
        await ctx.audit.apply_audited(apply, record)
    except ValueError as exc:
        raise ApiProblem(409, "no-titration-curve", "Titration refused", str(exc)) from None
    except AuditNotDurableError as exc:
        raise audit_unavailable(exc) from None
    return TitrationOut(loop=name, points=result)
