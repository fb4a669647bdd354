"""OPC UA security None is refused for an endpoint off this host unless the plant file says it is a lab."""

from __future__ import annotations

from pathlib import Path

import pytest

from plantctl.config import ConfigError
from plantctl.plantfile import load_plant

PLANT = """plant: {{name: T-101}}
sources:
  - name: PLC-1
    kind: opcua
    endpoint: {endpoint}
{extra}tags: []
"""


def write(tmp_path: Path, endpoint: str, extra: str = "") -> Path:
    path = tmp_path / "plant.yaml"
    path.write_text(PLANT.format(endpoint=endpoint, extra=extra), encoding="utf-8")
    return path


@pytest.mark.parametrize("endpoint", ["opc.tcp://10.20.0.5:4840/plc", "opc.tcp://plc-t101.plant.local:4840",
                                      "opc.tcp://[fd00::5]:4840"])
def test_security_none_to_another_host_is_a_located_config_error(tmp_path: Path, endpoint: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_plant(write(tmp_path, endpoint))
    [issue] = info.value.issues
    assert issue.line == 3 and issue.loc[:2] == ("sources", 0)
    assert "security None to" in issue.message and "allow_insecure: true" in issue.message
    assert "SignAndEncrypt" in issue.message


def test_security_none_is_also_refused_when_written_out(tmp_path: Path) -> None:
    extra = "    security: {mode: None, policy: None}\n"
    with pytest.raises(ConfigError, match=r"security None to 10\.20\.0\.5"):
        load_plant(write(tmp_path, "opc.tcp://10.20.0.5:4840", extra))


def test_a_lab_may_allow_it_explicitly(tmp_path: Path) -> None:
    config = load_plant(write(tmp_path, "opc.tcp://10.20.0.5:4840", "    allow_insecure: true\n"))
    assert config.sources[0].allow_insecure is True  # type: ignore[union-attr]


@pytest.mark.parametrize("endpoint", ["opc.tcp://127.0.0.1:48400/plantctl/sim", "opc.tcp://localhost:4840",
                                      "opc.tcp://[::1]:4840", "opc.tcp://127.0.0.2:4840"])
def test_loopback_needs_no_permission(tmp_path: Path, endpoint: str) -> None:
    assert load_plant(write(tmp_path, endpoint)).sources[0].name == "PLC-1"


def test_sign_and_encrypt_to_another_host_is_fine(tmp_path: Path) -> None:
    extra = "    security: {mode: SignAndEncrypt, policy: Basic256Sha256}\n"
    assert load_plant(write(tmp_path, "opc.tcp://10.20.0.5:4840", extra)).sources[0].name == "PLC-1"
