"""API benchmark: trend latency from rollups vs raw (1 tag, 1 s data), live-stream fan-out latency, and
GET /api/v1/live requests/s (every tag of the example plant) beside GET /api/v1/auth/me, the authenticated
stack's ceiling, and GET /healthz, the stack without authentication, measured in the same run with the same
keep-alive load generator.

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
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import httpx
import psycopg
import uvicorn
from pydantic import SecretStr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.auth.bootstrap import prepare_auth
from api.server_limits import uvicorn_config
from api.settings import ApiSettings
from plantctl.historian.rollups import run_rollups
from plantctl.plantfile import load_plant
from plantctl.runtime.assemble import build_service
from plantctl.samples import Sample
from plantctl.serve import run_event_loop

PLANT = Path(__file__).resolve().parents[1] / "examples" / "plant.yaml"
TAG = "AIT-101"


def log(msg: str) -> None:
    print(msg, flush=True)


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))]


async def serve_child(url: str) -> None:
    """The server side, run in its own process (no GIL shared with the clients), assembled and served as
    `plantctl run` does it (build_service; the app's lifespan runs the service), without a plant link.

    Prints "PORT <n>", then obeys stdin lines: "publish <count> <interval_s>" pushes marker samples of TAG
    (value 7 + k/1000, ts = now) through the runtime's bus; "quit" stops.
    """
    with TemporaryDirectory() as tmp:
        config = load_plant(PLANT)
        # one bench user opens every fan-out stream: lift the per-user stream limit (default 8) for it
        settings = ApiSettings(mode="production", database_url=url, live_queue_batches=1024, max_streams_per_user=1000)
        built = build_service(config, database_url=url, state_dir=Path(tmp), settings=settings, plant_link=False)
        runtime = built.runtime
        # served as `plantctl run` serves it (httptools, the slow-client guard, the same limits; uvloop below)
        server = uvicorn.Server(uvicorn_config(built.app, settings, host="127.0.0.1", port=0, log_level="warning",
                                               lifespan="on", ws="none"))
        task = asyncio.create_task(server.serve())
        while not server.started:  # uvicorn offers no "started" event to await
            if task.done():  # the service did not start: say why
                task.result()
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.02)
        print(f"PORT {server.servers[0].sockets[0].getsockname()[1]}", flush=True)
        loop = asyncio.get_running_loop()
        while True:
            line = (await loop.run_in_executor(None, sys.stdin.readline)).split()
            if not line or line[0] == "quit":
                break
            if line[0] == "fill":  # one sample for every tag, so /live serves the whole table
                runtime.bus.publish([Sample(t.name, datetime.now(UTC), 1.0 + i / 7) for i, t in enumerate(config.tags)])
                await asyncio.sleep(0.2)
                print("DONE", flush=True)
            if line[0] == "publish":
                for k in range(int(line[1])):
                    runtime.bus.publish([Sample(TAG, datetime.now(UTC), round(7.0 + k / 1000, 6))])
                    await asyncio.sleep(float(line[2]))
                print("DONE", flush=True)
        server.should_exit = True
        await task  # the lifespan stops the service


class Child:
    """The server process, driven over its stdin."""

    def __init__(self, url: str) -> None:
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve-child", url], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        if not line or line[0] != "PORT":
            raise RuntimeError(f"the server process did not start ({line})")
        self.base = f"http://127.0.0.1:{line[1]}"

    def cpu_s(self) -> float:
        """CPU seconds the server process has used (user + system)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.send("quit")
            self.proc.wait(15)
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


async def rollups(url: str) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await run_rollups(conn)


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


async def fanout(child: Child, base: str, token: str, clients: int, events: int) -> dict[str, Any]:
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
        child.send(f"publish {events} 0.1")
        seen = await asyncio.wait_for(asyncio.gather(*tasks), 30)
    return {"clients": clients, "delivered": sum(seen), "expected": clients * events, "latencies": latencies}


def wrk_hammer(base: str, token: str, path: str, seconds: float, connections: int) -> float:
    """Requests/s measured by wrk (C, one thread: it costs the server far less CPU than a Python client
    on a 2-core machine); non-2xx answers make it an error, as in `hammer`."""
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "5s",
                          "-H", f"Authorization: Bearer {token}", base + path],
                         capture_output=True, text=True, check=True, timeout=seconds + 30).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"wrk GET {path}: errors\n{out}")
    rate = next((line.split(":")[1] for line in out.splitlines() if line.startswith("Requests/sec:")), None)
    if rate is None:
        raise RuntimeError(f"wrk GET {path}: no rate in its output\n{out}")
    return float(rate)


async def hammer(base: str, token: str, path: str, seconds: float, connections: int) -> float:
    """Requests/s over `connections` keep-alive HTTP/1.1 connections, each sending its next request as soon
    as the previous answer is read (raw streams: the load generator must cost far less than the server)."""
    host, port = base.removeprefix("http://").split(":")
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\r\n".encode()
    done = 0
    deadline = time.monotonic() + seconds

    async def one() -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while time.monotonic() < deadline:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                if not head.startswith(b"HTTP/1.1 200"):
                    raise RuntimeError(f"GET {path}: {head.splitlines()[0]!r}")
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                await reader.readexactly(length)
                done += 1
        finally:
            writer.close()

    started = time.monotonic()
    await asyncio.gather(*(one() for _ in range(connections)))
    return done / (time.monotonic() - started)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="fewer days and queries: whole run under 60 s")
    ap.add_argument("--days", type=float, default=None, help="days of 1 s data (default 30; --quick 3)")
    ap.add_argument("--queries", type=int, default=None, help="timed queries per source (default 40; --quick 15)")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--events", type=int, default=None, help="samples pushed to the stream (default 50; quick 20)")
    ap.add_argument("--load-generator", choices=("auto", "wrk", "python"), default="auto",
                    help="who sends the /live, /auth/me and /healthz requests: wrk if installed (auto), else Python")
    ap.add_argument("--database-url", default=None, help="an empty TimescaleDB database (default: a scratch one)")
    ap.add_argument("--serve-child", metavar="URL", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve_child:
        run_event_loop(serve_child(args.serve_child))  # on the event loop `plantctl run` uses
        return
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
    child: Child | None = None
    try:
        end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
        t0 = time.monotonic()
        rows = load_history(url, days, end)
        load_s = time.monotonic() - t0
        log(f"loaded {rows} rows ({days:g} days of 1 s data) in {load_s:.1f} s")
        t0 = time.monotonic()
        asyncio.run(rollups(url))
        rollup_s = time.monotonic() - t0
        log(f"rollups 1m + 1h in {rollup_s:.1f} s")
        child = Child(url)
        base = child.base
        r = httpx.post(f"{base}/api/v1/auth/login", json={"username": "bench", "password": password}, timeout=30)
        r.raise_for_status()
        token = r.json()["access_token"]
        tr = time_trends(base, token, end - timedelta(days=days), end, queries)
        auto, raw = tr["timings"]["auto"], tr["timings"]["raw"]
        log(f"trend from {tr['sources']}: p50 {statistics.median(auto):.1f} ms, p99 {pct(auto, 99):.1f} ms; "
            f"raw p50 {statistics.median(raw):.1f} ms, p99 {pct(raw, 99):.1f} ms")
        child.send("fill")
        assert child.proc.stdout is not None
        child.proc.stdout.readline()
        hammer_s = 4.0 if args.quick else 15.0
        generator = args.load_generator
        if generator == "auto":
            generator = "wrk" if shutil.which("wrk") else "python"

        server_cpu: dict[str, float] = {}

        def rate(path: str) -> float:
            cpu0, t0 = child.cpu_s(), time.monotonic()
            if generator == "wrk":
                rps = wrk_hammer(base, token, path, hammer_s, 8)
            else:
                rps = asyncio.run(hammer(base, token, path, hammer_s, 8))
            server_cpu[path] = (child.cpu_s() - cpu0) / (time.monotonic() - t0)
            return rps

        live_rps = rate("/api/v1/live")
        me_rps = rate("/api/v1/auth/me")
        # the stack without authentication: what authentication costs
        healthz_rps = rate("/healthz")
        # on a shared machine the server often gets less than its core: requests per CPU-second of the server
        # is what one core would serve
        live_per_cpu = live_rps / max(server_cpu["/api/v1/live"], 1e-9)
        live_tags = len(httpx.get(f"{base}/api/v1/live", headers={"Authorization": f"Bearer {token}"}).json()["values"])
        log(f"[{generator}] GET /live ({live_tags} tags): {live_rps:,.0f} requests/s; "
            f"GET /auth/me: {me_rps:,.0f} requests/s; "
            f"GET /healthz (no authentication): {healthz_rps:,.0f} requests/s; server CPU while hammering /live "
            f"{server_cpu['/api/v1/live']:.2f} core: {live_per_cpu:,.0f} requests per CPU-second")
        fo = asyncio.run(fanout(child, base, token, args.clients, events))
        lat = fo["latencies"]
        log(f"live: {fo['clients']} clients, {fo['delivered']}/{fo['expected']} deliveries, "
            f"p50 {statistics.median(lat):.1f} ms, p99 {pct(lat, 99):.1f} ms")
    finally:
        if child is not None:
            child.stop()
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
        "live_requests_per_s": round(live_rps), "live_tags": live_tags,
        "auth_me_requests_per_s": round(me_rps), "live_vs_auth_me": round(live_rps / me_rps, 2),
        "healthz_requests_per_s": round(healthz_rps),
        "live_server_cpu_cores": round(server_cpu["/api/v1/live"], 2),
        "live_requests_per_server_cpu_s": round(live_per_cpu),
        "load_generator": f"{generator}, 8 keep-alive connections",
        "load_avg_1m": os.getloadavg()[0],
        "wall_s": round(time.monotonic() - t_start, 1), "server": "separate process (one uvicorn worker)",
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
