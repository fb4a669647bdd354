"""One whole service (uvicorn on loopback, TimescaleDB, no PLC) for the security tests of the HTTP face."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from api.auth.bootstrap import prepare_auth
from api.settings import ApiSettings
from plantctl.plantfile import load_plant
from tests.api.conftest import EXAMPLE_PLANT, PlantServer, Session, create_database, login


@pytest.fixture(scope="package")
def running(db_server: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Session]]:
    name = f"sec_{secrets.token_hex(5)}"
    url = create_database(db_server, name)
    password = secrets.token_urlsafe(18)
    prepare_auth(ApiSettings(mode="production", database_url=url, admin_user="admin", admin_password=password))
    server = PlantServer(load_plant(EXAMPLE_PLANT), url, tmp_path_factory.mktemp("sec-state"))
    server.start()
    try:
        base = server.serve(server.app())
        yield base, login(base, "admin", password)
    finally:
        server.stop()
        with contextlib.suppress(Exception):
            db_server.drop_database(name)


