"""Both sources against the simulated PLC-1 (sim/facade): every documented point, outages, security, writes."""

from __future__ import annotations

import asyncio
import math
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from connectors.modbus.config import ModbusSourceConfig
from connectors.modbus.source import ModbusSource
from connectors.opcua.config import OpcUaSourceConfig
from connectors.opcua.source import OpcUaSource
from plantctl.config.models import TagConfig
from plantctl.plantfile import tag_config
from plantctl.quality import Quality
from plantctl.samples import Sample
from sim.facade import SimulatedPlc
from sim.facade.points import HEARTBEAT, POINTS, Point
from sim.facade.runner import default_shelf_file
from sim.interface import SensorStatus
from tests.connectors.modbus_server import wait_until

pytestmark = pytest.mark.anyio

PLANT_FILE = Path(__file__).resolve().parents[2] / "examples" / "plant.yaml"
SHELF = default_shelf_file(Path(tempfile.gettempdir()) / f"plantctl-sim-tests-{os.getuid()}")
USER, PASSWORD = "operator", "pH-7.5-and-steady"
SCAN_S = 0.25


class Collector:
    def __init__(self) -> None:
        self.samples: list[Sample] = []

    def __call__(self, batch: list[Sample]) -> None:
        self.samples.extend(batch)

    def last(self, tag: str) -> Sample | None:
        return next((s for s in reversed(self.samples) if s.tag == tag), None)

    def all_in(self, tags: list[str], *qualities: Quality) -> bool:
        return all((s := self.last(t)) is not None and s.quality in qualities for t in tags)


def modbus_tags(prefix: str = "MB.", **over: Any) -> list[TagConfig]:
    return [
        tag_config(
            {
                "name": prefix + p.name,
                "unit": p.unit,
                "range": {"low": p.low, "high": p.high},
                "source": "SIM-MB",
                "scan_period_s": SCAN_S,
                "writable": p.writable,
                "modbus": {"table": p.table.value, "address": p.address, "type": p.type.value},
                **over.get(p.name, {}),
            }
        )
        for p in POINTS
    ]


def opcua_tags(prefix: str = "UA.", **over: Any) -> list[TagConfig]:
    return [
        tag_config(
            {
                "name": prefix + p.name,
                "unit": p.unit,
                "range": {"low": p.low, "high": p.high},
                "source": "SIM-UA",
                "scan_period_s": SCAN_S,
                "writable": p.writable,
                "opcua": {"node_id": p.node_id},
                **over.get(p.name, {}),
            }
        )
        for p in POINTS
    ]


def modbus_config(plc: SimulatedPlc, **kw: Any) -> ModbusSourceConfig:
    return ModbusSourceConfig.model_validate(
        {
            "kind": "modbus",
            "name": "SIM-MB",
            "host": plc.modbus_host,
            "port": plc.modbus_port,
            "unit_id": plc.modbus_unit_id,
            "timeout_s": 0.5,
            "reconnect_max_delay_s": 0.5,
            **kw,
        }
    )


def opcua_config(plc: SimulatedPlc, **kw: Any) -> OpcUaSourceConfig:
    return OpcUaSourceConfig.model_validate(
        {
            "kind": "opcua",
            "name": "SIM-UA",
            "endpoint": plc.opcua_endpoint,
            "connect_timeout_s": 3.0,
            "reconnect_max_delay_s": 0.5,
            **kw,
        }
    )


@pytest.fixture
async def plc(tmp_path: Path) -> AsyncIterator[SimulatedPlc]:
    sim = SimulatedPlc(
        PLANT_FILE, opcua_port=0, modbus_port=0, state_dir=tmp_path / "sim", shelf_file=SHELF, watchdog_timeout_s=0
    )
    async with sim:
        await sim.pause()  # frozen model: wire and model must agree exactly
        yield sim


def expected_values(plc: SimulatedPlc) -> dict[str, tuple[float, SensorStatus]]:
    out = {name: (r.value, r.status) for name, r in plc.model.readings().items()}
    out.update({name: (v, SensorStatus.GOOD) for name, v in plc.model.commanded().items()})
    return out


def assert_matches(point: Point, sample: Sample | None, expected: tuple[float, SensorStatus]) -> None:
    assert sample is not None, point.name
    value, status = expected
    if status is SensorStatus.FAILED:
        assert sample.quality.is_bad, (point.name, sample)
        return
    assert not sample.quality.is_bad, (point.name, sample)
    # the wire carries float32: compare within its precision
    assert math.isclose(sample.value, value, rel_tol=2e-7, abs_tol=1e-6), (point.name, sample.value, value)


async def test_every_documented_point_reads_as_the_model_holds_it(plc: SimulatedPlc) -> None:
    got = Collector()
    mb = ModbusSource(modbus_config(plc), modbus_tags(), got)
    ua_source = OpcUaSource(opcua_config(plc), opcua_tags(), got)
    await mb.start()
    await ua_source.start()
    try:
        names = [f"MB.{p.name}" for p in POINTS] + [f"UA.{p.name}" for p in POINTS]
        await wait_until(lambda: all(got.last(n) for n in names), 8, "every point from both servers")
        await asyncio.sleep(2 * SCAN_S)
    finally:
        await mb.stop()
        await ua_source.stop()
    expected = expected_values(plc)
    for point in POINTS:
        if point.name == HEARTBEAT:  # the PLC's own register, not a model point
            assert got.last(f"MB.{HEARTBEAT}").quality.is_good  # type: ignore[union-attr]
            continue
        assert_matches(point, got.last(f"MB.{point.name}"), expected[point.name])
        assert_matches(point, got.last(f"UA.{point.name}"), expected[point.name])
    # IR 0..57, coils, DIs, and HR 0..17 split by the PLC's answer (illegal address over the unmapped 4..9
    # and 11) into 0..3, 10, 12..17 … see plan
    assert mb.health().request_plan_size == 6
    assert mb.health().error_count == 0


@pytest.mark.parametrize("server", ["modbus", "opcua"])
async def test_outage_of_one_server_turns_its_tags_bad_and_recovers(plc: SimulatedPlc, server: str) -> None:
    plc.resume()
    got = Collector()
    mb = ModbusSource(modbus_config(plc), modbus_tags(), got)
    ua_source = OpcUaSource(opcua_config(plc), opcua_tags(), got)
    down_prefix = "MB." if server == "modbus" else "UA."
    down = [f"{down_prefix}{p.name}" for p in POINTS]
    healthy = [("UA." if server == "modbus" else "MB.") + p.name for p in POINTS]
    await mb.start()
    await ua_source.start()
    loop = asyncio.get_running_loop()
    try:
        await wait_until(lambda: all(got.last(n) for n in down + healthy), 8, "first values")
        stop = asyncio.create_task(plc.stop_server(server))  # type: ignore[arg-type]
        killed = loop.time()
        await wait_until(
            lambda: got.all_in(down, Quality.BAD_NOT_CONNECTED),
            2 * SCAN_S + 0.3,
            "every tag of the lost server Bad within two scan periods",
        )
        assert loop.time() - killed <= 2 * SCAN_S + 0.3
        await stop
        mark = len(got.samples)
        await asyncio.sleep(1.5)
        during = [s for s in got.samples[mark:] if s.tag in down]
        assert not any(s.quality.is_good for s in during), "nothing Good during the outage"
        assert all(got.last(t).reason for t in down)  # type: ignore[union-attr]
        assert not got.all_in(healthy, Quality.BAD_NOT_CONNECTED), "the other server is unaffected"

        await plc.start_server(server)  # type: ignore[arg-type]
        restarted = loop.time()
        await wait_until(
            lambda: (
                not any(
                    got.last(t).quality is Quality.BAD_NOT_CONNECTED  # type: ignore[union-attr]
                    for t in down
                )
            ),
            5,
            "acquisition resumes by itself",
        )
        assert loop.time() - restarted < 5
        if server == "opcua":  # subscriptions restored: a new data change arrives
            before = len(got.samples)
            await wait_until(
                lambda: any(s.tag == "UA.FIT-100" and s.quality.is_good for s in got.samples[before:]),
                5,
                "new notifications",
            )
    finally:
        await mb.stop()
        await ua_source.stop()


async def test_writes_through_the_sim_accept_read_back_and_refuse(plc: SimulatedPlc) -> None:
    # our range for SP is wider than the PLC's 0..100 %, so 150 passes the local check and
    # the PLC itself must refuse it
    wide = {"P-201.SP": {"range": {"low": -50, "high": 200}}}
    mb = ModbusSource(modbus_config(plc), modbus_tags(**wide), Collector())
    ua_source = OpcUaSource(opcua_config(plc), opcua_tags(**wide), Collector())
    await mb.start()
    await ua_source.start()
    try:
        await wait_until(lambda: mb.health().connected and ua_source.health().connected, 8, "connected")
        ok = await mb.write("MB.P-201.SP", 37.5)
        assert ok.accepted and ok.value_read_back == 37.5, ok
        assert plc.model.commanded()["P-201.SP"] == 37.5
        ok = await ua_source.write("UA.P-202.SP", 12.25)
        assert ok.accepted and ok.value_read_back == 12.25, ok
        assert plc.model.commanded()["P-202.SP"] == 12.25
        run = await mb.write("MB.P-201.RUN", 1)
        assert run.accepted and run.value_read_back == 1.0 and plc.model.commanded()["P-201.RUN"] == 1.0

        local = await ua_source.write("UA.P-202.SP", 101)
        assert not local.accepted and "refused before sending" in local.reason

        by_plc = await mb.write("MB.P-201.SP", 150)
        assert not by_plc.accepted
        assert by_plc.reason.startswith("device refused: Modbus exception 3 (illegal data value)"), by_plc
        by_plc = await ua_source.write("UA.P-201.SP", 150)
        assert not by_plc.accepted and by_plc.reason.startswith("device refused: Bad"), by_plc
        assert plc.model.commanded()["P-201.SP"] == 37.5
    finally:
        await mb.stop()
        await ua_source.stop()


async def test_heartbeat_keeps_the_plc_watchdog_quiet_until_we_stop(tmp_path: Path) -> None:
    sim = SimulatedPlc(
        PLANT_FILE, opcua_port=0, modbus_port=0, state_dir=tmp_path / "sim", shelf_file=SHELF, watchdog_timeout_s=1.0
    )
    async with sim:
        cfg = modbus_config(sim, heartbeat_tag=f"MB.{HEARTBEAT}", heartbeat_period_s=0.2)
        mb = ModbusSource(cfg, modbus_tags(), Collector())
        await mb.start()
        try:
            await wait_until(lambda: sim.watchdog.armed, 5, "watchdog armed by our heartbeat")
            await asyncio.sleep(2.0)
            assert not sim.watchdog.tripped
        finally:
            await mb.stop()
        await wait_until(lambda: sim.watchdog.tripped, 3, "watchdog trips once we are gone")


async def test_secured_session_and_clear_security_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIM_UA_USER", USER)
    monkeypatch.setenv("SIM_UA_PASSWORD", PASSWORD)
    sim = SimulatedPlc(
        PLANT_FILE,
        opcua_port=0,
        modbus_port=0,
        state_dir=tmp_path / "sim",
        shelf_file=SHELF,
        watchdog_timeout_s=0,
        require_security=True,
        users={USER: PASSWORD},
    )
    async with sim:
        await sim.pause()
        server_cert = tmp_path / "sim" / "pki" / "server-cert.der"
        secured = {
            "security": {"mode": "SignAndEncrypt", "policy": "Basic256Sha256"},
            "username_env": "SIM_UA_USER",
            "password_env": "SIM_UA_PASSWORD",
        }

        # untrusted server certificate: a clear error within the connect timeout
        got = Collector()
        source = OpcUaSource(opcua_config(sim, pki_dir=str(tmp_path / "pki-a"), **secured), opcua_tags(), got)
        await source.start()
        try:
            await wait_until(lambda: source.health().last_error is not None, 3.5, "untrusted error")
            assert "not trusted" in (source.health().last_error or "")
            assert not any(s.quality.is_good for s in got.samples)
        finally:
            await source.stop()

        pki = tmp_path / "pki-b"
        (pki / "trusted").mkdir(parents=True)
        (pki / "trusted" / "sim.der").write_bytes(server_cert.read_bytes())

        # wrong password
        monkeypatch.setenv("SIM_UA_PASSWORD", "guess")
        source = OpcUaSource(opcua_config(sim, pki_dir=str(pki), **secured), opcua_tags(), Collector())
        await source.start()
        try:
            await wait_until(lambda: source.health().last_error is not None, 3.5, "password error")
            assert "rejected the user name or password" in (source.health().last_error or "")
        finally:
            await source.stop()

        # right password, trusted certificate
        monkeypatch.setenv("SIM_UA_PASSWORD", PASSWORD)
        got = Collector()
        source = OpcUaSource(opcua_config(sim, pki_dir=str(pki), **secured), opcua_tags(), got)
        await source.start()
        try:
            await wait_until(
                lambda: got.all_in(
                    ["UA.AIT-101"], Quality.GOOD, Quality.UNCERTAIN, Quality.UNCERTAIN_SENSOR_NOT_ACCURATE
                ),
                8,
                "secured values",
            )
            ok = await source.write("UA.P-201.SP", 21.0)
            assert ok.accepted and sim.model.commanded()["P-201.SP"] == 21.0
        finally:
            await source.stop()


async def test_the_example_plant_file_runs_against_the_sim_as_shipped(tmp_path: Path) -> None:
    from connectors.registry import create_sources
    from plantctl.plantfile import load_plant

    plant = load_plant(PLANT_FILE)
    sim = SimulatedPlc(
        PLANT_FILE, opcua_port=0, modbus_port=0, state_dir=tmp_path / "sim", shelf_file=SHELF, watchdog_timeout_s=3.0
    )
    async with sim:
        # only the ports differ from the file (tests must not take the fixed ones)
        sources = [
            s.model_copy(update={"endpoint": sim.opcua_endpoint})
            if s.kind == "opcua"
            else s.model_copy(update={"port": sim.modbus_port})
            for s in plant.sources
        ]
        plant = plant.model_copy(update={"sources": sources})
        got = Collector()
        running = create_sources(plant, got)
        for source in running:
            await source.start()
        try:
            names = [t.name for t in plant.tags]
            await wait_until(lambda: all(got.last(n) is not None for n in names), 10, "every tag of the file")
            await asyncio.sleep(4.0)  # longer than the PLC watchdog: our heartbeats keep it quiet
            assert not sim.watchdog.tripped
            bad = {n: got.last(n).reason for n in names if got.last(n).quality.is_bad}  # type: ignore[union-attr]
            assert not bad, bad
            assert all(s.health().connected and s.health().error_count == 0 for s in running)
        finally:
            for source in running:
                await source.stop()


async def test_a_failed_sensor_is_bad_through_both_protocols_and_recovers(plc: SimulatedPlc) -> None:
    plc.resume()
    got = Collector()
    deadband = {"AIT-101": {"deadband": 0.005}}  # as in the example plant
    mb = ModbusSource(modbus_config(plc), modbus_tags(**deadband), got)
    ua_source = OpcUaSource(opcua_config(plc), opcua_tags(**deadband), got)
    await mb.start()
    await ua_source.start()
    try:
        await wait_until(lambda: got.all_in(["MB.AIT-101", "UA.AIT-101"], Quality.GOOD), 8, "good pH")
        plc.model.sensors["AIT-101"].fail()  # type: ignore[attr-defined]
        await wait_until(
            lambda: (
                got.all_in(["UA.AIT-101"], Quality.BAD_SENSOR_FAILURE)
                and got.all_in(["MB.AIT-101"], Quality.BAD_DEVICE_FAILURE)
            ),
            3,
            "Bad pH",
        )
        assert got.last("UA.AIT-101").reason.startswith("BadSensorFailure")  # type: ignore[union-attr]
        assert got.last("MB.AIT-101").reason  # type: ignore[union-attr]
        assert got.all_in(["MB.CIT-101", "UA.CIT-101"], Quality.GOOD), "only the failed sensor"
        plc.model.sensors["AIT-101"].recover()  # type: ignore[attr-defined]
        await wait_until(lambda: got.all_in(["MB.AIT-101", "UA.AIT-101"], Quality.GOOD), 5, "recovered")
    finally:
        await mb.stop()
        await ua_source.stop()
