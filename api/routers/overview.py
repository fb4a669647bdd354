"""Level-1 plant overview in one call: today's and the last hour's figures, key measurements, loops, alarms.

The figures come from the discharge report's arithmetic (plantctl.reports.compute) over local midnight → now
(read at most once per TODAY_S) and the last hour (with the 2-hour sparklines, once per CACHE_S); after the
first read a stale value is served while the next is read in the background.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

import psycopg
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from api.auth.deps import Ctx, Viewer
from api.context import ApiContext
from api.errors import problem_responses
from api.routers.column import ColumnOut, column_reader
from plantctl.alarms.states import ANNUNCIATED, AlarmState
from plantctl.config.models import AlarmType, PlantConfig, display_decimals
from plantctl.config.process import derived_process
from plantctl.reports.compute import KeptSeries, ReportError, SeriesReader, compute, fetch_series
from plantctl.reports.figures import Report
from plantctl.reports.period import LocalSlot, Period
from plantctl.samples import utcnow

router = APIRouter(prefix="/api/v1/overview", tags=["overview"], responses=problem_responses(401, 403))
CACHE_S = 5.0
T = TypeVar("T")
TODAY_S = 60.0  # today's figures, refreshed once a minute from the samples since the last read (KeptSeries)
SPARK_S = 2 * 3600
SPARK_BUCKET_S = 60
_LIMIT_TYPES = (AlarmType.HH, AlarmType.H, AlarmType.L, AlarmType.LL)
_NOT_MEASURED_COLUMN = ("not measured: needs the column's capacity and the lithium analysers either side of it "
                        "(reporting.column), which this plant file does not give")


class ReagentUseOut(BaseModel):
    name: str
    litres: float
    l_per_m3: float | None = Field(description="litres per m³ discharged; None when nothing was discharged")


class FiguresOut(BaseModel):
    start: datetime
    end: datetime
    permit_pct: float | None = Field(description="share of discharging time with a known pH inside the permit, %")
    minutes_discharging: float
    minutes_out_of_permit: float
    minutes_ph_unknown: float
    volume_discharged_m3: float
    volume_diverted_m3: float | None = Field(description="None: the plant measures no diverted flow")
    reagents: list[ReagentUseOut]
    li_in_kg: float | None
    li_out_kg: float | None
    li_recovered_kg: float | None = Field(description="None: inlet or outlet lithium not measured")
    alarms_annunciated: int | None
    alarm_rate_per_10min: float | None


class MeasuredOut(BaseModel):
    value: float | None
    note: str = Field(description="why there is no value (\"not measured: …\"), empty when there is one")


class LimitOut(BaseModel):
    alarm: str
    type: str
    limit: float
    priority: int


class IndicatorOut(BaseModel):
    tag: str
    description: str
    unit: str
    decimals: int
    low: float
    high: float
    role: str = Field(description="why it is key: discharge pH, discharge flow, loop PV, alarmed")
    permit_low: float | None
    permit_high: float | None
    limits: list[LimitOut]
    setpoint: float | None
    loop: str | None


class SparklineOut(BaseModel):
    tag: str
    t: list[float] = Field(description="bucket starts, epoch seconds")
    v: list[float | None] = Field(description="average of the Good samples in the bucket; None: none")


class LoopSummaryOut(BaseModel):
    name: str
    description: str
    pv_tag: str
    pv_unit: str
    decimals: int
    mode: str
    setpoint: float = Field(description="the operator's setpoint")
    working_setpoint: float | None = Field(default=None, description="what the loop controls to now: the remote "
                                           "setpoint in CAS, the shifted one (setpoint_shift:) in AUTO")
    pv: float | None
    pv_good: bool
    output: float
    deviation: float | None = Field(description="PV − working setpoint; None when the PV is not Good")
    interlocks: list[str]


class AlarmCountsOut(BaseModel):
    standing: int = Field(description="active now (annunciated)")
    unacked: int
    shelved: int
    out_of_service: int


class OverviewOut(BaseModel):
    at: datetime = Field(description="when the last hour's figures and the sparklines were read")
    today_at: datetime = Field(description="when today's figures were read (kept up to a minute)")
    zone: str
    figures_note: str = Field(description="why there are no figures (no reporting: section, no database)")
    today: FiguresOut | None
    last_hour: FiguresOut | None
    column_loading_pct: MeasuredOut
    time_to_breakthrough_h: MeasuredOut
    column: ColumnOut | None = Field(description="the sorbent column in full (GET /api/v1/column); None: none")
    alarms: AlarmCountsOut
    indicators: list[IndicatorOut]
    sparklines: list[SparklineOut]
    loops: list[LoopSummaryOut]


def _figures(r: Report) -> FiguresOut:
    t = r.total
    vol = t.volume_discharged_m3
    share = r.permit_share
    return FiguresOut(
        start=r.start, end=r.end, permit_pct=None if share is None else 100.0 * share,
        minutes_discharging=t.minutes_discharging, minutes_out_of_permit=t.minutes_out_of_permit,
        minutes_ph_unknown=t.minutes_ph_unknown, volume_discharged_m3=vol, volume_diverted_m3=t.volume_diverted_m3,
        reagents=[ReagentUseOut(name=n, litres=litres, l_per_m3=litres / vol if vol > 0 else None)
                  for n, litres in zip(r.reagent_names, t.reagents_l, strict=True)],
        li_in_kg=t.li_in_kg, li_out_kg=t.li_out_kg, li_recovered_kg=t.li_recovered_kg,
        alarms_annunciated=None if r.alarms is None else r.alarms.annunciations,
        alarm_rate_per_10min=None if r.alarms is None else r.alarms.per_10min_avg)


def _period(key: str, zone: str, start: datetime, end: datetime) -> Period:
    return Period("overview", key, zone, start, end, (LocalSlot(start, end, key),))


def key_tags(plant: PlantConfig) -> list[tuple[str, str]]:
    """(tag, role) of the key measurements, from the plant file: discharge pH and flow, loop PVs, alarmed tags."""
    out: dict[str, str] = {}
    if plant.reporting is not None:
        out[plant.reporting.discharge_ph] = "discharge pH"
        out.setdefault(plant.reporting.discharge_flow, "discharge flow")
    for lp in plant.loops:
        if lp.cas_source is None:  # an inner reagent-flow loop's PV is the faceplate's, not the overview's
            out.setdefault(lp.pv, f"{lp.name} PV")
    for a in plant.alarms:
        if a.type in _LIMIT_TYPES:
            out.setdefault(a.tag, "alarmed")
    known = {t.name for t in plant.tags}
    return [(tag, role) for tag, role in out.items() if tag in known]


def _indicators(ctx: ApiContext) -> list[IndicatorOut]:
    plant = ctx.runtime.config
    permit = plant.reporting.permit if plant.reporting is not None else None
    out = []
    for tag, role in key_tags(plant):
        t = plant.tag(tag)
        loop = next((lp for lp in plant.loops if lp.pv == tag), None)
        live_loop = ctx.loops.get(loop.name) if ctx.loops is not None and loop is not None else None
        is_ph = plant.reporting is not None and tag == plant.reporting.discharge_ph
        out.append(IndicatorOut(
            tag=tag, description=t.description, unit=t.unit, decimals=display_decimals(t), low=t.range.low,
            high=t.range.high, role=role, permit_low=permit.ph_low if permit and is_ph else None,
            permit_high=permit.ph_high if permit and is_ph else None,
            limits=[LimitOut(alarm=a.name, type=a.type.value, limit=float(a.limit), priority=a.priority)
                    for a in plant.alarms if a.tag == tag and a.type in _LIMIT_TYPES and a.limit is not None],
            setpoint=live_loop.setpoint if live_loop is not None else (loop.setpoint if loop else None),
            loop=loop.name if loop else None))
    return out


def _loops(ctx: ApiContext) -> list[LoopSummaryOut]:
    if ctx.loops is None:
        return []
    out = []
    for loop in ctx.loops.values():
        pv = ctx.runtime.live.get(loop.cfg.pv)
        good = pv is not None and pv.quality.is_good and pv.value == pv.value
        try:
            decimals = display_decimals(ctx.runtime.config.tag(loop.cfg.pv))
        except KeyError:
            decimals = 2
        out.append(LoopSummaryOut(
            name=loop.name, description=loop.cfg.description, pv_tag=loop.cfg.pv, pv_unit=loop.pv_unit,
            decimals=decimals, mode=loop.mode.value, setpoint=loop.setpoint, working_setpoint=loop.working_setpoint,
            pv=pv.value if pv is not None and good else None, pv_good=good, output=loop.output,
            deviation=pv.value - loop.working_setpoint if pv is not None and good else None,
            interlocks=list(loop.active_interlocks)))
    return out


def _alarm_counts(ctx: ApiContext) -> AlarmCountsOut:
    if ctx.alarms is None:
        return AlarmCountsOut(standing=0, unacked=0, shelved=0, out_of_service=0)
    st = ctx.alarms.engine.statuses()
    return AlarmCountsOut(standing=sum(1 for s in st if s.state in ANNUNCIATED and s.active),
                          unacked=sum(1 for s in st if s.state in ANNUNCIATED and not s.acked),
                          shelved=sum(1 for s in st if s.state is AlarmState.SHLVD),
                          out_of_service=sum(1 for s in st if s.state is AlarmState.OOSRV))


@dataclass(frozen=True, slots=True)
class _Today:
    """Local midnight → now: the costly read (a whole day of samples near midnight), kept TODAY_S."""

    at: datetime
    note: str
    figures: FiguresOut | None


@dataclass(frozen=True, slots=True)
class _Recent:
    """The last hour's figures and the 2-hour sparklines, kept CACHE_S."""

    at: datetime
    note: str
    figures: FiguresOut | None
    sparklines: list[SparklineOut]


def _sparklines(conn: psycopg.Connection[Any], tags: list[str], now: datetime) -> list[SparklineOut]:
    start = now - timedelta(seconds=SPARK_S)
    cur = conn.execute(
        "SELECT t.name, extract(epoch FROM time_bucket(make_interval(secs => %s), s.ts))::float8 AS b, "
        "avg(s.value) FILTER (WHERE (s.quality & 192) = 192) FROM samples s JOIN tags t ON t.id = s.tag_id "
        "WHERE t.name = ANY(%s) AND s.ts >= %s AND s.ts < %s GROUP BY 1, 2 ORDER BY 1, 2",
        (SPARK_BUCKET_S, tags, start, now))
    series: dict[str, SparklineOut] = {tag: SparklineOut(tag=tag, t=[], v=[]) for tag in tags}
    for name, bucket, avg in cur.fetchall():
        s = series[str(name)]
        s.t.append(float(bucket))
        s.v.append(None if avg is None else float(avg))
    return list(series.values())


def _read_today(url: str, plant: PlantConfig, read: SeriesReader = fetch_series) -> _Today:
    now = utcnow()
    zone = ZoneInfo(plant.plant.timezone)
    local = now.astimezone(zone)
    midnight = datetime(local.year, local.month, local.day, tzinfo=zone).astimezone(UTC)
    try:
        with psycopg.connect(url, connect_timeout=10, autocommit=True) as conn:
            return _Today(now, "", _figures(compute(conn, plant, _period("today", plant.plant.timezone, midnight,
                                                                               now), read)))
    except ReportError as exc:
        return _Today(now, str(exc), None)
    except psycopg.Error as exc:
        return _Today(now, f"historian unavailable: {exc}", None)


def _read_recent(url: str, plant: PlantConfig) -> _Recent:
    now = utcnow()
    try:
        with psycopg.connect(url, connect_timeout=10, autocommit=True) as conn:
            sparks = _sparklines(conn, [tag for tag, _ in key_tags(plant)], now)
            try:
                hour = _figures(compute(conn, plant, _period("last hour", plant.plant.timezone,
                                                             now - timedelta(hours=1), now)))
            except ReportError as exc:
                return _Recent(now, str(exc), None, sparks)
    except psycopg.Error as exc:
        return _Recent(now, f"historian unavailable: {exc}", None, [])
    return _Recent(now, "", hour, sparks)


class _Kept(Generic[T]):
    """One historian read kept `ttl_s`; once there is a value, a stale one is served while a fresh one is read
    in the background (one read at a time), so a page load never waits on the historian after the first."""

    def __init__(self, ttl_s: float, load: Callable[[], T]) -> None:
        self.ttl_s = ttl_s
        self.load = load
        self.value: T | None = None
        self.read_at = 0.0
        self.task: asyncio.Task[T] | None = None

    async def _run(self) -> T:
        value = await asyncio.to_thread(self.load)
        self.value, self.read_at = value, time.monotonic()
        return value

    def _refresh(self) -> asyncio.Task[T]:
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._run())
        return self.task

    async def get(self) -> T:
        if self.value is None:
            return await asyncio.shield(self._refresh())
        if time.monotonic() - self.read_at > self.ttl_s:
            self._refresh()
        return self.value


@dataclass
class _Cache:
    today: _Kept[_Today]
    recent: _Kept[_Recent]


def _cache(request: Request, ctx: ApiContext) -> _Cache | None:
    url = ctx.settings.database_url
    if not url:
        return None
    cache = getattr(request.app.state, "overview_cache", None)
    if cache is None:
        plant = ctx.runtime.config
        today = KeptSeries()  # a refresh reads the samples since the last one, not the whole day again
        cache = request.app.state.overview_cache = _Cache(
            _Kept(TODAY_S, lambda: _read_today(str(url), plant, today)),
            _Kept(CACHE_S, lambda: _read_recent(str(url), plant)))
    assert isinstance(cache, _Cache)
    return cache


@router.get("", summary="The plant at a glance: key figures today and the last hour, key measurements, loops, "
            "alarms (viewer); today's figures kept 60 s, the last hour's and the sparklines 5 s")
async def overview(request: Request, ctx: Ctx, _user: Viewer) -> OverviewOut:
    cache = _cache(request, ctx)
    reader = column_reader(request, ctx)

    async def no_column() -> None:
        return None

    col_read = reader.get() if reader is not None else no_column()
    if cache is None:
        now = utcnow()
        today, recent = _Today(now, "no figures: the service runs without a plant database", None), \
            _Recent(now, "", None, [])
        col = await col_read
    else:
        today, recent, col = await asyncio.gather(cache.today.get(), cache.recent.get(), col_read)
    plant = ctx.runtime.config
    loading, breakthrough = _column_figures(plant, col)
    return OverviewOut(
        at=recent.at, today_at=today.at, zone=plant.plant.timezone, figures_note=today.note or recent.note,
        today=today.figures, last_hour=recent.figures, column_loading_pct=loading,
        time_to_breakthrough_h=breakthrough, column=col if isinstance(col, ColumnOut) else None,
        alarms=_alarm_counts(ctx), indicators=_indicators(ctx), sparklines=recent.sparklines, loops=_loops(ctx))


def _column_figures(plant: PlantConfig, col: ColumnOut | str | None) -> tuple[MeasuredOut, MeasuredOut]:
    """% loaded and hours to breakthrough, or why they are not known."""
    if col is None:
        rep = plant.reporting
        note = _NOT_MEASURED_COLUMN if rep is None or rep.column is None else \
            "not measured: the service runs without a plant database"
        return MeasuredOut(value=None, note=note), MeasuredOut(value=None, note=note)
    if isinstance(col, str):
        return MeasuredOut(value=None, note=col), MeasuredOut(value=None, note=col)
    why = col.note or "not known"
    if col.broken_through and col.outlet_ratio is not None:
        why = f"broken through: outlet {col.outlet_ratio:.0%} of inlet (limit {col.breakthrough_ratio:.0%})"
    return (MeasuredOut(value=col.loading_pct, note="" if col.loading_pct is not None else why),
            MeasuredOut(value=col.hours_to_breakthrough,
                        note=why if col.hours_to_breakthrough is None or col.broken_through else ""))


class ProcessInstrumentOut(BaseModel):
    tag: str
    description: str
    unit: str
    decimals: int
    loop: str | None = Field(description="the loop whose PV this is")


class ProcessPumpOut(BaseModel):
    name: str
    tags: list[str] = Field(description="the pump's tags (<pump>.SPEED, .RUNNING, .FAULT …)")


class ProcessUnitOut(BaseModel):
    name: str
    kind: str
    description: str
    instruments: list[ProcessInstrumentOut]
    pumps: list[ProcessPumpOut]


class ProcessOut(BaseModel):
    source: str = Field(description="'plant file' (process: section) or 'derived from tag names'")
    units: list[ProcessUnitOut]


def process_of(plant: PlantConfig) -> ProcessOut:
    """The plant file's process: section, else one derived from the tag names and the loops."""
    cfg = plant.process
    source = "plant file"
    if cfg is None:
        loops = {lp.name: lp for lp in plant.loops}

        def dosed_pv(name: str) -> str:  # an inner flow loop doses its cascade primary's tank
            lp = loops[name]
            return dosed_pv(lp.cas_source) if lp.cas_source in loops and lp.cas_source != name else lp.pv

        links = {mv.split(".")[0]: dosed_pv(lp.name) for lp in plant.loops for mv in lp.mv if mv not in loops}
        cfg = derived_process([t.name for t in plant.tags], links)
        source = "derived from tag names"
    pv_loop = {lp.pv: lp.name for lp in plant.loops}
    tags = {t.name: t for t in plant.tags}
    return ProcessOut(source=source, units=[ProcessUnitOut(
        name=u.name, kind=u.kind.value, description=u.description,
        instruments=[ProcessInstrumentOut(tag=n, description=tags[n].description, unit=tags[n].unit,
                                          decimals=display_decimals(tags[n]), loop=pv_loop.get(n))
                     for n in u.instruments if n in tags],
        pumps=[ProcessPumpOut(name=p, tags=[t for t in tags if t.startswith(f"{p}.")]) for p in u.pumps])
        for u in cfg.units])


@router.get("/process", summary="The treatment train for the process graphic, in flow order (viewer)")
async def process(ctx: Ctx, _user: Viewer) -> ProcessOut:
    return process_of(ctx.runtime.config)
