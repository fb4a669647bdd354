"""API benchmark: trend latency from rollups vs raw (1 tag, 1 s data), and live-stream fan-out latency.

Prints progress lines, then ONE JSON object on the last line of stdout. --quick (under 60 s) uses fewer
days of data and fewer queries and says so in the JSON ("days"). Needs the test TimescaleDB
(plantctl.db.LocalDatabase instance "test") or --database-url; works in a scratch database it drops.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any, TypeVar, cast

import httpx
import psycopg
import uvicorn
from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.app import create_app
from api.auth.bootstrap import prepare_auth
from api.settings import ApiSettings
from plantctl.config import load_plant
from plantctl.historian.service import Historian
from plantctl.runtime.service import HistorianSink, PlantRuntime
from plantctl.samples import Sample

T = TypeVar("T")
PLANT = Path(__file__).resolve().parents[1] / "examples" / "plant.yaml"
TAG = "AIT-101"


def log(msg: str) -> None:
    print(msg, flush=True)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))]


class Service:
    """PlantRuntime + historian + uvicorn in a thread of their own, as `plantctl run` runs them."""

    def __init__(self, url: str, state_dir: Path) -> None:
        self.url = url
        self.state_dir = state_dir
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.config = load_plant(PLANT)
        self.server: uvicorn.Server | None = None
        self.task: asyncio.Task[None] | None = None

    def run(self, coro: Coroutine[Any, Any, T], timeout_s: float = 600) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def start(self) -> str:
        self.thread.start()
        return self.run(self._start())

    async def _start(self) -> str:
        self.historian = Historian(self.url, self.config.historian, self.config.tags, state_dir=self.state_dir)
        sink = cast("HistorianSink", self.historian)
        self.runtime = PlantRuntime(self.config, state_dir=self.state_dir, historian=sink, sources={})
        await self.runtime.start()
        await self.historian.prepare()
        app = create_app(self.runtime, settings=ApiSettings(mode="production", database_url=self.url,
                                                            live_queue_batches=1024))
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", ws="none"))
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:  # noqa: ASYNC110 - uvicorn offers no "started" event to await
            await asyncio.sleep(0.02)
        return f"http://127.0.0.1:{self.server.servers[0].sockets[0].getsockname()[1]}"

    def publish_soon(self, batch: list[Sample]) -> None:
        self.loop.call_soon_threadsafe(self.runtime.bus.publish, batch)

    def stop(self) -> None:
        async def _stop() -> None:
            if self.server is not None and self.task is not None:
                self.server.should_exit = True
                await asyncio.wait_for(self.task, 10)
            await self.runtime.stop()
        with contextlib.suppress(Exception):
            self.run(_stop(), 30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def load_history(url: str, days: float, end: datetime) -> int:
    """days of 1 s samples of TAG ending at `end`, generated inside the database (a slow sine plus a ripple)."""
    start = end - timedelta(days=days)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO tags (name, unit, description, range_low, range_high) "
                     "VALUES (%s, 'pH', 'T-101 pH', 0, 14) ON CONFLICT (name) DO NOTHING", (TAG,))
        row = conn.execute("SELECT id FROM tags WHERE name = %s", (TAG,)).fetchone()
        assert row is not None
        cur = conn.execute(
            "INSERT INTO samples (ts, tag_id, value, quality) SELECT t, %s, "
            "7.2 + 0.6 * sin(extract(epoch FROM t) / 5400.0) + 0.05 * sin(extract(epoch FROM t) / 7.0), 192 "
            "FROM generate_series(%s::timestamptz, %s::timestamptz - interval '1 second', interval '1 second') t",
            (row[0], start, end))
        return cur.rowcount


def time_trends(base: str, token: str, start: datetime, end: datetime, queries: int) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    params: dict[str, str | int] = {"tag": TAG, "start": start.isoformat(), "end": end.isoformat(), "points": 1000}
    timings: dict[str, list[float]] = {"auto": [], "raw": []}
    sources: set[str] = set()
    buckets = 0
    with httpx.Client(base_url=base, headers=headers, timeout=120) as c:
        for source in ("auto", "raw"):  # warm-up, one each
            c.get("/api/v1/trends", params=params | {"source": source}).raise_for_status()
        for _ in range(queries):
            for source in ("auto", "raw"):  # interleaved, so both see the same machine load
                t0 = time.perf_counter()
                r = c.get("/api/v1/trends", params=params | {"source": source})
                timings[source].append((time.perf_counter() - t0) * 1000)
                r.raise_for_status()
                series = r.json()["series"][0]
                if source == "auto":
                    sources.add(series["source"])
                    buckets = len(series["buckets"])
    return {"timings": timings, "sources": sorted(sources), "buckets": buckets}


async def fanout(service: Service, base: str, token: str, clients: int, events: int) -> dict[str, Any]:
    latencies: list[float] = []
    ready = asyncio.Event()
    subscribed = 0
    markers = {round(7.0 + k / 1000, 6) for k in range(events)}

    async def client(c: httpx.AsyncClient) -> int:
        nonlocal subscribed
        seen = 0
        async with c.stream("GET", "/api/v1/live/stream", params={"tag": TAG, "access_token": token}) as r:
            r.raise_for_status()
            event = ""
            async for line in r.aiter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    if event == "subscribed":
                        subscribed += 1
                        if subscribed == clients:
                            ready.set()
                        continue
                    data = json.loads(line[5:])
                    if event == "sample" and data["value"] in markers:
                        latencies.append((time.time() - datetime.fromisoformat(data["ts"]).timestamp()) * 1000)
                        seen += 1
                        if seen == events:
                            return seen
        return seen

    limits = httpx.Limits(max_connections=clients + 5)
    async with httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(30), limits=limits) as c:
        tasks = [asyncio.create_task(client(c)) for _ in range(clients)]
        await asyncio.wait_for(ready.wait(), 30)
        for k in range(events):
            service.publish_soon([Sample(TAG, datetime.now(UTC), round(7.0 + k / 1000, 6))])
            await asyncio.sleep(0.1)
        seen = await asyncio.wait_for(asyncio.gather(*tasks), 30)
    return {"clients": clients, "delivered": sum(seen), "expected": clients * events, "latencies": latencies}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="fewer days and queries: whole run under 60 s")
    ap.add_argument("--days", type=float, default=None, help="days of 1 s data (default 30; --quick 3)")
    ap.add_argument("--queries", type=int, default=None, help="timed queries per source (default 40; --quick 15)")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--events", type=int, default=None, help="samples pushed to the stream (default 50; quick 20)")
    ap.add_argument("--database-url", default=None, help="an empty TimescaleDB database (default: a scratch one)")
    args = ap.parse_args()
    days = args.days or (3.0 if args.quick else 30.0)
    queries = args.queries or (15 if args.quick else 40)
    events = args.events or (20 if args.quick else 50)
    t_start = time.monotonic()

    created = None
    url = args.database_url
    if url is None:
        from plantctl.db import LocalDatabase
        db = LocalDatabase(instance="test", port=int(os.environ.get("PLANTCTL_TEST_DB_PORT", "55434"))).up()
        name = f"bench_api_{uuid.uuid4().hex[:8]}"
        url = db.create_database(name)
        created = (db, name)
    password = secrets.token_urlsafe(16)
    prepare_auth(ApiSettings(mode="production", database_url=url, admin_user="bench",
                             admin_password=SecretStr(password)))
    with TemporaryDirectory() as tmp:
        service = Service(url, Path(tmp))
        try:
            base = service.start()
            end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
            t0 = time.monotonic()
            rows = load_history(url, days, end)
            load_s = time.monotonic() - t0
            log(f"loaded {rows} rows ({days:g} days of 1 s data) in {load_s:.1f} s")
            t0 = time.monotonic()
            service.run(service.historian.run_rollups())
            rollup_s = time.monotonic() - t0
            log(f"rollups 1m + 1h in {rollup_s:.1f} s")
            r = httpx.post(f"{base}/api/v1/auth/login", json={"username": "bench", "password": password}, timeout=30)
            r.raise_for_status()
            token = r.json()["access_token"]
            tr = time_trends(base, token, end - timedelta(days=days), end, queries)
            auto, raw = tr["timings"]["auto"], tr["timings"]["raw"]
            log(f"trend from {tr['sources']}: p50 {statistics.median(auto):.1f} ms, p99 {pct(auto, 99):.1f} ms; "
                f"raw p50 {statistics.median(raw):.1f} ms, p99 {pct(raw, 99):.1f} ms")
            fo = asyncio.run(fanout(service, base, token, args.clients, events))
            lat = fo["latencies"]
            log(f"live: {fo['clients']} clients, {fo['delivered']}/{fo['expected']} deliveries, "
                f"p50 {statistics.median(lat):.1f} ms, p99 {pct(lat, 99):.1f} ms")
        finally:
            service.stop()
            if created is not None:
                with contextlib.suppress(Exception):
                    created[0].drop_database(created[1])
    result = {
        "quick": args.quick, "days": days, "rows": rows, "points": 1000, "queries_per_source": queries,
        "trend_source_auto": "+".join(tr["sources"]), "trend_buckets": tr["buckets"],
        "trend_p50_ms_rollup": round(statistics.median(auto), 2), "trend_p99_ms_rollup": round(pct(auto, 99), 2),
        "trend_p50_ms_raw": round(statistics.median(raw), 2), "trend_p99_ms_raw": round(pct(raw, 99), 2),
        "trend_raw_over_rollup": round(statistics.median(raw) / statistics.median(auto), 1),
        "load_s": round(load_s, 1), "rollup_s": round(rollup_s, 1),
        "live_fanout_clients": fo["clients"], "live_events_per_client": events,
        "live_delivered": fo["delivered"], "live_expected": fo["expected"],
        "live_p50_latency_ms": round(statistics.median(lat), 2), "live_p99_latency_ms": round(pct(lat, 99), 2),
        "wall_s": round(time.monotonic() - t_start, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
