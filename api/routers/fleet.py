"""The fleet: every remote site a fleet source (a Sparkplug primary host) sees, with its link and its alarms."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from api.auth.deps import Ctx, Viewer
from api.errors import problem_responses
from connectors.base import FleetSource
from plantctl.samples import utcnow

router = APIRouter(prefix="/api/v1/fleet", tags=["fleet"], responses=problem_responses(401, 403))


class SiteOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "site": "recyclers/site-a", "source": "fleet", "online": True, "since": "2026-12-05T03:00:00Z",
        "last_birth": "2026-12-05T03:00:00Z", "last_data": "2026-12-05T04:00:00Z", "data_age_s": 0.4,
        "messages_per_s": 2.0, "values_per_s": 52.0, "historical_per_s": 0.0, "live_values": 187000,
        "historical_values": 40, "tags": 26, "births": 1, "deaths": 0, "seq_gaps": 0, "rebirths_requested": 0,
        "alarms_by_priority": {"1": 0, "2": 1, "3": 0, "4": 0}}]})

    site: str = Field(description="<group>/<node>: the prefix of the site's tag names")
    source: str = Field(description="the fleet source (plant file `sources:` entry) that hears it")
    online: bool
    since: datetime | None = Field(description="when it last came online (birth) or went offline, aware UTC")
    last_birth: datetime | None
    last_data: datetime | None
    data_age_s: float | None = Field(description="seconds since its last data message")
    messages_per_s: float
    values_per_s: float = Field(description="live values per second, last 10 s")
    historical_per_s: float = Field(description="spooled backlog being replayed, values per second, last 10 s")
    live_values: int
    historical_values: int
    tags: int
    births: int
    deaths: int
    seq_gaps: int
    rebirths_requested: int
    alarms_by_priority: dict[str, int] = Field(description="active alarms on the site's tags, by priority 1–4")


class FleetOut(BaseModel):
    sources: list[str] = Field(description="fleet sources of this service; empty: it is not a fleet's centre")
    sites: list[SiteOut]


@router.get("", summary="Every remote site: online/offline since when, last birth, data age, rates, alarms")
async def fleet(ctx: Ctx, _user: Viewer) -> FleetOut:
    fleet_sources = {n: s for n, s in ctx.runtime.sources.items() if isinstance(s, FleetSource)}
    active = [a for a in ctx.alarms.engine.statuses() if a.active] if ctx.alarms is not None else []
    now = utcnow()
    sites = []
    for source in fleet_sources.values():
        for st in source.sites():
            by_priority = {str(p): 0 for p in range(1, 5)}
            for a in active:
                if a.tag.startswith(f"{st.site}/"):
                    by_priority[str(a.priority)] += 1
            sites.append(SiteOut(
                site=st.site, source=st.source, online=st.online, since=st.since, last_birth=st.last_birth,
                last_data=st.last_data,
                data_age_s=None if st.last_data is None else round((now - st.last_data).total_seconds(), 3),
                messages_per_s=st.messages_per_s, values_per_s=st.values_per_s,
                historical_per_s=st.historical_per_s, live_values=st.live_values,
                historical_values=st.historical_values, tags=st.tags, births=st.births, deaths=st.deaths,
                seq_gaps=st.seq_gaps, rebirths_requested=st.rebirths_requested, alarms_by_priority=by_priority))
    return FleetOut(sources=sorted(fleet_sources), sites=sites)
