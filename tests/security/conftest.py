"""One whole service (uvicorn on loopback, TimescaleDB, no PLC) for the security tests of the HTTP face."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from api.auth.bootstrap import add_user, prepare_auth
from api.settings import ApiSettings
from plantctl.plantfile import load_plant
from tests.api.conftest import EXAMPLE_PLANT, ROLES, PlantServer, Session, create_database, login


@dataclass
class SecurityPlant:
    """The plant service of this package; `serve` puts another app (other settings) on the same runtime."""

    server: PlantServer
    database_url: str
    passwords: dict[str, str]

    def serve(self, **settings: Any) -> str:
        return self.server.serve(self.server.app(**settings))

    def login(self, base: str, role: str) -> Session:
        return login(base, role, self.passwords[role])


@pytest.fixture(scope="package")
def plant(db_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecurityPlant]:
    name = f"sec_{secrets.token_hex(5)}"
    url = create_database(db_server, name)
    passwords = {role: secrets.token_urlsafe(18) for role in ROLES}
    prepare_auth(ApiSettings(mode="production", database_url=url, admin_user="admin",
                             admin_password=passwords["admin"]))
    for role in ROLES[:-1]:
        add_user(url, role, role, passwords[role])
    server = PlantServer(load_plant(EXAMPLE_PLANT), url, tmp_path_factory.mktemp("sec-state"))
    server.start()
    try:
        yield SecurityPlant(server, url, passwords)
    finally:
        server.stop()
        with contextlib.suppress(Exception):
            db_server.drop_database(name)


@pytest.fixture(scope="package")
def running(plant: SecurityPlant) -> tuple[str, Session]:
    """The service with default settings, and an admin logged in."""
    base = plant.serve()
    return base, plant.login(base, "admin")
