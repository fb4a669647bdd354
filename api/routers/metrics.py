"""Prometheus /metrics: acquisition rates, queue depths, spool size, loop periods, alarm counts."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.auth.deps import Ctx, Viewer
from api.context import ApiContext
from api.errors import problem_responses
from api.metrics import CONTENT_TYPE, Exposition
from api.routers.health import historian_stats
from api.server_limits import SlowClientGuard
from plantctl.alarms.states import AlarmState

router = APIRouter(tags=["metrics"])


def render_metrics(ctx: ApiContext, guard: SlowClientGuard | None = None) -> str:
    rt = ctx.runtime
    x = Exposition()
    meter = ctx.meter
    x.family("plantctl_samples_total", "counter", "Samples acquired, by source",
             [({"source": s}, n) for s, n in sorted(meter.totals.items())])
    x.family("plantctl_acquisition_rate_samples_per_second", "gauge",
             f"Samples per second by source over the last {meter.window_s:g} s",
             [({"source": s}, r) for s, r in sorted(meter.rates().items())])
    x.family("plantctl_bus_published_batches_total", "counter", "Sample batches published on the bus",
             [({}, rt.bus.published_batches)])
    x.family("plantctl_bus_tap_errors_total", "counter", "Consumer failures on a batch", [({}, rt.bus.tap_errors)])
    queues: dict[str, list[int]] = {}
    for name, q in rt.bus.stats().items():
        key = "api-live" if name.startswith("api-live-") else name  # one series for all live clients
        agg = queues.setdefault(key, [0, 0, 0, 0])
        agg[0] += q.depth
        agg[1] += q.max_depth
        agg[2] += q.dropped_batches
        agg[3] += q.dropped_samples
    x.family("plantctl_queue_depth_batches", "gauge", "Batches waiting in a bus subscription",
             [({"subscription": k}, v[0]) for k, v in sorted(queues.items())])
    x.family("plantctl_queue_capacity_batches", "gauge", "Capacity of a bus subscription",
             [({"subscription": k}, v[1]) for k, v in sorted(queues.items())])
    x.family("plantctl_queue_dropped_batches_total", "counter", "Batches dropped by a too-slow subscriber",
             [({"subscription": k}, v[2]) for k, v in sorted(queues.items())])
    x.family("plantctl_queue_dropped_samples_total", "counter", "Samples dropped by a too-slow subscriber",
             [({"subscription": k}, v[3]) for k, v in sorted(queues.items())])
    health = rt.source_health()
    x.family("plantctl_source_connected", "gauge", "1 when the source's link is up",
             [({"source": n}, float(h.connected)) for n, h in sorted(health.items())])
    x.family("plantctl_source_errors_total", "counter", "Errors seen by a source",
             [({"source": n}, h.error_count) for n, h in sorted(health.items())])
    x.family("plantctl_source_reconnects_total", "counter", "Reconnects of a source",
             [({"source": n}, h.reconnect_count) for n, h in sorted(health.items())])
    hist = historian_stats(ctx)
    if hist is not None:
        for key, kind, help_text in (
                ("spool_bytes", "gauge", "Bytes in the historian's disk spool"),
                ("spool_pending_rows", "gauge", "Samples waiting in the spool"),
                ("queue_batches", "gauge", "Batches in the historian's memory queue"),
                ("rows_written", "counter", "Samples committed to the database"),
                ("rows_dropped", "counter", "Samples dropped when the spool was full"),
                ("rows_quarantined", "counter", "Samples refused for their content"),
                ("outages", "counter", "Database outages seen by the writer")):
            if isinstance(hist.get(key), int | float):
                name = f"plantctl_historian_{key}" + ("_total" if kind == "counter" else "")
                x.family(name, kind, help_text, [({}, float(hist[key]))])
        if "connected" in hist:
            x.family("plantctl_historian_connected", "gauge", "1 when the writer holds a database connection",
                     [({}, float(bool(hist["connected"])))])
    if ctx.loops is not None:
        x.family("plantctl_loop_period_seconds", "gauge", "Configured execution period of a loop",
                 [({"loop": n}, lp.cfg.period_s) for n, lp in sorted(ctx.loops.items())])
        x.family("plantctl_loop_output_percent", "gauge", "Controller output",
                 [({"loop": n}, lp.output) for n, lp in sorted(ctx.loops.items())])
        x.family("plantctl_loop_mode", "gauge", "1 for the loop's current mode",
                 [({"loop": n, "mode": m}, float(lp.mode.value == m)) for n, lp in sorted(ctx.loops.items())
                  for m in ("MAN", "AUTO", "CAS")])
    if ctx.alarms is not None:
        counts = dict.fromkeys((s.value for s in AlarmState), 0)
        for s in ctx.alarms.engine.statuses():
            counts[s.state.value] += 1
        x.family("plantctl_alarms", "gauge", "Configured alarms by ISA-18.2 state",
                 [({"state": k}, v) for k, v in counts.items()])
        x.family("plantctl_alarms_annunciated", "gauge", "Alarms an operator must see now",
                 [({}, len(ctx.alarms.engine.annunciated()))])
    x.family("plantctl_live_clients", "gauge", "Open live streams", [({}, ctx.live_clients)])
    x.family("plantctl_api_events_total", "counter", "API security events (logins, refusals)",
             [({"event": k}, v) for k, v in sorted(ctx.counters.items())])
    if guard is not None:
        x.family("plantctl_http_connections", "gauge", "Open HTTP connections", [({}, guard.open_connections)])
        x.family("plantctl_http_connections_cut_total", "counter",
                 "Connections closed for not sending a request's head or body in time",
                 [({"phase": k}, v) for k, v in sorted(guard.cut.items())])
    return x.render()


@router.get("/metrics", summary="Prometheus metrics (text format 0.0.4); scrape with an API token",
            response_class=Response, responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                                                      "description": "Prometheus text exposition"},
                                                 **problem_responses(401, 403)})
async def metrics(request: Request, ctx: Ctx, _user: Viewer) -> Response:
    guard = getattr(request.app.state, "connection_guard", None)
    return Response(render_metrics(ctx, guard if isinstance(guard, SlowClientGuard) else None),
                    media_type=CONTENT_TYPE)
