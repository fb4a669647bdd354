"""A migrated database, an SMTP server with a test certificate, and a small plant with on-call people."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from plantctl.config.models import PlantConfig
from plantctl.historian.migrate import apply_migrations
from plantctl.plantfile import plant_config
from plantctl.runtime.assemble import service_plant

from .servers import SmtpServer, make_test_certificate

# Monday 7 December 2026, 01:00 in Berlin (00:00 UTC): a night; anna's rotation week runs until 08:00 local.
NIGHT = datetime(2026, 12, 7, 0, 0, tzinfo=UTC)


class Clock:
    """The notifier's and the alarm service's now, moved by the test (virtual time)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        from datetime import timedelta
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def notify_db(fresh_database: str) -> str:
    assert "0600_notify.sql" in apply_migrations(fresh_database)
    return fresh_database


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    return make_test_certificate(tmp_path)


@pytest.fixture
def smtp(certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> Iterator[SmtpServer]:
    monkeypatch.setenv("TEST_SMTP_USER", "plantctl")
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "s3cret-relay")
    server = SmtpServer(certificate, users={"plantctl": "s3cret-relay"}).start()
    yield server
    server.stop()


def plant(smtp_port: int, ca_file: Path, **notifications: Any) -> PlantConfig:
    """The plant as the service runs it: the plant file's (below) with the notifier's system points."""
    return service_plant(plant_file(smtp_port, ca_file, **notifications))


def plant_file(smtp_port: int, ca_file: Path, **notifications: Any) -> PlantConfig:
    """One pH tag with an urgent and a low-priority alarm; three people on two rotations and a group."""
    n: dict[str, Any] = {
        "timezone": "Europe/Berlin",
        "public_url": "http://127.0.0.1:9/",
        "people": [{"name": "anna", "user": "anna", "email": "anna@plant.example"},
                   {"name": "ben", "email": "ben@plant.example"},
                   {"name": "carla", "email": "carla@plant.example"}],
        "groups": {"shift-leads": ["carla"]},
        "rotations": [{"name": "primary", "people": ["anna", "ben"], "start": "2026-11-30"},
                      {"name": "backup", "people": ["ben", "anna"], "start": "2026-11-30"}],
        "pipelines": [{"name": "urgent", "priorities": [1, 2, 3],
                       "steps": [{"notify": ["rotation:primary"], "wait_s": 600},
                                 {"notify": ["rotation:backup"], "wait_s": 600},
                                 {"notify": ["group:shift-leads"], "wait_s": 1800}]}],
        "channels": {"email": {"host": "127.0.0.1", "port": smtp_port, "sender": "plantctl@plant.example",
                               "username_env": "TEST_SMTP_USER", "password_env": "TEST_SMTP_PASSWORD",
                               "ca_file": str(ca_file)}},
        "delivery": {"retry_base_s": 5, "retry_max_s": 60, "escalate_after_s": 120},
    }
    n.update(notifications)
    return plant_config({
        "plant": {"name": "Neutralisation"},
        "sources": [{"kind": "modbus", "name": "PLC-1", "host": "127.0.0.1"}],
        "tags": [{"name": "AIT-101", "unit": "pH", "range": {"low": 0, "high": 14}, "source": "PLC-1",
                  "modbus": {"table": "input_register", "address": 0}}]
        + [{"name": f"LIT-{i}", "unit": "%", "range": {"low": 0, "high": 100}, "source": "PLC-1",
            "modbus": {"table": "input_register", "address": 2 * i}} for i in range(1, 4)],
        "alarms": [{"name": "AIT-101.HH", "tag": "AIT-101", "type": "HH", "limit": 9.0, "priority": 1,
                    "message": "Discharge pH above permit"},
                   {"name": "AIT-101.LL", "tag": "AIT-101", "type": "LL", "limit": 5.0, "priority": 4}]
        + [{"name": f"LIT-{i}.H", "tag": f"LIT-{i}", "type": "H", "limit": 90.0, "priority": 2}
           for i in range(1, 4)],
        "notifications": n,
    })
