"""Fleet ingest: simulated Sparkplug B sites → a real Mosquitto → the central primary host → the historian.

  .venv/bin/python bench/fleet.py [--quick] [--sites 100] [--metrics 1000] [--seconds 120] [--database-url URL]

The sites are light Sparkplug publishers (one NBIRTH, then one NDATA of every metric each second, seq
0–255) in a separate process; the central host and the historian writer run in this process, whose CPU
time over wall time is `central_cpu_cores`. The historian writes into a scratch schema (dropped after).
`ingest_lag_p99_s` is sample time at the site → rows reported written by the writer (polled every
0.1 s). `lost` = rows the sites published − rows in the table; `duplicated` = writer rows refused as
duplicates of (tag, ts). Baseline in the same run: the historian writer fed the same rows directly
(no broker, no Sparkplug) — `direct_writer_headroom` is its rate over the fleet's. The outage
scenarios are bench/fleet_outages.py. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg

from connectors.sparkplug import codec
from connectors.sparkplug.host import DiscoveredTag, SparkplugHost
from plantctl.config.models import EngineeringRange, HistorianConfig, TagConfig
from plantctl.historian.migrate import MIGRATIONS_DIR, apply_migrations
from plantctl.historian.writer import HistorianWriter
from plantctl.samples import Sample
from plantctl.uplink.mosquitto import MosquittoBroker

GROUP = "bench"


def with_search_path(url: str, schema: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query["options"] = f"-csearch_path={schema},public"
    return urlunsplit(parts._replace(query=urlencode(query)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def site_name(i: int) -> str:
    return f"site-{i:03d}"


def metric_name(j: int) -> str:
    return f"AIT-{j:04d}"


def fleet_tags(sites: int, metrics: int) -> list[TagConfig]:
    rng = EngineeringRange(low=0, high=14)
    return [TagConfig.model_construct(name=f"{GROUP}/{site_name(i)}/{metric_name(j)}", unit="pH", range=rng,
                                      source="fleet", description="")  # 100,000 tags: validated names cost seconds
            for i in range(sites) for j in range(metrics)]


# -- the sites (child process) ------------------------------------------------------------------
async def run_sites(port: int, sites: int, metrics: int, seconds: float, start_at: float) -> None:
    import aiomqtt
    defs = [codec.MetricDef(metric_name(j), j + 1, "pH", 0.0, 14.0) for j in range(metrics)]

    async def site(i: int) -> int:
        node = site_name(i)
        sent = 0
        async with aiomqtt.Client("127.0.0.1", port, identifier=f"bench-{node}", max_queued_outgoing_messages=0) as c:
            await c.publish(codec.topic(GROUP, "NBIRTH", node),
                            codec.birth_payload(defs, {}, 0, datetime.now(UTC)), qos=0)
            seq, tick = 0, 0
            while True:
                due = start_at + tick + i / sites  # sites spread over the second, as real ones are
                if due - start_at >= seconds:
                    return sent
                await asyncio.sleep(max(0.0, due - time.time()))
                now = datetime.now(UTC)
                seq = (seq + 1) % 256
                items = [(j + 1, Sample(metric_name(j), now, 7.0 + (tick + j) % 100 / 100)) for j in range(metrics)]
                await c.publish(codec.topic(GROUP, "NDATA", node), codec.data_payload(seq, items, now), qos=0)
                sent += metrics
                tick += 1

    counts = await asyncio.gather(*(site(i) for i in range(sites)))
    print(json.dumps({"published": sum(counts)}), flush=True)


# -- the centre ---------------------------------------------------------------------------------
class WriterSink:
    """The host's sink for the bench: every value to the historian writer, lags tracked per submit."""

    def __init__(self, writer: HistorianWriter) -> None:
        self.writer = writer
        self.submitted = 0
        self.pending: deque[tuple[int, float]] = deque()  # (cumulative rows submitted, oldest sample time)
        self.lags: list[float] = []

    def tags_born(self, tags: list[DiscoveredTag]) -> None:
        pass  # registered up front: the writer knows the fleet's tags at start in this bench

    def live(self, samples: list[Sample]) -> None:
        self._submit(samples)

    def history(self, samples: list[Sample]) -> None:
        self._submit(samples)

    def _submit(self, samples: list[Sample]) -> None:
        self.writer.submit(samples)
        self.submitted += len(samples)
        self.pending.append((self.submitted, min(s.ts for s in samples).timestamp()))

    def poll(self) -> None:
        written = self.writer.stats().rows_written + self.writer.stats().rows_duplicate
        now = time.time()
        while self.pending and self.pending[0][0] <= written:
            self.lags.append(now - self.pending.popleft()[1])


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def central(url: str, port: int, tags: list[TagConfig], sites: int, metrics: int, seconds: float,
                  state: Path) -> dict[str, float]:
    writer = HistorianWriter(url, HistorianConfig(), state_dir=state, tags=tags)
    await writer.start()
    sink = WriterSink(writer)
    host = SparkplugHost("bench-central", [GROUP], [("127.0.0.1", port)], sink)
    await host.start()
    while not host.connected:  # noqa: ASYNC110 - polls the host's public flag
        await asyncio.sleep(0.05)
    start_at = time.time() + 2.0
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--as-sites", str(port), str(sites), str(metrics), str(seconds), str(start_at),
        stdout=subprocess.PIPE)
    await asyncio.sleep(max(0.0, start_at - time.time()))
    wall0, cpu0 = time.monotonic(), cpu_s()
    expected = sites * metrics * int(seconds)
    while proc.returncode is None or sink.submitted < expected:
        sink.poll()
        await asyncio.sleep(0.1)
        if proc.returncode is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 0.001)
        elif time.monotonic() - wall0 > seconds + 30:
            break
    out, _ = await proc.communicate()
    published = int(json.loads(out.decode().strip().splitlines()[-1])["published"])
    while writer.stats().rows_written + writer.stats().rows_duplicate < sink.submitted:
        sink.poll()
        await asyncio.sleep(0.1)
    sink.poll()
    wall, cpu = time.monotonic() - wall0, cpu_s() - cpu0
    await host.stop()
    await writer.stop()
    with psycopg.connect(url) as conn:
        # Good rows only: stopping the host marks every site Bad "site offline" once, which the historian stores too
        row = conn.execute("SELECT count(*) FROM samples WHERE quality = 192").fetchone()
        stored = int(row[0]) if row else 0
    lags = sorted(sink.lags)
    p99 = lags[min(len(lags) - 1, int(0.99 * len(lags)))] if lags else float("nan")
    return {"published": published, "stored": stored, "wall_s": wall, "cpu_s": cpu, "lag_p99_s": p99,
            "duplicates": writer.stats().rows_duplicate, "malformed": host.counters.malformed,
            "rebirths_requested": host.counters.rebirths_requested}


async def direct(url: str, tags: list[TagConfig], sites: int, metrics: int, state: Path, seconds: int) -> float:
    """The same rows straight into the writer, as fast as it takes them: the baseline."""
    writer = HistorianWriter(url, HistorianConfig(), state_dir=state, tags=tags)
    await writer.start()
    t0 = datetime.now(UTC).timestamp() - 86400
    rows = 0
    start = time.perf_counter()
    for tick in range(seconds):
        for i in range(sites):
            ts = datetime.fromtimestamp(t0 + tick + i / sites, UTC)
            writer.submit([Sample(f"{GROUP}/{site_name(i)}/{metric_name(j)}", ts, 7.0) for j in range(metrics)])
            rows += metrics
        while writer.stats().queue_batches > 50:  # noqa: ASYNC110 - polls public stats
            await asyncio.sleep(0.001)
    while writer.stats().rows_written < rows:  # noqa: ASYNC110
        await asyncio.sleep(0.01)
    elapsed = time.perf_counter() - start
    await writer.stop()
    return rows / elapsed


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--as-sites":
        port, sites, metrics, seconds, start_at = sys.argv[2:7]
        asyncio.run(run_sites(int(port), int(sites), int(metrics), float(seconds), float(start_at)))
        return
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="20 sites × 500 metrics for 30 s")
    ap.add_argument("--sites", type=int)
    ap.add_argument("--metrics", type=int)
    ap.add_argument("--seconds", type=int)
    ap.add_argument("--database-url")
    args = ap.parse_args()
    sites = args.sites or (20 if args.quick else 100)
    metrics = args.metrics or (500 if args.quick else 1000)
    seconds = args.seconds or (30 if args.quick else 120)
    base_url = args.database_url
    if not base_url:
        from plantctl.db import database_url
        base_url = database_url()
    schema = f"bench_fleet_{os.getpid()}"
    with psycopg.connect(base_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"'.encode())
    url = with_search_path(base_url, schema)
    tmp = Path(tempfile.mkdtemp(prefix="plantctl-bench-fleet-"))
    broker = MosquittoBroker(tmp / "broker", free_port())
    try:
        mig = tmp / "migrations"
        mig.mkdir()
        shutil.copy(MIGRATIONS_DIR / "0001_core.sql", mig / "0001_core.sql")
        apply_migrations(url, mig)
        tags = fleet_tags(sites, metrics)
        broker.start()
        c = asyncio.run(central(url, broker.port, tags, sites, metrics, seconds, tmp / "central"))
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("TRUNCATE samples")
        direct_rate = asyncio.run(direct(url, tags, sites, metrics, tmp / "direct", min(seconds, 30)))
    finally:
        broker.stop()
        with psycopg.connect(base_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE'.encode())
        shutil.rmtree(tmp, ignore_errors=True)
    offered = sites * metrics
    values_per_s = c["stored"] / c["wall_s"]  # committed over the time until the last row was written
    print(json.dumps({
        "bench": "fleet", "quick": args.quick, "sites": sites, "metrics_per_site": metrics, "seconds": seconds,
        "offered_values_per_s": offered, "values_per_s": round(values_per_s, 1),
        "ratio_to_offered": round(values_per_s / offered, 4),
        "ingest_lag_p99_s": round(c["lag_p99_s"], 3), "wall_s_to_last_commit": round(c["wall_s"], 1),
        "central_cpu_cores": round(c["cpu_s"] / c["wall_s"], 3),
        "published": int(c["published"]), "stored": int(c["stored"]),
        "lost": int(c["published"] - c["stored"]), "duplicated": int(c["duplicates"]),
        "malformed": int(c["malformed"]), "rebirths_requested": int(c["rebirths_requested"]),
        "direct_writer_rows_per_s": round(direct_rate, 1),
        "direct_writer_headroom": round(direct_rate / values_per_s, 3),
        "outage_scenarios": "not run here: bench/fleet_outages.py",
    }))


if __name__ == "__main__":
    main()
