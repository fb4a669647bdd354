"""Shared fixtures: a real local TimescaleDB for tests, and asyncio as the only async backend."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from plantctl.db import LocalDatabase
from tests.support import free_port

TEST_DB_PORT = int(os.environ.get("PLANTCTL_TEST_DB_PORT", "55434"))

# The fast lane, `./dev test -m "not slow"`, keeps the pure and quick tests. Slow are: every test on the
# database (a fixture below), and these modules and tests (real servers, a browser, child processes, long
# simulations or property searches; seconds each). A test module may also mark itself.
_DB_FIXTURES = frozenset({"db_server", "database_url", "fresh_database", "private_db_server"})
_SLOW_PACKAGES = ("tests/panel/", "tests/chaos/", "tests/fuzz/")
_SLOW_MODULES = frozenset({
    # real OPC UA / Modbus servers on loopback, or the simulated PLC serving them
    "tests/connectors/test_modbus_source.py", "tests/connectors/test_opcua_source.py",
    "tests/connectors/test_opcua_browse.py", "tests/connectors/test_sim_end_to_end.py",
    "tests/sim/test_mbpoll.py", "tests/sim/test_modbus_server.py", "tests/sim/test_modbus_server_codec.py",
    "tests/sim/test_modbus_server_map.py", "tests/sim/test_modbus_server_watchdog.py",
    "tests/sim/test_opcua_server.py", "tests/sim/test_opcua_server_interop.py",
    "tests/sim/test_opcua_server_security.py", "tests/sim/test_opcua_server_status.py",
    "tests/sim/test_pacing.py", "tests/sim/test_pacing_cli.py", "tests/sim/test_pacing_watchdog.py",
    "tests/security/test_opcua_certificates.py", "tests/security/test_sim_refuses_anonymous_writes.py",
    "tests/security/test_secrets_not_logged.py", "tests/security/test_panel_csp.py",
    "tests/security/test_headers.py",
    # whole processes: plantctl run, or fresh interpreters importing the service
    "tests/test_main_job.py", "tests/test_end_to_end.py", "tests/test_layers.py",
    # long closed-loop simulations and property searches
    "tests/control/test_loop_properties.py", "tests/alarms/test_state_machine_property.py",
    "tests/sim/test_model_balance.py", "tests/sim/test_model_dynamics.py", "tests/sim/test_model_headless.py",
    "tests/sim/test_scenario_fuzz.py", "tests/sim/test_determinism.py",
})
_SLOW_TESTS = frozenset({
    "tests/control/test_feedforward.py::test_adaptation_moves_a_persistent_integral_into_the_feedforward_gain",
    "tests/control/test_feedforward.py::test_no_learning_from_an_uncertain_pv",
    "tests/control/test_feedforward.py::test_with_the_learnt_gain_a_load_drop_overdoses_far_less_than_an_integral_offset",
    "tests/control/test_feedforward.py::test_learnt_gain_survives_a_restart",
    "tests/control/test_feedforward.py::test_adaptation_does_not_move_the_output",
    "tests/control/test_feedforward.py::test_feedback_can_take_back_a_feedforward_that_overdoses",
    "tests/control/test_feedforward.py::test_acid_pump_waits_for_its_permissive_and_the_integral_does_not_wind_up",
    "tests/sim/test_chemistry.py::test_titration_with_naoh_has_plateaus_where_the_pkas_are",
    "tests/sim/test_scenario.py::test_events_act_at_their_simulated_time",
    "tests/sim/test_scenario.py::test_an_influent_that_cannot_reach_the_asked_ph_reads_its_real_ph",
    "tests/connectors/test_modbus_planner.py::test_plan_is_minimal_for_random_maps",
})


# A module that imports one of these serves a real PLC on loopback: slow wherever it lives.
_SERVER_MODULES = frozenset({"tests.connectors.opcua_server", "tests.connectors.modbus_server", "sim.facade.runner",
                             "sim.facade"})


def _serves_a_plc(module: object) -> bool:
    return any(getattr(v, "__module__", None) in _SERVER_MODULES for v in vars(module).values())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the slow tests (see above), so `-m "not slow"` is the fast lane."""
    root = Path(__file__).resolve().parent.parent
    for item in items:
        path = item.path.resolve().relative_to(root).as_posix()
        test = f"{path}::{item.name.split('[')[0]}"
        module = getattr(item, "module", None)
        if (_DB_FIXTURES.intersection(getattr(item, "fixturenames", ())) or path.startswith(_SLOW_PACKAGES)
                or path in _SLOW_MODULES or test in _SLOW_TESTS or (module is not None and _serves_a_plc(module))):
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def db_server() -> LocalDatabase:
    """The shared test server (instance 'test'); never stop it from a test — use private_db_server."""
    return LocalDatabase(instance="test", port=TEST_DB_PORT).up()


@pytest.fixture(scope="session")
def database_url(db_server: LocalDatabase) -> str:
    """A database on the shared test server, kept for the session."""
    return db_server.create_database("plantctl_test")


@pytest.fixture
def fresh_database(db_server: LocalDatabase) -> Iterator[str]:
    """A new empty database (TimescaleDB enabled) for one test, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    url = db_server.create_database(name)
    yield url
    db_server.drop_database(name)


EXAMPLE_PLANT = Path(__file__).resolve().parent.parent / "examples" / "plant.yaml"


@pytest.fixture
def plant_on_free_ports(tmp_path: Path) -> Path:
    """The example plant file with the simulated PLC's OPC UA and Modbus ports moved to free ones."""
    text = EXAMPLE_PLANT.read_text().replace("127.0.0.1:48400", f"127.0.0.1:{free_port()}").replace(
        "port: 50200", f"port: {free_port()}")
    path = tmp_path / "plant.yaml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def private_db_server() -> Iterator[LocalDatabase]:
    """A server of the test module's own, which it may stop, start and SIGKILL (outage tests)."""
    instance = f"outage-{uuid.uuid4().hex[:8]}"
    db = LocalDatabase(instance=instance, port=free_port()).up()
    yield db
    db.down()
    db.destroy()
