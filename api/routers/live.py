"""Live values: a snapshot of the newest sample per tag, and a push stream (SSE) of every new sample."""

from __future__ import annotations

import functools
import itertools
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from fastapi.sse import EventSourceResponse, ServerSentEvent
from pydantic import BaseModel

from api.auth.deps import Ctx, StreamViewer, Viewer
from api.context import ApiContext
from api.errors import ApiProblem, problem_responses
from api.schemas import SampleOut, sample_out
from plantctl.runtime.bus import Subscription
from plantctl.samples import Sample

router = APIRouter(prefix="/api/v1/live", tags=["live"], responses=problem_responses(401, 403, 404, 422))

TagFilter = Annotated[list[str] | None, Query(
    description="tags to include (repeat, or comma-separate); all tags when absent", examples=["AIT-101,FIT-100"])]
_stream_ids = itertools.count(1)


class LiveSnapshot(BaseModel):
    values: list[SampleOut]


def wanted_tags(ctx: ApiContext, tag: list[str] | None) -> set[str] | None:
    """The filter as a set (None: every tag); an unknown name is a 404, not a silently empty stream."""
    if tag is None:
        return None
    names = {n.strip() for item in tag for n in item.split(",") if n.strip()}
    if not names:
        raise ApiProblem(422, "validation", "No tag named",
                         "tag= names no tag; name at least one, or leave the parameter out for every tag")
    known = ctx.runtime.tags
    unknown = sorted(n for n in names if n not in known)
    if unknown:
        raise ApiProblem(404, "unknown-tag", "Unknown tag",
                         f"no tag {', '.join(map(repr, unknown))} in the plant file nor announced by a source")
    return names


async def stream_slot(ctx: Ctx, user: StreamViewer) -> None:
    """Refuse before the stream starts (its status is sent with the first event) when the user has too many."""
    if ctx.live_streams.get(user.username, 0) >= ctx.settings.max_streams_per_user:
        ctx.count("live_stream_refused")
        raise ApiProblem(429, "too-many-streams", "Too many live streams",
                         f"{user.username} already has {ctx.settings.max_streams_per_user} live streams open "
                         "(PLANTCTL_MAX_STREAMS_PER_USER); close one first", headers={"Retry-After": "5"})


@functools.lru_cache(maxsize=4096)
def _sample_json(s: Sample, unit: str) -> str:
    """Every client receives the same Sample object: serialise it once, not once per client."""
    return sample_out(s, unit).model_dump_json()


async def tag_filter(ctx: Ctx, tag: TagFilter = None) -> set[str] | None:
    """As a dependency, so a bad filter is refused before a stream starts (a stream's status is already sent)."""
    return wanted_tags(ctx, tag)


Wanted = Annotated[set[str] | None, Depends(tag_filter)]


def _units(ctx: ApiContext) -> dict[str, str]:
    return ctx.runtime.tags.units()


@router.get("", summary="The newest value, quality and time of each tag", response_model=LiveSnapshot)
async def snapshot(ctx: Ctx, _user: Viewer, wanted: Wanted) -> Response:
    # Served from JSON encoded once per change of the live cache, not once per request (issue 20).
    return Response(ctx.encoded_live().body(wanted), media_type="application/json")


async def live_subscription(ctx: Ctx, user: StreamViewer) -> AsyncIterator[Subscription]:
    """The stream's bus subscription, released when the request ends. Not in the stream's own `finally`: a
    client that leaves while the stream is suspended at a `yield` (the first burst of current values) has its
    producer cancelled outside the generator, which is then never closed — the subscription would leak."""
    bus = ctx.runtime.bus
    sub = bus.subscribe(f"api-live-{next(_stream_ids)}-{user.username}", ctx.settings.live_queue_batches)
    ctx.live_clients += 1
    ctx.live_streams[user.username] = ctx.live_streams.get(user.username, 0) + 1
    try:
        yield sub
    finally:
        bus.unsubscribe(sub)
        ctx.live_clients -= 1
        ctx.live_streams[user.username] -= 1
        if ctx.live_streams[user.username] <= 0:
            del ctx.live_streams[user.username]


@router.get(
    "/stream", response_class=EventSourceResponse, responses=problem_responses(429),
    summary="Server-Sent Events: 'subscribed', then one 'sample' event per new sample (JSON as in the snapshot)",
    description="Authenticate with the session cookie, a bearer token, or ?access_token= (EventSource cannot set "
                "headers). A browser Origin other than the API's own (or PLANTCTL_ALLOWED_ORIGINS) is refused. "
                "The current values come first, then every new sample; a client too slow to keep up loses its "
                "oldest batches (counted in /metrics).")
async def stream(ctx: Ctx, wanted: Wanted, _slot: Annotated[None, Depends(stream_slot)],
                 sub: Annotated[Subscription, Depends(live_subscription)]) -> AsyncIterator[ServerSentEvent]:
    units = _units(ctx)
    yield ServerSentEvent(event="subscribed", data={"tags": sorted(wanted) if wanted else "all"})
    for fragment in ctx.encoded_live().fragments(wanted):
        yield ServerSentEvent(event="sample", raw_data=fragment.decode())
    async for batch in sub:
        for s in batch:
            if wanted is None or s.tag in wanted:
                yield ServerSentEvent(event="sample", raw_data=_sample_json(s, units.get(s.tag, "")))
