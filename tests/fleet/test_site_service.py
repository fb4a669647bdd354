"""A real `plantctl run --simulate` with an `uplink:` section is a Sparkplug edge node on a real broker."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from plantctl.plantfile import load_plant
from plantctl.uplink.mosquitto import MosquittoBroker
from tests.fleet.recorder import recording
from tests.support import free_port

pytestmark = [pytest.mark.anyio, pytest.mark.db, pytest.mark.slow]


def site_plant(plant: Path, broker: MosquittoBroker, tmp_path: Path) -> Path:
    """The example plant (PLC on free ports) with an uplink to the test broker."""
    path = tmp_path / "site.yaml"
    path.write_text(plant.read_text() + f"""
uplink:
  group_id: recyclers
  edge_node_id: site-e2e
  brokers: ["{broker.url}"]
  publish_period_s: 0.2
""")
    return path


async def test_plantctl_run_births_every_plant_tag_and_publishes_data(
        broker: MosquittoBroker, plant_on_free_ports: Path, fresh_database: str, tmp_path: Path) -> None:
    plant_file = site_plant(plant_on_free_ports, broker, tmp_path)
    tags = load_plant(plant_file).tags
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLANTCTL_")}
    env.update(PLANTCTL_DATABASE_URL=fresh_database, PLANTCTL_STATE_DIR=str(tmp_path / "state"),
               PYTHONUNBUFFERED="1")
    async with recording(broker.port) as rec:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "plantctl.cli", "run", "--config", str(plant_file), "--simulate",
            "--port", str(free_port()), env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        try:
            await rec.wait_for(lambda s: len(rec.of("NBIRTH")) >= 1, within=60)
            birth = rec.of("NBIRTH")[0].decoded()
            by_name = {m.name: m for m in birth.metrics}
            assert {t.name for t in tags} <= set(by_name)
            for t in tags:
                m = by_name[t.name]
                assert m.properties["engUnit"] == t.unit
                assert (m.properties["engLow"], m.properties["engHigh"]) == (t.range.low, t.range.high)
            aliases = {m.alias for m in birth.metrics if m.alias is not None}
            await rec.wait_for(lambda s: sum(len(x.decoded().metrics) for x in rec.of("NDATA")) >= 2 * len(tags),
                               within=30)
            data = [m for x in rec.of("NDATA") for m in x.decoded().metrics]
            assert {m.alias for m in data} <= aliases
            assert any(m.quality.is_good for m in data)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()
