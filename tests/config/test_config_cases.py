"""Data-driven plant-file cases: each folder holds plant.yaml and the errors it must produce (line<TAB>text)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from plantctl.cli import app
from plantctl.config import ConfigError
from plantctl.plantfile import load_plant

CASES = sorted(p for p in (Path(__file__).parent / "cases").iterdir() if p.is_dir())


def _expected(case: Path) -> list[tuple[int, str]]:
    rows = []
    for line in (case / "expected.err").read_text().splitlines():
        if line.strip():
            lineno, text = line.split("\t", 1)
            rows.append((int(lineno), text))
    return rows


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_plant_file_reports_every_error_with_its_line(case: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_plant(case / "plant.yaml")
    got = [(i.line, i.message) for i in info.value.issues]
    expected = _expected(case)
    for lineno, text in expected:
        assert any(line == lineno and text in msg for line, msg in got), (
            f"expected line {lineno}: {text!r}; got {got}")
    assert len(got) == len(expected), f"unexpected extra errors: {got}"
    for issue in info.value.issues:
        assert str(issue).startswith(f"{case / 'plant.yaml'}:{issue.line}: ")


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_check_config_command_prints_errors_and_fails(case: Path) -> None:
    result = CliRunner().invoke(app, ["check-config", str(case / "plant.yaml")])
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    for lineno, text in _expected(case):
        assert f"plant.yaml:{lineno}: " in result.output and text in result.output


def test_example_plant_is_valid() -> None:
    result = CliRunner().invoke(app, ["check-config", "examples/plant.yaml"])
    assert result.exit_code == 0, result.output
    assert "OK" in result.output
    config = load_plant("examples/plant.yaml")
    assert all(t.unit for t in config.tags)
    assert {s.kind for s in config.sources} == {"opcua", "modbus"}


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["check-config", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1
    assert "cannot read file" in result.output and "Traceback" not in result.output


def test_credentials_only_by_environment_reference(tmp_path: Path) -> None:
    f = tmp_path / "p.yaml"
    f.write_text("plant: {name: t}\nsources:\n"
                 "  - {name: O, kind: opcua, endpoint: 'opc.tcp://h:1', password: secret}\n")
    with pytest.raises(ConfigError) as info:
        load_plant(f)
    assert [(i.line, i.message) for i in info.value.issues] == [(3, "unknown field 'password'")]
