"""Fleet acceptance through outages: edge sites → a real Mosquitto → a real central `plantctl run` → TimescaleDB.

  .venv/bin/python bench/fleet_outages.py [--quick] [--sites 100] [--metrics 1000] [--seconds 120] [--no-real-site]

The sites are real edge nodes (plantctl.uplink.edge.SparkplugEdge: spool, replay, primary-host awareness,
replay window) in one child process, each submitting every metric once a second; plus one real
`plantctl run --simulate` of the example plant with an `uplink:` section. The centre is a real `plantctl run`
of a central plant file (a `sparkplug` source) in its own process. During the run: the broker is stopped
for an outage (30 s; `--quick` 5 s) and started again, then SIGKILLed and restarted, then the central
service is SIGKILLed and restarted. After the sites stop, the run waits for the spools to drain.

Figures (last line, JSON): `lost` = values the light sites generated that are not in the central
historian (per tag and time); `duplicated` = rows beyond one per (tag, time) for them; `wrong_values`
= stored values that differ from what was generated; `live_overwritten_by_history` = times the central
API's live value of a probe tag went back in time (history reaching live values would do that), polled
every 0.5 s; `real_site_lost` = Good samples the real site's own historian stored (ts up to 5 s before
the light sites stopped; it runs on while the spools drain) that the centre lacks;
`ingest_lag_p99_s` = sample time → first seen in the central table
for one probe tag per site (polled every 0.2 s), over samples generated outside the warm-up (first 5 s) and
the outage periods (1 s before each until 10 s after its recovery; `ingest_lag_p99_all_s` over every sample);
`values_per_s` = rows committed at the centre over the publishing time plus the drain; `central_cpu_cores`
= the central processes' CPU time over their wall time (/proc). Baseline in the same run: the offered rate.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from connectors.opcua.config import OpcUaAddress  # noqa: E402
from plantctl.config.models import EngineeringRange, TagConfig  # noqa: E402
from plantctl.config.uplink import UplinkConfig  # noqa: E402
from plantctl.samples import Sample  # noqa: E402
from plantctl.uplink.mosquitto import MosquittoBroker  # noqa: E402

GROUP = "bench"
HOST_ID = "central"
EXAMPLE = REPO / "examples" / "plant.yaml"
TICKS = 1000  # ms per tick
WARM_UP_S = 5.0  # the first seconds (edges connecting, waiting for the host's STATE, born) are not steady state


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def site_name(i: int) -> str:
    return f"site-{i:03d}"


def metric_name(j: int) -> str:
    return f"AIT-{j:04d}"


def value_of(i: int, j: int, tick: int) -> float:
    """What site i sends for metric j at a tick: checkable at the centre."""
    return 7.0 + ((tick + j + i) % 100) / 100


# -- the light sites (child process): real edge nodes -------------------------------------------
async def run_sites(url: str, sites: int, metrics: int, seconds: int, start_at: float, state: Path) -> None:
    from plantctl.uplink.edge import SparkplugEdge
    tags = [TagConfig(name=metric_name(j), unit="pH", range=EngineeringRange(low=0, high=14), source="plc",
                      address=OpcUaAddress(node_id=f"ns=2;s={metric_name(j)}")) for j in range(metrics)]
    edges = []
    for i in range(sites):
        cfg = UplinkConfig(group_id=GROUP, edge_node_id=site_name(i), brokers=[url], primary_host_id=HOST_ID,
                           keepalive_s=5, publish_period_s=0.5, max_metrics_per_message=metrics,
                           reconnect_max_delay_s=2.0)
        edges.append(SparkplugEdge(cfg, tags, state / site_name(i)))
    for e in edges:
        await e.start()
    t0 = int(start_at * 1000)
    late = 0.0  # how far behind its schedule this process submitted (CPU starvation of the bench itself)
    for tick in range(seconds):
        due = (t0 + tick * TICKS) / 1000
        await asyncio.sleep(max(0.0, due - time.time()))
        late = max(late, time.time() - due)
        ts = datetime.fromtimestamp((t0 + tick * TICKS) / 1000, UTC)
        for i, e in enumerate(edges):
            e.submit([Sample(metric_name(j), ts, value_of(i, j, tick)) for j in range(metrics)])
    # keep running (spools replaying) until told to stop on stdin
    print(json.dumps({"generated": sites * metrics * seconds, "t0_ms": t0, "late_s": late}), flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)
    backlog = sum(e.status().spool_pending_rows for e in edges)
    for e in edges:
        await e.stop()
    print(json.dumps({"spool_pending_rows_at_stop": backlog}), flush=True)


# -- the centre ----------------------------------------------------------------------------------
CENTRAL = """plant:
  name: Bench fleet centre
sources:
  - kind: sparkplug
    name: fleet
    host_id: {host}
    groups: [{group}]
    brokers: ["{broker}"]
    keepalive_s: 5
"""


@dataclass
class Central:
    """The central `plantctl run` process, restarted after a SIGKILL; CPU and wall time summed over its lives."""

    config: Path
    env: dict[str, str]
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    cpu_s: float = 0.0
    wall_s: float = 0.0
    started_at: float = 0.0
    password: str = ""
    lives: int = 0

    def start(self) -> None:
        out = self.log.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "plantctl.cli", "run", "--config", str(self.config),
                                      "--port", str(self.port)], env=self.env, stdout=out, stderr=out, cwd=REPO)
        self.started_at = time.monotonic()
        self.lives += 1

    def _account(self) -> None:
        if self.proc is not None:
            self.cpu_s += proc_cpu_s(self.proc.pid)
            self.wall_s += time.monotonic() - self.started_at

    def kill(self) -> None:
        assert self.proc is not None
        self._account()
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.proc = None

    def stop(self) -> None:
        if self.proc is None:
            return
        self._account()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def wait_ready(self, timeout_s: float = 90) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).status_code < 500:
                    found = re.findall(r"^\s+admin\s+(\S+)$", self.log.read_text(), re.MULTILINE)
                    if found:
                        self.password = found[-1]
                        return
            time.sleep(0.3)
        raise RuntimeError(f"the central service did not come up: {self.log.read_text()[-3000:]}")


def proc_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Watch:
    """Polls the central: lag of probe tags from its table, live values' time order from its API."""

    central_url: str
    probes: list[str]
    lags: list[tuple[float, float]] = field(default_factory=list)  # (sample ts, lag s)
    live_backwards: int = 0
    live_checks: int = 0
    _last_live: dict[str, str] = field(default_factory=dict)
    _seen: dict[str, float] = field(default_factory=dict)

    async def table(self, stop: asyncio.Event) -> None:
        since = datetime.now(UTC) - timedelta(seconds=5)
        while not stop.is_set():
            with contextlib.suppress(psycopg.Error):
                async with await psycopg.AsyncConnection.connect(self.central_url, autocommit=True) as conn:
                    while not stop.is_set():
                        cur = await conn.execute(
                            "SELECT t.name, s.ts FROM samples s JOIN tags t ON t.id = s.tag_id "
                            "WHERE t.name = ANY(%s) AND s.ts > %s AND s.quality = 192", (self.probes, since))
                        now = time.time()
                        for name, ts in await cur.fetchall():
                            key = f"{name}@{ts.isoformat()}"
                            if key not in self._seen:
                                self._seen[key] = now
                                self.lags.append((ts.timestamp(), now - ts.timestamp()))
                        since = datetime.now(UTC) - timedelta(seconds=60)
                        await asyncio.sleep(0.2)
            await asyncio.sleep(0.5)

    async def live(self, central: Central, stop: asyncio.Event) -> None:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{central.port}", timeout=5) as http:
            token, token_for = "", ""
            while not stop.is_set():
                await asyncio.sleep(0.5)
                try:
                    if token_for != central.password:
                        r = await http.post("/api/v1/auth/login",
                                            json={"username": "admin", "password": central.password})
                        token, token_for = r.json()["access_token"], central.password
                    r = await http.get("/api/v1/live", params={"tag": ",".join(self.probes)},
                                       headers={"Authorization": f"Bearer {token}"})
                    if r.status_code != 200:
                        continue  # tags not born yet after a restart, or the service is coming up
                    for v in r.json()["values"]:
                        self.live_checks += 1
                        prev = self._last_live.get(v["tag"])
                        if prev is not None and v["ts"] < prev:
                            self.live_backwards += 1
                        self._last_live[v["tag"]] = v["ts"]
                except (httpx.HTTPError, KeyError, ValueError):
                    continue  # kept across a restart of the centre: its births carry the sites' newest values


def real_site_plant(directory: Path, broker_url: str) -> Path:
    text = EXAMPLE.read_text()
    text = text.replace("opc.tcp://127.0.0.1:48400/", f"opc.tcp://127.0.0.1:{free_port()}/")
    text = text.replace("port: 50200", f"port: {free_port()}")
    text += (f"\nuplink:\n  group_id: {GROUP}\n  edge_node_id: real-site\n  brokers: [\"{broker_url}\"]\n"
             f"  primary_host_id: {HOST_ID}\n  keepalive_s: 5\n")
    path = directory / "real-site.yaml"
    path.write_text(text)
    return path


def start_real_site(tmp: Path, broker_url: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    out = (tmp / "real-site.log").open("ab")
    return subprocess.Popen([sys.executable, "-m", "plantctl.cli", "run", "--config",
                             str(real_site_plant(tmp, broker_url)), "--simulate", "--port", str(free_port())],
                            env=env, stdout=out, stderr=out, cwd=REPO)


async def scenario(args: argparse.Namespace, tmp: Path, db: object) -> dict[str, object]:
    from plantctl.db.local import LocalDatabase
    assert isinstance(db, LocalDatabase)
    sites, metrics, seconds = args.sites, args.metrics, args.seconds
    outage_s = 5 if args.quick else 30
    # times (s after the sites start): a broker outage, a broker SIGKILL, a central SIGKILL
    t_outage = max(10.0, 0.15 * seconds)  # the first seconds are steady: the lag is measured there too
    spacing = (seconds - t_outage - outage_s) / 3
    t_broker_kill = t_outage + outage_s + spacing
    t_central_kill = t_broker_kill + spacing
    broker = MosquittoBroker(tmp / "broker", free_port())
    broker.start()
    tag = f"{os.getpid()}"
    central_db = db.create_database(f"bench_fleet_central_{tag}")
    site_db = db.create_database(f"bench_fleet_site_{tag}") if args.real_site else ""
    central_file = tmp / "central.yaml"
    central_file.write_text(CENTRAL.format(host=HOST_ID, group=GROUP, broker=broker.url))
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("PLANTCTL_")}
    central = Central(central_file, {**base_env, "PLANTCTL_DATABASE_URL": central_db, "PLANTCTL_MODE": "demo",
                                     "PLANTCTL_STATE_DIR": str(tmp / "central")}, free_port(), tmp / "central.log")
    real: subprocess.Popen[bytes] | None = None
    sites_proc: asyncio.subprocess.Process | None = None
    outages: list[tuple[float, float]] = []  # wall-clock periods whose samples are not steady-state
    try:
        central.start()
        await asyncio.to_thread(central.wait_ready)
        if args.real_site:
            real = start_real_site(tmp, broker.url, {**base_env, "PLANTCTL_DATABASE_URL": site_db,
                                                      "PLANTCTL_STATE_DIR": str(tmp / "real-site")})
        start_at = time.time() + 3.0
        sites_proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--as-sites", broker.url, str(sites), str(metrics), str(seconds),
            str(start_at), str(tmp / "sites"), stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=REPO)
        probes = [f"{GROUP}/{site_name(i)}/{metric_name(0)}" for i in range(sites)]
        watch = Watch(central_db, probes)
        stop_watch = asyncio.Event()
        watchers = [asyncio.create_task(watch.table(stop_watch)), asyncio.create_task(watch.live(central, stop_watch))]

        async def at(t: float) -> None:
            await asyncio.sleep(max(0.0, start_at + t - time.time()))

        await at(t_outage)
        broker.stop()
        down = time.time()
        await at(t_outage + outage_s)
        broker.start()
        outages.append((down - 1, time.time() + 10))
        await at(t_broker_kill)
        broker.kill()
        down = time.time()
        broker.start()
        outages.append((down - 1, time.time() + 10))
        await at(t_central_kill)
        central.kill()
        down = time.time()
        central.start()
        await asyncio.to_thread(central.wait_ready)
        outages.append((down - 1, time.time() + 10))
        await at(seconds)
        assert sites_proc.stdout is not None and sites_proc.stdin is not None
        line = await sites_proc.stdout.readline()
        head = json.loads(line)
        generated, t0_ms = int(head["generated"]), int(head["t0_ms"])
        sites_stopped_at = time.time()
        real_until = datetime.now(UTC) - timedelta(seconds=5)  # the real site keeps running while spools drain
        # drain: until every generated value is stored (and the real site's up to real_until), or the budget ends
        stored, deadline = 0, time.monotonic() + args.drain_s
        while time.monotonic() < deadline:
            stored = count_light(central_db)
            if stored >= generated and (not args.real_site or
                                        compare_real_site(site_db, central_db, real_until)[0] == 0):
                break
            await asyncio.sleep(1.0)
        drained_at = time.time()
        if real is not None:
            real.send_signal(signal.SIGTERM)
        sites_proc.stdin.write(b"stop\n")
        await sites_proc.stdin.drain()
        tail = json.loads((await sites_proc.stdout.readline()) or b"{}")
        await sites_proc.wait()
        stop_watch.set()
        for w in watchers:
            w.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await w
        central_cpu = central.cpu_s + (proc_cpu_s(central.proc.pid) if central.proc else 0.0)
        central_wall = central.wall_s + (time.monotonic() - central.started_at if central.proc else 0.0)
        per_tag, wrong, per_tick = verify_light(central_db, t0_ms)
        short_ticks = {t: sites * metrics - per_tick.get(t, 0) for t in range(seconds)
                       if per_tick.get(t, 0) < sites * metrics}
        lost = sum(max(0, seconds - n) for n, _ in per_tag.values()) + seconds * (sites * metrics - len(per_tag))
        duplicated = sum(max(0, rows - n) for n, rows in per_tag.values())
        real_lost, real_rows = (compare_real_site(site_db, central_db, real_until)
                                if args.real_site else (None, None))
        outages.append((start_at - 60, start_at + WARM_UP_S))  # edges connecting and born: not steady either
        steady = [lag for ts, lag in watch.lags if not any(a <= ts <= b for a, b in outages)]
        every = sorted(lag for _, lag in watch.lags)
        steady.sort()
        p99 = steady[min(len(steady) - 1, int(0.99 * len(steady)))] if steady else None
        committed_s = drained_at - start_at
        return {
            "bench": "fleet_outages", "quick": args.quick, "sites": sites, "metrics_per_site": metrics,
            "seconds": seconds, "broker_outage_s": outage_s, "broker_sigkill": True, "central_sigkill": True,
            "offered_values_per_s": sites * metrics, "values_per_s": round(stored / committed_s, 1),
            "ratio_to_offered": round(stored / committed_s / (sites * metrics), 4),
            "publishing_s": round(sites_stopped_at - start_at, 1), "drain_s": round(drained_at - sites_stopped_at, 1),
            "ingest_lag_p99_s": None if p99 is None else round(p99, 3), "lag_samples": len(steady),
            "ingest_lag_p50_s": round(steady[len(steady) // 2], 3) if steady else None,
            "ingest_lag_p99_all_s": round(every[min(len(every) - 1, int(0.99 * len(every)))], 3) if every else None,
            "central_cpu_cores": round(central_cpu / central_wall, 3), "central_lives": central.lives,
            "generated": generated, "stored": stored, "lost": lost, "duplicated": duplicated,
            "wrong_values": wrong, "live_overwritten_by_history": watch.live_backwards,
            "live_checks": watch.live_checks, "real_site": args.real_site, "real_site_lost": real_lost,
            "real_site_rows_compared": real_rows,
            "lost_by_tick": short_ticks, "events_s": {"broker_stop": round(t_outage, 1),
                                                      "broker_start": round(t_outage + outage_s, 1),
                                                      "broker_sigkill": round(t_broker_kill, 1),
                                                      "central_sigkill": round(t_central_kill, 1)},
            "spool_pending_rows_at_stop": tail.get("spool_pending_rows_at_stop"),
            "sites_submit_late_max_s": round(float(head["late_s"]), 2),
        }
    finally:
        if sites_proc is not None and sites_proc.returncode is None:
            sites_proc.kill()
            await sites_proc.wait()
        if real is not None and real.poll() is None:
            real.kill()
            real.wait()
        central.stop()
        broker.stop()
        for name in (f"bench_fleet_central_{tag}", f"bench_fleet_site_{tag}"):
            if args.keep:
                print(f"kept database {name}", file=sys.stderr)
                continue
            with contextlib.suppress(Exception):
                db.drop_database(name)


def count_light(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM samples s JOIN tags t ON t.id = s.tag_id "
                           "WHERE t.name LIKE %s AND s.quality = 192", (f"{GROUP}/site-%",)).fetchone()
    return int(row[0]) if row else 0


def verify_light(url: str, t0_ms: int) -> tuple[dict[str, tuple[int, int]], int, dict[int, int]]:
    """Per light tag: (distinct times stored, rows stored); how many stored values differ from those sent; and
    per tick, how many values are stored (a diagnosis of where losses are: the scenario's times are printed)."""
    per_tag: dict[str, tuple[int, int]] = {}
    per_tick: dict[int, int] = {}
    wrong = 0
    t0 = datetime.fromtimestamp(t0_ms / 1000, UTC)
    with psycopg.connect(url) as conn:
        for name, distinct, rows in conn.execute(
                "SELECT t.name, count(DISTINCT s.ts), count(*) FROM samples s JOIN tags t ON t.id = s.tag_id "
                "WHERE t.name LIKE %s AND s.quality = 192 GROUP BY t.name", (f"{GROUP}/site-%",)).fetchall():
            per_tag[name] = (int(distinct), int(rows))
        for name, ts, value in conn.execute(
                "SELECT t.name, s.ts, s.value FROM samples s JOIN tags t ON t.id = s.tag_id "
                "WHERE t.name LIKE %s AND s.quality = 192", (f"{GROUP}/site-%",)):
            _, node, metric = name.split("/")
            tick = round((ts - t0).total_seconds())
            per_tick[tick] = per_tick.get(tick, 0) + 1
            if abs(value - value_of(int(node[5:]), int(metric[4:]), tick)) > 1e-9:
                wrong += 1
    return per_tag, wrong, per_tick


def compare_real_site(site_url: str, central_url: str, until: datetime) -> tuple[int, int]:
    """Good samples in the real site's own historian (to `until`) missing at the centre, per (tag, ms)."""
    with psycopg.connect(site_url) as conn:
        own = {(n, round(ts.timestamp() * 1000)) for n, ts in conn.execute(  # the edge sends whole ms (rounded)
            "SELECT t.name, s.ts FROM samples s JOIN tags t ON t.id = s.tag_id WHERE s.quality = 192 AND s.ts <= %s",
            (until,))}
    with psycopg.connect(central_url) as conn:
        central = {(n.split("/", 2)[2], round(ts.timestamp() * 1000)) for n, ts in conn.execute(
            "SELECT t.name, s.ts FROM samples s JOIN tags t ON t.id = s.tag_id WHERE t.name LIKE %s",
            (f"{GROUP}/real-site/%",))}
    return len(own - central), len(own)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--as-sites":
        url, sites, metrics, seconds, start_at, state = sys.argv[2:8]
        asyncio.run(run_sites(url, int(sites), int(metrics), int(seconds), float(start_at), Path(state)))
        return
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="20 sites × 500 metrics for 30 s, a 5 s broker outage")
    ap.add_argument("--sites", type=int)
    ap.add_argument("--metrics", type=int)
    ap.add_argument("--seconds", type=int)
    ap.add_argument("--drain-s", type=float, default=120.0, help="longest wait for the spools to drain")
    ap.add_argument("--keep", action="store_true", help="keep the scratch databases (to look into a loss)")
    ap.add_argument("--no-real-site", dest="real_site", action="store_false",
                    help="without the real `plantctl run --simulate` edge")
    args = ap.parse_args()
    args.sites = args.sites or (20 if args.quick else 100)
    args.metrics = args.metrics or (500 if args.quick else 1000)
    args.seconds = args.seconds or (30 if args.quick else 120)
    from plantctl.db.local import LocalDatabase
    db = LocalDatabase().up()
    tmp = Path(tempfile.mkdtemp(prefix="plantctl-bench-fleet-outages-"))
    try:
        figures = asyncio.run(scenario(args, tmp, db))
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
