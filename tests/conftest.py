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
