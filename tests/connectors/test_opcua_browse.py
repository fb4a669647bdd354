"""Browsing a real server: numeric variables with unit and range, rendered as valid tag stanzas."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from connectors.opcua.browse import BrowseError, browse, render_tags_yaml
from connectors.opcua.config import opcua_address
from plantctl.cli import app
from plantctl.plantfile import tag_config
from sim.facade import SimulatedPlc
from sim.facade.points import POINTS
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
    assert "# TODO Objects/Plant/T101/CIT-101 (Double): set unit" in text  # CIT-101 has no properties
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
            assert v.unit == point.unit and v.eu_range == (point.low, point.high), point.name  # mapped to ours


async def test_unreachable_server_is_a_clear_error() -> None:
    with pytest.raises(BrowseError, match="cannot open a session"):
        await browse(f"opc.tcp://127.0.0.1:{free_port()}/nobody", timeout_s=2)


async def test_emitted_config_is_safe_to_paste_and_its_guesses_are_check_config_warnings(tmp_path: Path) -> None:
    """Issue 17 problem 3: read-only unless asked; a guessed unit or range is a warning, not silent."""
    async with opcua_server() as plc:
        variables = await browse(plc.endpoint, timeout_s=5)
    assert any(v.writable for v in variables), "the test PLC offers writable nodes"
    safe = {t["name"]: t for t in yaml.safe_load(render_tags_yaml(variables, "PLC-1-OPCUA"))["tags"]}
    assert not any(t["writable"] for t in safe.values())
    asked = {t["name"]: t for t in yaml.safe_load(render_tags_yaml(variables, "PLC-1-OPCUA", "P-201.*"))["tags"]}
    assert [n for n, t in asked.items() if t["writable"]] == ["P-201.SP", "P-201.RUN"]
    plant = tmp_path / "plant.yaml"
    plant.write_text("plant: {name: t}\nsources:\n  - {name: PLC-1-OPCUA, kind: opcua, endpoint: "
                     f"'{plc.endpoint}'}}\n" + render_tags_yaml(variables, "PLC-1-OPCUA"))
    result = CliRunner().invoke(app, ["check-config", str(plant)])
    assert result.exit_code == 0, result.output
    assert "warning: TODO Objects/Plant/T101/CIT-101 (Double): set unit" in result.output
    assert "warning: unit unknown" in result.output


async def test_browse_of_a_secured_server_lists_the_endpoints_it_offers(tmp_path: Path) -> None:
    """Issue 17 problem 2: 'No matching endpoints' comes with what the server does offer."""
    async with opcua_server(pki=tmp_path / "server-pki") as plc:
        with pytest.raises(BrowseError) as info:
            await browse(plc.endpoint, timeout_s=5)
    message = str(info.value)
    assert "No matching endpoints" in message
    assert "mode SignAndEncrypt, policy Basic256Sha256" in message and "mode Sign, policy Basic256Sha256" in message
    assert "browse --config" in message
