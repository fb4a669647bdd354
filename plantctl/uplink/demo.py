"""The fleet demo: a Mosquitto, three simulated sites publishing Sparkplug B, and a central host's view of them.

Run by `./dev fleet`. Each site is a real `plantctl run --simulate` of the example plant with its
own name, PLC ports, API port, state directory and database, plus an `uplink:` section; the
central side is a `plantctl run` of a central plant file (a `sparkplug` source, alarms on the sites'
tags) with its panel, whose Fleet page shows the three sites (demo users, passwords printed at start).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from pathlib import Path

from plantctl.db.local import LocalDatabase
from plantctl.paths import state_dir
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
    text += (f"\nuplink:\n  group_id: {GROUP}\n  edge_node_id: {site}\n  brokers: [\"{broker_url}\"]\n"
             "  primary_host_id: central\n")
    path = directory / f"{site}.yaml"
    path.write_text(text)
    return path


CENTRAL = """plant:
  name: Fleet centre ({group})
sources:
  - kind: sparkplug
    name: fleet
    host_id: central
    groups: [{group}]
    brokers: ["{broker}"]
alarms:
""" + "".join(f"""  - name: {site.upper()}-PH-BAD
    tag: {GROUP}/{site}/AIT-101
    type: bad_quality
    priority: 2
    message: {site} discharge pH not Good (site offline or instrument fault)
""" for site in SITES)


async def stop_all(procs: list[asyncio.subprocess.Process]) -> None:
    for p in procs:
        with contextlib.suppress(ProcessLookupError):
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 20
    for p in procs:
        try:
            await asyncio.wait_for(p.wait(), max(0.1, deadline - time.monotonic()))
        except TimeoutError:
            p.kill()


async def main() -> None:
    base = state_dir() / "fleet-demo"
    base.mkdir(parents=True, exist_ok=True)
    broker = MosquittoBroker(base / "broker", free_port())
    broker.start()
    print(f"fleet demo: Mosquitto on {broker.url} (data in {broker.data})", flush=True)
    db = LocalDatabase().up()
    sites: list[asyncio.subprocess.Process] = []
    central: list[asyncio.subprocess.Process] = []
    try:
        central_file = base / "central.yaml"
        central_file.write_text(CENTRAL.format(group=GROUP, broker=broker.url))
        port = free_port()
        env = {**os.environ, "PLANTCTL_DATABASE_URL": db.create_database("fleet_central"),
               "PLANTCTL_STATE_DIR": str(base / "central"), "PLANTCTL_MODE": "demo"}
        # the central service's output (its demo users' passwords among it) goes to this terminal
        central.append(await asyncio.create_subprocess_exec(
            sys.executable, "-m", "plantctl.cli", "run", "--config", str(central_file), "--port", str(port), env=env))
        print(f"  central: plantctl run --config {central_file}, Fleet page http://127.0.0.1:{port}/#/fleet",
              flush=True)
        for site in SITES:
            url = db.create_database(f"fleet_{site.replace('-', '_')}")
            plant = site_plant(site, broker.url, base)
            site_port = free_port()
            env = {**os.environ, "PLANTCTL_DATABASE_URL": url, "PLANTCTL_STATE_DIR": str(base / site)}
            log = (base / f"{site}.log").open("ab")
            sites.append(await asyncio.create_subprocess_exec(
                sys.executable, "-m", "plantctl.cli", "run", "--config", str(plant), "--simulate", "--port",
                str(site_port), env=env, stdout=log, stderr=log))
            print(f"  {site}: plantctl run --simulate, panel http://127.0.0.1:{site_port}, log {base / site}.log",
                  flush=True)
        print("Ctrl-C stops the demo. SIGKILL a site (kill -9 <pid>) to see it go offline on the Fleet page: "
              + ", ".join(f"{s}={p.pid}" for s, p in zip(SITES, sites, strict=True)), flush=True)
        await asyncio.gather(*(p.wait() for p in central))
        print("the central service stopped; stopping the sites", flush=True)
    finally:
        await stop_all(sites)
        await stop_all(central)
        broker.stop()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
