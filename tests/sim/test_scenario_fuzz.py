"""Whatever an engineer writes, a scenario file loads or fails with located errors, never a traceback."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from plantctl.config import ConfigError
from sim.scenario import Scenario, load_scenario

_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-5, 100000), st.floats(allow_nan=True),
                     st.sampled_from(["06:00", "25:61", "pattern", "AIT-101", "P-201", "modbus", "", "x"]))
_KEYS = st.sampled_from(["at", "influent", "shock_load", "sensor", "pump", "comms_drop", "ramp_s", "fail",
                         "recover", "stuck", "drift_per_h", "offset", "trip", "reset", "ph", "flow_m3_h",
                         "duration_s", "server", "li_mg_l", "bogus"])
_VALUES: st.SearchStrategy[Any] = st.recursive(
    _SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_KEYS, inner, max_size=4)),
    max_leaves=8)


@settings(max_examples=150, deadline=None)
@given(header=st.dictionaries(st.sampled_from(["scenario", "duration_h", "seed", "description", "colour"]),
                              _SCALARS, max_size=5),
       events=st.one_of(_SCALARS, st.lists(st.dictionaries(_KEYS, _VALUES, max_size=4), max_size=5)))
def test_any_document_loads_or_fails_with_lines(header: dict[str, Any], events: Any) -> None:
    text = yaml.safe_dump({**header, "events": events}, sort_keys=False)
    try:
        scenario = load_scenario("fuzz.yaml", text)
    except ConfigError as exc:
        assert exc.issues
        assert all(issue.line is not None and issue.message for issue in exc.issues)
    else:
        assert isinstance(scenario, Scenario)
        assert all(0 <= e.at <= scenario.duration_s for e in scenario.events)
