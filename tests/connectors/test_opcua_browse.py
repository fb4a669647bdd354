"""Browsing a real server: numeric variables with unit and range, rendered as valid tag stanzas."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import yaml

from connectors.opcua.browse import BrowseError, browse, render_tags_yaml
from connectors.opcua.config import opcua_address
from plantctl.plantfile import tag_config
from sim.facade import SimulatedPlc
from sim.facade.points import POINTS, UNITS
from sim.facade.runner import default_shelf_file
from tests.connectors.opcua_server import free_port, opcua_server

pytestmark = pytest.mark.anyio
PLANT_FILE = Path(__file__).resolve().parents[2] / "examples" / "plant.yaml"
SHELF = default_shelf_file(Path(tempfile.gettempdir()) / f"plantctl-sim-tests-{os.getuid()}")


async def test_browse_finds_numeric_variables_with_unit_range_and_access() -> None:
    async with opcua_server() as plc:
        found = {v.node_id: v for v in await browse(plc.endpoint, timeout_s=5)}
    ait = found["ns=2;s=Plant.T101.AIT-101"]
    assert ait.browse_path == "Objects/Plant/T101/AIT-101"
    assert (ait.data_type, ait.unit, ait.eu_range, ait.writable) == ("Float", "pH", (0.0, 14.0), False)
    assert found["ns=2;s=Plant.T101.P-201.SP"].writable
    assert found["ns=2;s=Plant.T101.P-201.RUN"].unit == "bool"
    assert "ns=2;s=Plant.T101.Mode" not in found, "strings are not tags"
    assert not any(v.browse_path.startswith("Objects/Server") for v in found.values())


async def test_emitted_config_is_valid_plant_file_tags() -> None:
    async with opcua_server() as plc:
        variables = await browse(plc.endpoint, timeout_s=5)
    text = render_tags_yaml(variables, "PLC-1-OPCUA")
    assert "server publishes no unit or range; set it" in text  # CIT-101 has no properties
    tags = [tag_config(t) for t in yaml.safe_load(text)["tags"]]
    by_name = {t.name: t for t in tags}
    assert by_name["AIT-101"].unit == "pH" and by_name["AIT-101"].range.high == 14.0
    assert opcua_address(by_name["AIT-101"]).node_id == "ns=2;s=Plant.T101.AIT-101"
    assert len(by_name) == len(tags), "names are unique"


async def test_browse_the_simulated_plc_finds_every_documented_point(tmp_path: Path) -> None:
    sim = SimulatedPlc(
        PLANT_FILE, opcua_port=0, modbus_port=0, state_dir=tmp_path, shelf_file=SHELF, watchdog_timeout_s=0
    )
    async with sim:
        found = {v.node_id: v for v in await browse(sim.opcua_endpoint, timeout_s=5)}
    for point in POINTS:
        v = found[point.node_id]
        assert v.browse_path == point.browse_path
        assert v.writable == point.writable, point.name
        if point.unit not in ("bool", "count"):
            assert v.unit == UNITS[point.unit].symbol and v.eu_range == (point.low, point.high), point.name


async def test_unreachable_server_is_a_clear_error() -> None:
    with pytest.raises(BrowseError, match="cannot open a session"):
        await browse(f"opc.tcp://127.0.0.1:{free_port()}/nobody", timeout_s=2)
