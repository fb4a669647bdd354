"""Simulated PLC → both connectors → runtime → historian: stored values are the PLC's, qualities follow its faults."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import psycopg
import pytest

from plantctl.historian.service import Historian
from plantctl.plantfile import load_plant
from plantctl.quality import Quality
from plantctl.runtime.service import PlantRuntime
from sim.facade.runner import SimulatedPlc
from sim.interface import SensorStatus

pytestmark = [pytest.mark.db, pytest.mark.anyio]

FLOAT32_REL = 2.0**-23  # one unit in the last place of a float32 mantissa


async def _until(cond: object, timeout_s: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not cond():  # type: ignore[operator]
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def _stored_last(url: str) -> dict[str, tuple[float, int]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT DISTINCT ON (t.name) t.name, s.value, s.quality FROM samples s JOIN tags t ON t.id = s.tag_id "
            "ORDER BY t.name, s.ts DESC").fetchall()
    return {name: (value, quality) for name, value, quality in rows}


async def test_stored_values_match_the_plc_and_quality_follows_a_sensor_failure(
        tmp_path: Path, fresh_database: str, plant_on_free_ports: Path) -> None:
    config = load_plant(plant_on_free_ports)
    async with SimulatedPlc(plant_on_free_ports, speed=1.0, state_dir=tmp_path / "sim") as plc:
        historian = Historian(fresh_database, config.historian, config.tags, state_dir=tmp_path / "svc")
        runtime = PlantRuntime(config, state_dir=tmp_path / "svc", historian=historian)
        await runtime.start()
        try:
            await _until(runtime.ready, 20, "both sources connected")
            measured = [t.name for t in config.tags if not t.writable]
            await _until(lambda: all(runtime.live.get(n) is not None for n in measured), 20, "a value of every tag")
            await plc.pause()  # the PLC's values stand still from here
            truth = plc.model.readings()
            await asyncio.sleep(3.5)  # more than two scan periods: the last stored value is the frozen one
            await _until(lambda: (st := historian.stats()).open_rows == 0 and st.queue_batches == 0, 10,
                         "the historian to commit what it holds")
            stored = await asyncio.to_thread(_stored_last, fresh_database)

            plc.model.sensors["AIT-101"].fail()  # type: ignore[attr-defined]
            await plc.advance(1.0)
            assert plc.model.readings()["AIT-101"].status is SensorStatus.FAILED
            await _until(lambda: (s := runtime.live.get("AIT-101")) is not None and s.quality.is_bad, 10,
                         "the failure to reach the service")
        finally:
            await runtime.stop()  # the historian flushes everything it acknowledged

    compared = 0
    for name in measured:
        if name not in truth:
            continue
        value, quality = stored[name]
        expected = truth[name].value
        assert quality == Quality.GOOD, f"{name} stored with quality {quality:#x}"
        assert math.isclose(value, expected, rel_tol=2 * FLOAT32_REL, abs_tol=1e-6), (name, value, expected)
        compared += 1
    assert compared >= 9  # every instrument and pump feedback of the example, over OPC UA and Modbus
    value, quality = _stored_last(fresh_database)["AIT-101"]
    assert quality == Quality.BAD_SENSOR_FAILURE
    with psycopg.connect(fresh_database) as conn:
        good_after_failure = conn.execute(
            "SELECT count(*) FROM samples s JOIN tags t ON t.id = s.tag_id WHERE t.name = 'AIT-101' "
            "AND s.quality = 192 AND s.ts > (SELECT max(ts) FROM samples s2 JOIN tags t2 ON t2.id = s2.tag_id "
            "WHERE t2.name = 'AIT-101' AND s2.quality <> 192)").fetchone()
    assert good_after_failure == (0,)
