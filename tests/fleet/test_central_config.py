"""The central plant file: a sparkplug source, alarms on the sites' tags; the names a site's tags take are kept
for them ('/' is refused in a plant file's own tag names, so a local tag can never collide with a site's)."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.sparkplug.config import SparkplugSourceConfig
from plantctl.config import ConfigError
from plantctl.plantfile import load_plant
from tests.fleet.central import central_plant

OPCUA_SOURCE = """
  - kind: opcua
    name: PLC-1
    endpoint: opc.tcp://127.0.0.1:4840
"""


def issues_of(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_plant(path)
    return str(info.value)


def test_a_central_plant_file_loads_with_alarms_on_site_tags(tmp_path: Path) -> None:
    plant = load_plant(central_plant(tmp_path / "c.yaml", "mqtt://127.0.0.1:1883"))
    src = plant.sources[0]
    assert isinstance(src, SparkplugSourceConfig) and src.groups == ["recyclers"] and src.allow == ["*"]
    assert [a.tag for a in plant.alarms] == ["recyclers/site-a/AIT-101"] * 2
    assert plant.tags == []


def test_a_slash_in_a_plant_file_tag_name_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(f"""plant: {{name: p}}
sources:{OPCUA_SOURCE}
tags:
  - name: recyclers/site-a/AIT-101
    unit: pH
    range: {{low: 0, high: 14}}
    source: PLC-1
    opcua: {{node_id: "ns=2;s=AIT-101"}}
""")
    text = issues_of(path)
    assert "p.yaml:8: tags.0.name" in text and "'/' is kept for the tags a fleet source discovers" in text


def test_an_alarm_on_a_site_tag_needs_a_discovering_source(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(f"""plant: {{name: p}}
sources:{OPCUA_SOURCE}
alarms:
  - {{name: A-H, tag: recyclers/site-a/AIT-101, type: H, limit: 9}}
""")
    assert "comes from a source that discovers tags (kind sparkplug), and this plant file has none" in issues_of(path)


def test_tags_listed_under_a_sparkplug_source_are_refused(tmp_path: Path) -> None:
    path = central_plant(tmp_path / "c.yaml", "mqtt://127.0.0.1:1883", extra="""tags:
  - name: AIT-101
    unit: pH
    range: {low: 0, high: 14}
    source: fleet
    sparkplug: {group: recyclers, node: site-a, metric: AIT-101}
""")
    assert "whose tags are discovered from the sites' births" in issues_of(path)


def test_a_sparkplug_source_takes_no_heartbeat_and_no_tls_yet(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    central_plant(path, "mqtts://broker.example:8883")
    assert "speaks mqtt:// only so far" in issues_of(path)
