"""The optional process: section: checked with file and line; a default train derived from tag names."""

from __future__ import annotations

from pathlib import Path

import pytest

from api.routers.overview import process_of
from plantctl.config import ConfigError
from plantctl.config.process import UnitKind, derived_process
from plantctl.plantfile import load_plant

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "plant.yaml"


def test_unknown_instrument_pump_and_kind_are_reported_with_their_lines(tmp_path: Path) -> None:
    text = EXAMPLE.read_text()
    bad = text.replace("instruments: [AIT-301]", "instruments: [AIT-399]").replace(
        "pumps: [P-201, P-202]", "pumps: [P-201, P-209]")
    path = tmp_path / "plant.yaml"
    path.write_text(bad)
    with pytest.raises(ConfigError) as exc:
        load_plant(path)
    lines = bad.splitlines()
    got = {(i.line, i.message) for i in exc.value.issues}
    pump_line = next(n for n, s in enumerate(lines, 1) if "P-209" in s)
    inst_line = next(n for n, s in enumerate(lines, 1) if "AIT-399" in s)
    assert (pump_line, "no tag of pump 'P-209' (P-209.SPEED, P-209.RUNNING …)") in got
    assert (inst_line, "unknown tag 'AIT-399'") in got
    path.write_text(text.replace("kind: column", "kind: colum"))
    with pytest.raises(ConfigError) as exc:
        load_plant(path)
    assert any("kind" in str(i.loc) and "'column'" in i.message for i in exc.value.issues)


def test_default_train_from_tag_names_when_the_section_is_absent() -> None:
    plant = load_plant(EXAMPLE)
    assert process_of(plant).source == "plant file"
    derived = process_of(plant.model_copy(update={"process": None}))
    assert derived.source == "derived from tag names"
    names = [u.name for u in derived.units]
    assert names[:2] == ["100", "T-101"] and derived.units[1].kind == "tank"
    # units in loop-number order; pumps no loop drives (P-401/P-402 until PHC-401, P-501) on lines of their own
    numbered = [int(n.removeprefix("T-")) for n in names if not n.startswith("P-")]
    assert numbered == sorted(numbered)
    assert [n for n in names if n.startswith("P-")] == ["P-401", "P-402", "P-501"]
    shown = [i.tag for u in derived.units for i in u.instruments]
    assert sorted(shown) == sorted(t.name for t in plant.tags if "." not in t.name)  # each instrument once
    tank = derived.units[1]
    assert [i.tag for i in tank.instruments] == ["AIT-101", "CIT-101", "LIT-101", "TIT-101"]
    assert [p.name for p in tank.pumps] == ["P-201", "P-202"]  # they dose PHC-101, whose PV is AIT-101


def test_derived_train_of_another_plant() -> None:
    """A plant with a column and an undriven pump: units by loop number, the pump on its own line."""
    cfg = derived_process(["FIT-200", "LIT-210", "AIT-210", "AIT-400", "P-7.SPEED", "P-7.RUNNING"], {})
    assert [(u.name, u.kind, u.instruments, u.pumps) for u in cfg.units] == [
        ("200", UnitKind.LINE, ["FIT-200"], []), ("T-210", UnitKind.TANK, ["LIT-210", "AIT-210"], []),
        ("400", UnitKind.LINE, ["AIT-400"], []), ("P-7", UnitKind.LINE, [], ["P-7"])]
