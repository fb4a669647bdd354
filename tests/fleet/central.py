"""A central plantctl service whose one source is the sparkplug host: the production assembly on a real broker."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from api.auth.bootstrap import prepare_auth
from api.settings import ApiSettings
from plantctl.plantfile import load_plant
from plantctl.runtime.assemble import PlantService, build_service
from tests.api.conftest import PlantServer, Session, login


def central_plant(path: Path, broker_url: str, extra: str = "") -> Path:
    """A central plant file: no local tags, one sparkplug source, alarms on the sites' tags."""
    path.write_text(f"""
plant:
  name: Fleet centre
sources:
  - kind: sparkplug
    name: fleet
    host_id: central
    groups: [recyclers]
    brokers: ["{broker_url}"]
    keepalive_s: 5
alarms:
  - name: SITE-A-PH-H
    tag: recyclers/site-a/AIT-101
    type: H
    limit: 9.0
    priority: 2
    message: site A discharge pH high
  - name: SITE-A-PH-BAD
    tag: recyclers/site-a/AIT-101
    type: bad_quality
    priority: 3
{extra}""")
    return path


class CentralServer(PlantServer):
    """PlantServer with its plant link: the sparkplug source is built from the plant file, as `plantctl run` does."""

    async def _build(self, settings: ApiSettings) -> PlantService:
        return build_service(self.config, database_url=self.database_url, state_dir=self.state_dir,
                             settings=settings, plant_link=True)


def start_central(plant_file: Path, database_url: str, state_dir: Path) -> tuple[CentralServer, Session]:
    """The central service up, and an admin logged in (bearer headers in the session)."""
    password = secrets.token_urlsafe(16)
    prepare_auth(ApiSettings(mode="production", database_url=database_url, admin_user="admin",
                             admin_password=password))
    server = CentralServer(load_plant(plant_file), database_url, state_dir)
    base = server.start()
    return server, login(base, "admin", password)


def fleet_source(server: PlantServer) -> Any:
    assert server.runtime is not None
    return server.runtime.sources["fleet"]
