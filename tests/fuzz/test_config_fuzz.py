"""Fuzz of the plant-file loader: whatever the file holds, the answer is a PlantConfig or a ConfigError.

Never a traceback: every issue names the file, a line (None only for a whole-file problem such as
unreadable YAML) and a plain, non-empty message.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sim.params  # noqa: F401 - registers the simulation section's check, as `plantctl run` does
from plantctl.config import ConfigError, PlantConfig
from plantctl.plantfile import load_plant

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "plant.yaml"
EXAMPLE_TEXT = EXAMPLE.read_text(encoding="utf-8")
EXAMPLE_DATA = yaml.safe_load(EXAMPLE_TEXT)
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                        HealthCheck.function_scoped_fixture])

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
    st.sampled_from(["opcua", "modbus", "holding_register", "float32", "SignAndEncrypt", "None", "pH",
                     "AIT-101", "P-201.SP", "", "~", "1e400", "0x10", "opc.tcp://h:99999/x"]),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)), max_leaves=20)


def check(path: Path, text: str) -> None:
    """The loader's whole contract on one file."""
    path.write_text(text, encoding="utf-8")
    try:
        config = load_plant(path)
    except ConfigError as err:
        assert err.issues, "a ConfigError without issues"
        lines = text.count("\n") + 2
        for issue in err.issues:
            assert issue.file == str(path), issue
            assert issue.line is not None or issue.loc == (), f"a located issue without a line: {issue}"
            assert issue.line is None or 1 <= issue.line <= lines, issue
            assert isinstance(issue.message, str) and issue.message.strip(), issue
            assert "Traceback" not in issue.message and "errors.pydantic.dev" not in issue.message, issue
            assert str(issue).startswith(str(path)), issue
    else:
        assert isinstance(config, PlantConfig)


def paths_of(data: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside the example's data."""
    out = [here]
    if isinstance(data, dict):
        for k, v in data.items():
            out.extend(paths_of(v, (*here, k)))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out.extend(paths_of(v, (*here, i)))
    return out


EXAMPLE_PATHS = paths_of(EXAMPLE_DATA)[1:]


def mutate(data: Any, path: tuple[Any, ...], how: str, value: Any) -> Any:
    data = copy.deepcopy(data)
    parent = data
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    if how == "replace":
        parent[last] = value
    elif how == "delete":
        del parent[last]
    elif how == "duplicate" and isinstance(parent, list):
        parent.insert(last, copy.deepcopy(parent[last]))
    elif how == "extra" and isinstance(parent[last], dict):
        parent[last][f"unknown_{abs(hash(str(value))) % 1000}"] = value
    else:
        parent[last] = value
    return data


@FUZZ
@given(value=values)
def test_random_structure(tmp_path: Path, value: Any) -> None:
    check(tmp_path / "plant.yaml", yaml.safe_dump(value, allow_unicode=True))


@FUZZ
@given(text=st.text(max_size=400))
def test_random_text(tmp_path: Path, text: str) -> None:
    check(tmp_path / "plant.yaml", text)


@FUZZ
@given(mutations=st.lists(st.tuples(st.sampled_from(EXAMPLE_PATHS),
                                    st.sampled_from(["replace", "delete", "duplicate", "extra"]), values),
                          min_size=1, max_size=4))
def test_structural_mutations_of_the_example(tmp_path: Path, mutations: list[tuple[Any, str, Any]]) -> None:
    data = EXAMPLE_DATA
    for path, how, value in mutations:
        try:
            data = mutate(data, path, how, value)
        except (KeyError, IndexError, TypeError):  # an earlier mutation removed or replaced the path
            continue
    check(tmp_path / "plant.yaml", yaml.safe_dump(data, allow_unicode=True, sort_keys=False))


@FUZZ
@given(edits=st.lists(st.tuples(st.integers(min_value=0, max_value=len(EXAMPLE_TEXT)),
                                st.integers(min_value=0, max_value=40), st.text(max_size=20)),
                      min_size=1, max_size=4))
def test_text_mutations_of_the_example(tmp_path: Path, edits: list[tuple[int, int, str]]) -> None:
    text = EXAMPLE_TEXT
    for at, cut, insert in edits:
        at = min(at, len(text))
        text = text[:at] + insert + text[at + cut:]
    check(tmp_path / "plant.yaml", text)


def test_the_example_itself_loads() -> None:
    """Control: the unmutated example is a valid plant, so the mutations are what the loader refuses."""
    assert isinstance(load_plant(EXAMPLE), PlantConfig)


def test_regression_a_source_named_by_a_list_is_an_issue_not_a_crash(tmp_path: Path) -> None:
    """Found by this fuzz: a list as a source's name made the tag check hash it (TypeError)."""
    data = copy.deepcopy(EXAMPLE_DATA)
    data["sources"][0]["name"] = ["OPC", "UA"]
    check(tmp_path / "plant.yaml", yaml.safe_dump(data, sort_keys=False))


def test_regression_an_empty_section_means_its_defaults(tmp_path: Path) -> None:
    """Found by this fuzz: `historian:` with nothing under it passed the checks, then raised ValidationError."""
    path = tmp_path / "plant.yaml"
    data = copy.deepcopy(EXAMPLE_DATA)
    data["historian"] = None
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    config = load_plant(path)
    assert config.historian == PlantConfig.model_fields["historian"].default
