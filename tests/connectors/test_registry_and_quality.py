"""The registry builds every kind in the example plant; OPC UA status codes map onto our quality."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from asyncua.ua.status_codes import StatusCodes

from connectors.base import Source
from connectors.modbus.source import ModbusSource
from connectors.opcua.quality import map_status
from connectors.opcua.source import OpcUaSource
from connectors.registry import create_sources
from plantctl.plantfile import load_plant
from plantctl.quality import Quality

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "plant.yaml"


def test_example_plant_builds_one_source_per_entry_with_its_own_tags() -> None:
    plant = load_plant(EXAMPLE)
    sources = create_sources(plant, lambda batch: None)
    assert [type(s) for s in sources] == [OpcUaSource, ModbusSource]
    assert all(isinstance(s, Source) for s in sources)
    modbus = sources[1]
    assert isinstance(modbus, ModbusSource)
    planned = {t.name for g in modbus.groups for r in g.requests for t in r.tags}
    assert planned == {t.name for t in plant.tags_of("PLC-1-MODBUS")}
    # 1 s: input registers 0..17 (holes of 6 ≤ gap fill 10), holding 0..3, coils 0..1,
    # discrete inputs 0..3; 5 s: the watchdog register 10 → five reads in all
    assert modbus.health().request_plan_size == 5


@pytest.mark.parametrize(
    ("code", "quality", "reason_start"),
    [
        (StatusCodes.Good, Quality.GOOD, ""),
        (StatusCodes.GoodLocalOverride, Quality.GOOD_LOCAL_OVERRIDE, "GoodLocalOverride"),
        (StatusCodes.UncertainLastUsableValue, Quality.UNCERTAIN_LAST_USABLE, "UncertainLastUsableValue"),
        (StatusCodes.UncertainEngineeringUnitsExceeded, Quality.UNCERTAIN_EU_EXCEEDED, "Uncertain"),
        (StatusCodes.UncertainInitialValue, Quality.UNCERTAIN, "UncertainInitialValue"),
        (StatusCodes.BadSensorFailure, Quality.BAD_SENSOR_FAILURE, "BadSensorFailure"),
        (StatusCodes.BadCommunicationError, Quality.BAD_COMM_FAILURE, "BadCommunicationError"),
        (StatusCodes.BadNotConnected, Quality.BAD_COMM_FAILURE, "BadNotConnected"),
        (StatusCodes.BadOutOfService, Quality.BAD_OUT_OF_SERVICE, "BadOutOfService"),
        (StatusCodes.BadOutOfRange, Quality.BAD, "BadOutOfRange"),
        (StatusCodes.BadSensorFailure | 0x0400, Quality.BAD_SENSOR_FAILURE, "BadSensorFailure"),  # info bits
    ],
)
def test_status_codes_map_to_quality_keeping_the_reason(code: int, quality: Quality, reason_start: str) -> None:
    got, reason = map_status(code)
    assert got is quality
    assert reason.startswith(reason_start)


def test_the_simulate_port_check_asks_each_protocol_where_its_device_listens() -> None:
    from connectors.registry import listen_endpoints
    from plantctl.serve import PortBusyError, ServeOptions, _check_ports
    from tests.support import free_port

    plant = load_plant(EXAMPLE)
    assert [(e.host, e.port, e.what) for e in listen_endpoints(plant)] == [
        ("127.0.0.1", 48400, "OPC UA (PLC-1-OPCUA)"), ("127.0.0.1", 50200, "Modbus TCP (PLC-1-MODBUS)")]
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        elsewhere = {"modbus": {"port": port}, "opcua": {"endpoint": f"opc.tcp://127.0.0.1:{free_port()}/x"}}
        moved = plant.model_copy(update={"sources": [s.model_copy(update=elsewhere[s.kind]) for s in plant.sources]})
        with pytest.raises(PortBusyError, match=f"port {port} on 127.0.0.1 for the simulated PLC's Modbus TCP"):
            _check_ports(ServeOptions(EXAMPLE, port=free_port(), simulate=True), moved)


def test_a_dumped_plant_loads_again_with_each_address_under_its_kind() -> None:
    from plantctl.plantfile import plant_config

    plant = load_plant(EXAMPLE)
    dumped = plant.model_dump(mode="json", exclude_none=True)
    assert {k for t in dumped["tags"] for k in t} & {"opcua", "modbus"} == {"opcua", "modbus"}
    assert not any("address" in t and isinstance(t["address"], dict) for t in dumped["tags"])
    assert plant_config(dumped) == plant
