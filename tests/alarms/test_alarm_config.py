"""Alarm fields of the plant file: suppression, re-alarm, latching, shelve limits — checked with their lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from plantctl.config import ConfigError
from plantctl.config.models import PlantConfig
from plantctl.plantfile import load_plant

HEAD = """\
plant: {name: test}
sources:
  - {kind: modbus, name: PLC-1, host: 127.0.0.1}
tags:
  - {name: CIT-101, unit: mS/cm, range: {low: 0, high: 200}, source: PLC-1,
     modbus: {table: input_register, address: 0}}
  - {name: LIT-101, unit: "%", range: {low: 0, high: 100}, source: PLC-1,
     modbus: {table: input_register, address: 2}}
alarms:
"""


def _load(tmp_path: Path, alarms: str) -> PlantConfig:
    path = tmp_path / "plant.yaml"
    path.write_text(HEAD + alarms)
    return load_plant(path)


def _issues(tmp_path: Path, alarms: str) -> list[tuple[int | None, str]]:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, alarms)
    return [(i.line, i.message) for i in info.value.issues]


def test_the_new_fields_load(tmp_path: Path) -> None:
    plant = _load(tmp_path, """\
  - name: CIT-101.H
    tag: CIT-101
    type: H
    limit: 150
    re_alarm_s: 1800
    latching: true
    shelve_max_s: 3600
    suppress_when: {tag: LIT-101, below: 15}
""")
    [a] = plant.alarms
    assert a.suppress_when is not None
    assert (a.re_alarm_s, a.latching, a.shelve_max_s) == (1800, True, 3600)
    assert (a.suppress_when.tag, a.suppress_when.below, a.suppress_when.above) == ("LIT-101", 15, None)


def test_an_unknown_suppression_tag_is_named_with_its_line(tmp_path: Path) -> None:
    got = _issues(tmp_path, """\
  - name: CIT-101.H
    tag: CIT-101
    type: H
    limit: 150
    suppress_when:
      tag: LIT-999
      below: 15
""")
    assert got == [(15, "unknown tag 'LIT-999'")]


@pytest.mark.parametrize(("alarm", "line", "text"), [
    ("{name: A, tag: CIT-101, type: H, limit: 1, suppress_when: {tag: LIT-101}}", 10,
     "suppress_when needs below: or above:"),
    ("{name: A, tag: CIT-101, type: H, limit: 1, re_alarm_s: 0}", 10, "greater than 0"),
    ("{name: A, tag: CIT-101, type: rate_of_change, limit: 2, deadband: 2}", 10, "must be below the limit"),
    ("{name: A, tag: CIT-101, type: H, limit: 1, shelve_max_s: 999999}", 10, "less than or equal to 604800"),
    ("{name: A, tag: CIT-101, type: H, limit: 1, shelve_forever: true}", 10, "unknown field 'shelve_forever'"),
])
def test_bad_alarm_fields_are_refused_with_a_reason(tmp_path: Path, alarm: str, line: int, text: str) -> None:
    got = _issues(tmp_path, f"  - {alarm}\n")
    assert len(got) == 1 and got[0][0] == line and text in got[0][1], got
