"""Fleet ingest: simulated Sparkplug B sites → a real Mosquitto → the central primary host → the historian.

  .venv/bin/python bench/fleet.py [--quick] [--sites 100] [--metrics 1000] [--seconds 120] [--no-real-site]

The light sites are Sparkplug publishers (one NBIRTH, then one NDATA of every metric each second, seq
0–255, byte for byte what connectors/sparkplug/codec.py encodes) in one child process; beside them one real
`plantctl run --simulate` of the example plant with an `uplink:` (its own historian in a scratch database).
The central host and the historian writer run in this process, whose CPU time over wall time is
`central_cpu_cores`; `cpu_cores_by_process` says where every core-second of the machine went over the
same window (publishers, mosquitto, postgres with all its backends, the real site, everything else).
The historian writes into a scratch schema (dropped after). `ingest_lag_p99_s` is sample time at a light
site → rows reported committed by the writer (polled every 0.1 s). `values_per_s` = light sites' rows
in the table / time from the first publish to the last commit (a run offering exactly the target can
only reach it less the last commit's delay); `sustained_values_per_s` = light rows committed per second
while the sites published, from 10 s after they started. `lost` = rows the light sites published
− rows in the table; `duplicated` = rows beyond that; `repeats_absorbed_by_tag_ts_key` = rows the writer
found already stored (the real site's births repeat its last values). `real_site_lost` = Good samples
the real site's own historian stored that the centre lacks. Baseline in the same run: the historian
writer fed the same rows directly (no broker, no Sparkplug) — `direct_writer_headroom` is its rate over
the fleet's. The outage scenarios are bench/fleet_outages.py. Last line: one JSON object.
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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
import psycopg

from connectors.sparkplug import codec
from connectors.sparkplug.host import DiscoveredTag, SparkplugHost
from plantctl.config.models import EngineeringRange, HistorianConfig, TagConfig
from plantctl.historian.migrate import MIGRATIONS_DIR, apply_migrations
from plantctl.historian.writer import HistorianWriter
from plantctl.samples import Sample
from plantctl.uplink.mosquitto import MosquittoBroker

GROUP = "bench"
HOST_ID = "central"  # the primary host the real site waits for (bench/fleet_outages.py's plant file names it)
REAL_SITE = "real-site"
WARM_UP = f"{GROUP}/warm-up"  # one row that makes the writer connect and register the tags before the sites start


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
            for i in range(sites) for j in range(metrics)] + [
        TagConfig.model_construct(name=WARM_UP, unit="pH", range=rng, source="fleet", description="")]


# -- the sites (child process) ------------------------------------------------------------------
_Q_GOOD = b"\x4a\x10\x0a\x07Quality\x12\x05\x08\x03\x18\xc0\x01"  # properties {Quality: Int32 192}


def _varint(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


class NdataTemplate:
    """One site's NDATA of Good doubles, built once and patched per tick with numpy: the same bytes as
    ``codec.data_payload`` (tests/fleet/test_bench_publisher.py), without ~6 µs of protobuf per metric —
    so the publishers, which stand in for 100 sites, do not take the core the centre is measured on."""

    def __init__(self, metrics: int, ts_ms: int) -> None:
        self.metrics = metrics
        self.ts_len = len(_varint(ts_ms))
        parts, value_at = [], []
        body = bytearray()
        for j in range(metrics):
            metric = (b"\x10" + _varint(j + 1) + b"\x18" + _varint(ts_ms) + b"\x20\x0a" + _Q_GOOD + b"\x69")
            head = b"\x12" + _varint(len(metric) + 8)
            value_at.append(len(body) + len(head) + len(metric))
            parts.append((len(body) + len(head) + 2 + len(_varint(j + 1)), j))
            body += head + metric + bytes(8)
        self.body = np.frombuffer(bytes(body), np.uint8).copy()
        self.value_idx = np.array(value_at, np.int64)[:, None] + np.arange(8)
        self.ts_idx = np.array([p for p, _ in parts], np.int64)[:, None] + np.arange(self.ts_len)

    def payload(self, seq: int, ts_ms: int, values: np.ndarray) -> bytes:
        ts = _varint(ts_ms)
        if len(ts) != self.ts_len:  # not for another 278 years at ms resolution
            raise ValueError("time stamp varint changed length")
        self.body[self.ts_idx] = np.frombuffer(ts, np.uint8)
        self.body[self.value_idx] = values.astype("<f8").view(np.uint8).reshape(-1, 8)
        return b"\x08" + ts + self.body.tobytes() + b"\x18" + _varint(seq)


async def run_sites(port: int, sites: int, metrics: int, seconds: float, start_at: float) -> None:
    import aiomqtt
    defs = [codec.MetricDef(metric_name(j), j + 1, "pH", 0.0, 14.0) for j in range(metrics)]
    offsets = np.arange(metrics)

    async def site(i: int) -> int:
        node = site_name(i)
        sent = 0
        template = NdataTemplate(metrics, codec.to_ms(datetime.now(UTC)))
        async with aiomqtt.Client("127.0.0.1", port, identifier=f"bench-{node}", max_queued_outgoing_messages=0) as c:
            await c.publish(codec.topic(GROUP, "NBIRTH", node),
                            codec.birth_payload(defs, {}, 0, datetime.now(UTC)), qos=0)
            seq, tick = 0, 0
            while True:
                due = start_at + tick + i / sites  # sites spread over the second, as real ones are
                if due - start_at >= seconds:
                    return sent
                await asyncio.sleep(max(0.0, due - time.time()))
                now_ms = codec.to_ms(datetime.now(UTC))
                seq = (seq + 1) % 256
                values = 7.0 + (tick + offsets) % 100 / 100
                await c.publish(codec.topic(GROUP, "NDATA", node), template.payload(seq, now_ms, values), qos=0)
                sent += metrics
                tick += 1

    counts = await asyncio.gather(*(site(i) for i in range(sites)))
    print(json.dumps({"published": sum(counts)}), flush=True)


# -- the real site: `plantctl run --simulate` of the example plant with an uplink -----------------
@dataclass
class RealSite:
    """One real edge (its own process, simulator, historian into its own scratch database) beside the light ones."""

    tmp: Path
    broker_url: str
    database_url: str
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.tmp / "real-site.log"

    def start(self) -> None:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from fleet_outages import start_real_site  # the same plant file as the outage bench
        env = {k: v for k, v in os.environ.items() if not k.startswith("PLANTCTL_")}
        self.proc = start_real_site(self.tmp, self.broker_url, {**env, "PLANTCTL_DATABASE_URL": self.database_url,
                                                                "PLANTCTL_STATE_DIR": str(self.tmp / "real-site")})

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def lost(self, central_url: str, until: datetime) -> tuple[int, int]:
        """Good samples its own historian stored up to `until` that the centre lacks, and how many it stored."""
        from fleet_outages import compare_real_site
        return compare_real_site(self.database_url, central_url, until)


# -- the centre ---------------------------------------------------------------------------------
LIGHT = f"{GROUP}/site-"


class WriterSink:
    """The host's sink for the bench: every value to the historian writer, lags tracked per light site's submit."""

    def __init__(self, writer: HistorianWriter) -> None:
        self.writer = writer
        self.submitted = 0
        self.submitted_light = 0
        # (cumulative rows submitted, oldest sample time, light rows in it)
        self.pending: deque[tuple[int, float, int]] = deque()
        self.lags: list[float] = []
        self.confirmed_light = 0
        self.timeline: list[tuple[float, int]] = []  # (wall time, light rows committed by then), per poll

    def tags_born(self, tags: list[DiscoveredTag]) -> None:
        """The light sites' tags are registered up front; the real site's come from its birth, as in production."""
        fresh = [t for t in tags if not t.name.startswith(LIGHT)]
        if fresh:
            self.writer.add_tags([TagConfig.model_construct(
                name=t.name, unit=t.unit or "unspecified", description=t.description, source="fleet",
                range=EngineeringRange.model_construct(low=max(t.low, -sys.float_info.max),
                                                       high=min(t.high, sys.float_info.max)))
                for t in fresh])

    def live(self, samples: list[Sample]) -> None:
        self._submit(samples)

    def history(self, samples: list[Sample]) -> None:
        self._submit(samples)

    def _submit(self, samples: list[Sample]) -> None:
        self.writer.submit(samples)
        self.submitted += len(samples)
        if samples[0].tag.startswith(LIGHT):  # one NDATA is one node's: the real site's clock is its own
            self.submitted_light += len(samples)
            self.pending.append((self.submitted, min(s.ts for s in samples).timestamp(), len(samples)))

    def poll(self) -> None:
        stats = self.writer.stats()
        written = stats.rows_written + stats.rows_duplicate + stats.rows_quarantined
        now = time.time()
        while self.pending and self.pending[0][0] <= written:
            _, oldest, n = self.pending.popleft()
            self.lags.append(now - oldest)
            self.confirmed_light += n
        self.timeline.append((now, self.confirmed_light))

    def committed_rate(self, t0: float, t1: float) -> float:
        """Light rows committed per second between two wall times (the steady part of the run)."""
        def at(t: float) -> tuple[float, int]:
            return min(self.timeline, key=lambda p: abs(p[0] - t))
        (a, na), (b, nb) = at(t0), at(t1)
        return (nb - na) / (b - a) if b > a else float("nan")


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def proc_cpu_s(pid: int, reaped: bool = False) -> float:
    """CPU seconds of a process (and with `reaped`, of its children that ended); 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if reaped else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


def tree_cpu_s(pid: int) -> float:
    """A server and every process it forked (PostgreSQL's backends, checkpointer, WAL writer), ended ones included."""
    total = proc_cpu_s(pid, reaped=True)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                total += proc_cpu_s(int(entry.name))
    return total


def machine_cpu_s() -> float:
    """Busy CPU seconds of the whole machine (every core), from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


@dataclass
class CpuMeter:
    """Per-process CPU over the measured window: where each core-second of the machine went."""

    pids: dict[str, tuple[int, bool]]  # name → (pid, whole tree)
    start: dict[str, float] = field(default_factory=dict)

    def read(self) -> dict[str, float]:
        out = {name: (tree_cpu_s(pid) if tree else proc_cpu_s(pid)) for name, (pid, tree) in self.pids.items()}
        out["central"] = cpu_s()
        out["machine"] = machine_cpu_s()
        return out

    def begin(self) -> None:
        self.start = self.read()

    def cores(self, wall_s: float, end: dict[str, float]) -> dict[str, float]:
        used = {k: (end[k] - self.start.get(k, 0.0)) / wall_s for k in end}
        used["everything_else_on_the_machine"] = used["machine"] - sum(v for k, v in used.items() if k != "machine")
        return {k: round(v, 3) for k, v in used.items()}


@dataclass(frozen=True)
class CentralRun:
    published: int
    stored: int
    wall_s: float
    cores: dict[str, float]
    lag_p99_s: float
    lag_p50_s: float
    duplicates: int
    quarantined: int
    malformed: int
    rebirths_requested: int
    real_until: datetime
    spooled: int
    sustained_values_per_s: float


async def central(url: str, port: int, tags: list[TagConfig], sites: int, metrics: int, seconds: float,
                  state: Path, real: RealSite | None, pids: dict[str, tuple[int, bool]]) -> CentralRun:
    writer = HistorianWriter(url, HistorianConfig(), state_dir=state, tags=tags)
    await writer.start()
    sink = WriterSink(writer)
    host = SparkplugHost(HOST_ID, [GROUP], [("127.0.0.1", port)], sink)
    await host.start()
    # the writer connects at its first batch and then registers the fleet's 100,000 tags; light data arriving
    # meanwhile would queue, spill to its spool and be replayed: a start-up artefact, not the steady state
    writer.submit([Sample(WARM_UP, datetime.now(UTC), 0.0)])
    sink.submitted += 1
    while not (host.connected and writer.stats().rows_written >= 1):  # noqa: ASYNC110 - polls public stats
        await asyncio.sleep(0.05)
    if real is not None:
        real.start()
        deadline = time.monotonic() + 120
        while not ((n := host.nodes.get((GROUP, REAL_SITE))) and n.online and n.last_data):
            if time.monotonic() > deadline or real.proc is None or real.proc.poll() is not None:
                raise RuntimeError(f"the real site did not publish: {real.log.read_text()[-3000:]}")
            await asyncio.sleep(0.2)
        assert real.proc is not None
        pids["real_site"] = (real.proc.pid, False)
    start_at = time.time() + 2.0
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--as-sites", str(port), str(sites), str(metrics), str(seconds), str(start_at),
        stdout=subprocess.PIPE)
    meter = CpuMeter({**pids, "publishers": (proc.pid, False)})
    await asyncio.sleep(max(0.0, start_at - time.time()))
    wall0 = time.monotonic()
    meter.begin()
    publishing_end = {"publishers": meter.start["publishers"]}
    expected = sites * metrics * int(seconds)
    while proc.returncode is None or sink.submitted_light < expected:
        sink.poll()
        await asyncio.sleep(0.1)
        if proc.returncode is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), 0.001)
            if proc.returncode is None:  # the publishers' last reading while they still exist (a process
                # reaped by the child watcher before asyncio saw it reads 0: keep the last real reading)
                publishing_end = {"publishers": max(publishing_end["publishers"], proc_cpu_s(proc.pid))}
        elif time.monotonic() - wall0 > seconds + 30:
            break
    out, _ = await proc.communicate()
    published = int(json.loads(out.decode().strip().splitlines()[-1])["published"])
    while writer.stats().rows_written + writer.stats().rows_duplicate < sink.submitted_light:
        sink.poll()
        await asyncio.sleep(0.1)
    sink.poll()
    wall = time.monotonic() - wall0
    end = meter.read()
    end["publishers"] = publishing_end["publishers"]
    cores = meter.cores(wall, end)
    # the real site's samples up to 5 s before the light sites' last NDATA travelled ahead of it, so they are
    # committed now; later ones may still sit behind a backlog in the host's queue (the real site runs on)
    real_until = datetime.fromtimestamp(start_at + seconds - 5, UTC)
    await host.stop()
    await writer.stop()
    with psycopg.connect(url) as conn:
        # Good rows only: stopping the host marks every site Bad "site offline" once, which the historian stores too
        row = conn.execute("SELECT count(*) FROM samples s JOIN tags t ON t.id = s.tag_id "
                           "WHERE t.name LIKE %s AND s.quality = 192", (LIGHT + "%",)).fetchone()
        stored = int(row[0]) if row else 0
    lags = sorted(sink.lags)
    p99 = lags[min(len(lags) - 1, int(0.99 * len(lags)))] if lags else float("nan")
    p50 = lags[len(lags) // 2] if lags else float("nan")
    return CentralRun(published, stored, wall, cores, p99, p50, writer.stats().rows_duplicate,
                      writer.stats().rows_quarantined, host.counters.malformed, host.counters.rebirths_requested,
                      real_until, writer.stats().rows_spooled,
                      # the steady part: from 10 s after the sites started (births, first batches) to their end
                      sink.committed_rate(start_at + min(10.0, seconds / 4), start_at + seconds))


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
        a = sys.argv[2:7]
        asyncio.run(run_sites(int(a[0]), int(a[1]), int(a[2]), float(a[3]), float(a[4])))
        return
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="20 sites × 500 metrics for 30 s")
    ap.add_argument("--sites", type=int)
    ap.add_argument("--metrics", type=int)
    ap.add_argument("--seconds", type=int)
    ap.add_argument("--database-url", help="another server (no real site then: it needs the local one's databases)")
    ap.add_argument("--no-real-site", dest="real_site", action="store_false",
                    help="without the real `plantctl run --simulate` edge")
    args = ap.parse_args()
    sites = args.sites or (20 if args.quick else 100)
    metrics = args.metrics or (500 if args.quick else 1000)
    seconds = args.seconds or (30 if args.quick else 120)
    base_url = args.database_url
    local = None
    if not base_url:
        from plantctl.db.local import LocalDatabase
        local = LocalDatabase().up()
        base_url = local.app_url
    real_db = f"bench_fleet_site_{os.getpid()}" if local is not None and args.real_site else None
    schema = f"bench_fleet_{os.getpid()}"
    with psycopg.connect(base_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"'.encode())
    url = with_search_path(base_url, schema)
    tmp = Path(tempfile.mkdtemp(prefix="plantctl-bench-fleet-"))
    broker = MosquittoBroker(tmp / "broker", free_port())
    real: RealSite | None = None
    try:
        mig = tmp / "migrations"
        mig.mkdir()
        shutil.copy(MIGRATIONS_DIR / "0001_core.sql", mig / "0001_core.sql")
        apply_migrations(url, mig)
        tags = fleet_tags(sites, metrics)
        broker.start()
        pids: dict[str, tuple[int, bool]] = {}
        if broker.proc is not None:
            pids["mosquitto"] = (broker.proc.pid, False)
        if local is not None and (postmaster := local.postmaster_pid()) is not None:
            pids["postgres"] = (postmaster, True)
        if real_db is not None and local is not None:
            real = RealSite(tmp, broker.url, local.create_database(real_db))
        c = asyncio.run(central(url, broker.port, tags, sites, metrics, seconds, tmp / "central", real, pids))
        real_lost = real.lost(url, c.real_until) if real is not None else None
        if real is not None:
            real.stop()
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("TRUNCATE samples")
        direct_rate = asyncio.run(direct(url, tags, sites, metrics, tmp / "direct", min(seconds, 30)))
    finally:
        if real is not None:
            real.stop()
        broker.stop()
        with psycopg.connect(base_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE'.encode())
        if real_db is not None and local is not None:
            with contextlib.suppress(Exception):
                local.drop_database(real_db)
        shutil.rmtree(tmp, ignore_errors=True)
    offered = sites * metrics
    values_per_s = c.stored / c.wall_s  # committed over the time until the last row was written
    print(json.dumps({
        "bench": "fleet", "quick": args.quick, "sites": sites, "metrics_per_site": metrics, "seconds": seconds,
        "offered_values_per_s": offered, "values_per_s": round(values_per_s, 1),
        "ratio_to_offered": round(values_per_s / offered, 4),
        # committed per second while the sites published (after their first 10 s): the sustained rate
        "sustained_values_per_s": round(c.sustained_values_per_s, 1),
        "sustained_ratio_to_offered": round(c.sustained_values_per_s / offered, 4),
        "ingest_lag_p99_s": round(c.lag_p99_s, 3), "ingest_lag_p50_s": round(c.lag_p50_s, 3),
        "wall_s_to_last_commit": round(c.wall_s, 1),
        "central_cpu_cores": c.cores["central"], "cpu_cores_by_process": c.cores,
        "published": c.published, "stored": c.stored, "lost": max(0, c.published - c.stored),
        "duplicated": max(0, c.stored - c.published), "repeats_absorbed_by_tag_ts_key": c.duplicates,
        "quarantined": c.quarantined, "malformed": c.malformed, "rebirths_requested": c.rebirths_requested,
        "writer_rows_spooled": c.spooled,
        "real_site": real is not None, "real_site_lost": real_lost[0] if real_lost else None,
        "real_site_rows_compared": real_lost[1] if real_lost else None,
        "direct_writer_rows_per_s": round(direct_rate, 1),
        "direct_writer_headroom": round(direct_rate / values_per_s, 3),
        "outage_scenarios": "not run here: bench/fleet_outages.py",
    }))


if __name__ == "__main__":
    main()
