"""The fleet demo: a Mosquitto, three simulated sites publishing Sparkplug B, and a central host's view of them.

Run by `./dev fleet`. Each site is a real `plantctl run --simulate` of the example plant with its
own name, PLC ports, API port, state directory and database, plus an `uplink:` section; the
central side is the Sparkplug primary host, printing every site's state every 5 s (the central
service with its panel needs the `sparkplug` connector in the registry: docs/fleet.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from connectors.sparkplug.host import DiscoveredTag, SparkplugHost
from plantctl.db.local import LocalDatabase
from plantctl.paths import state_dir
from plantctl.samples import Sample
from plantctl.uplink.mosquitto import MosquittoBroker

SITES = ("site-a", "site-b", "site-c")
GROUP = "recyclers"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "plant.yaml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def site_plant(site: str, broker_url: str, directory: Path) -> Path:
    """The example plant as one site: its own name and PLC ports, publishing to the fleet broker."""
    text = EXAMPLE.read_text()
    text = text.replace("  name: Example lithium-recovery effluent plant", f"  name: Lithium recovery {site}", 1)
    text = text.replace("  site: demo", f"  site: {site}", 1)
    text = text.replace("opc.tcp://127.0.0.1:48400/", f"opc.tcp://127.0.0.1:{free_port()}/")
    text = text.replace("port: 50200", f"port: {free_port()}")
    text += f"\nuplink:\n  group_id: {GROUP}\n  edge_node_id: {site}\n  brokers: [\"{broker_url}\"]\n"
    path = directory / f"{site}.yaml"
    path.write_text(text)
    return path


class Counting:
    """The demo host's sink: how many live and historical values each site sent."""

    def __init__(self) -> None:
        self.live_counts: dict[str, int] = {}
        self.history_counts: dict[str, int] = {}

    def tags_born(self, tags: list[DiscoveredTag]) -> None:
        pass

    def live(self, samples: list[Sample]) -> None:
        for s in samples:
            site = s.tag.split("/")[1]
            self.live_counts[site] = self.live_counts.get(site, 0) + 1

    def history(self, samples: list[Sample]) -> None:
        for s in samples:
            site = s.tag.split("/")[1]
            self.history_counts[site] = self.history_counts.get(site, 0) + 1


async def show(host: SparkplugHost) -> None:
    while True:
        await asyncio.sleep(5)
        now = datetime.now(UTC)
        print(f"\n{now:%H:%M:%S}  fleet '{GROUP}' via the primary host '{host.host_id}'", flush=True)
        print(f"  {'site':8} {'state':8} {'last birth':10} {'data age':>9} {'live':>8} {'history':>8} "
              f"{'seq gaps':>8}", flush=True)
        for (_, node), st in sorted(host.nodes.items()):
            age = f"{(now - st.last_data).total_seconds():.1f} s" if st.last_data else "-"
            birth = f"{st.last_birth:%H:%M:%S}" if st.last_birth else "-"
            print(f"  {node:8} {'online' if st.online else 'OFFLINE':8} {birth:10} {age:>9} {st.live_values:>8} "
                  f"{st.historical_values:>8} {st.seq_gaps:>8}", flush=True)


async def main() -> None:
    base = state_dir() / "fleet-demo"
    base.mkdir(parents=True, exist_ok=True)
    broker = MosquittoBroker(base / "broker", free_port())
    broker.start()
    print(f"fleet demo: Mosquitto on {broker.url} (data in {broker.data})", flush=True)
    db = LocalDatabase().up()
    procs: list[asyncio.subprocess.Process] = []
    host = SparkplugHost("central", [GROUP], [("127.0.0.1", broker.port)], Counting())
    await host.start()
    try:
        for site in SITES:
            url = db.create_database(f"fleet_{site.replace('-', '_')}")
            plant = site_plant(site, broker.url, base)
            port = free_port()
            env = {**os.environ, "PLANTCTL_DATABASE_URL": url, "PLANTCTL_STATE_DIR": str(base / site)}
            log = (base / f"{site}.log").open("ab")
            procs.append(await asyncio.create_subprocess_exec(
                sys.executable, "-m", "plantctl.cli", "run", "--config", str(plant), "--simulate", "--port",
                str(port), env=env, stdout=log, stderr=log))
            print(f"  {site}: plantctl run --simulate, panel http://127.0.0.1:{port}, log {base / site}.log",
                  flush=True)
        print("Ctrl-C stops the demo. SIGKILL a site (kill -9 <pid>) to see it go offline: "
              + ", ".join(f"{s}={p.pid}" for s, p in zip(SITES, procs, strict=True)), flush=True)
        await show(host)
    finally:
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for p in procs:
            try:
                await asyncio.wait_for(p.wait(), max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                p.kill()
        await host.stop()
        broker.stop()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
