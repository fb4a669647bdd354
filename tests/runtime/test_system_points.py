"""System points: a subsystem's declared tag and alarms join the plant, and its samples are published, not mocked.

The declaration rules and the publisher are pure; the service part runs the production assembly on TimescaleDB:
the point is historised, live, listed as a tag, alarmed, acknowledged (journalled and audited) and never written.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from api.auth.bootstrap import add_user, prepare_auth
from api.settings import ApiSettings
from plantctl.config.models import AlarmConfig, AlarmType, PlantConfig
from plantctl.config.yamlsrc import ConfigError
from plantctl.plantfile import load_plant
from plantctl.points import PointPublisher, SystemPoints, system_tag, with_system_points
from plantctl.quality import Quality
from plantctl.runtime.assemble import service_plant
from plantctl.samples import Sample
from tests.api.conftest import PlantServer, create_database, login

EXAMPLE = Path(__file__).resolve().parents[2] / "examples"
VOTE = system_tag("strategy", "T-101.VOTE", description="T-101 electrode vote lost (1) or healthy (0)",
                  unit="bool", low=0, high=1)
VOTE_LOST = AlarmConfig(name="SYS.STRATEGY.T-101.VOTE.LOST", tag=VOTE.name, type=AlarmType.DISCRETE, limit=1,
                        priority=2, message="T-101 pH vote lost: two electrodes disagree; check AIT-101/104/105")
DECLARED = SystemPoints((VOTE,), (VOTE_LOST,))


def _plant() -> PlantConfig:
    return load_plant(EXAMPLE / "plant.yaml")


# -- the declaration -------------------------------------------------------------------------------


def test_a_declared_point_joins_the_plant_as_a_tag_with_its_alarm() -> None:
    plant = _plant()
    with_points = with_system_points(plant, [DECLARED])
    assert with_points.tag("SYS.STRATEGY.T-101.VOTE") == VOTE
    assert VOTE.source == "SYS.STRATEGY" and VOTE.address.kind == "system" and not VOTE.writable
    assert [a.name for a in with_points.alarms][-1] == "SYS.STRATEGY.T-101.VOTE.LOST"
    assert len(with_points.tags) == len(plant.tags) + 1
    assert plant.tags == _plant().tags  # the plant file's own config is not changed
    assert with_system_points(plant, [SystemPoints()]) is plant


DIAGNOSTIC = AlarmConfig(name="SYS.CHECK.AIT-101", tag="AIT-101", type=AlarmType.RANGE, priority=4)


def test_a_diagnostic_alarm_watches_a_plant_tag_and_joins_after_the_plant_alarms() -> None:
    plant = _plant()
    with_points = with_system_points(plant, [SystemPoints(diagnostics=(DIAGNOSTIC,))])
    assert [a.name for a in with_points.alarms] == [*(a.name for a in plant.alarms), "SYS.CHECK.AIT-101"]
    assert with_points.tags == plant.tags


@pytest.mark.parametrize(("points", "error"), [
    (SystemPoints(diagnostics=(DIAGNOSTIC.model_copy(update={"name": "CHECK.AIT-101"}),)), "not in SYS."),
    (SystemPoints(diagnostics=(DIAGNOSTIC, DIAGNOSTIC)), "declared twice"),
    (SystemPoints(diagnostics=(DIAGNOSTIC.model_copy(update={"tag": "NO-SUCH-TAG"}),)), "no plant tag"),
    (SystemPoints((VOTE,), diagnostics=(DIAGNOSTIC.model_copy(update={"tag": VOTE.name}),)), "no plant tag"),
    (SystemPoints((), (DIAGNOSTIC,)), "no declared system point"),  # an alarm on a plant tag must say so
])
def test_a_diagnostic_alarm_only_watches_a_plant_tag(points: SystemPoints, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        with_system_points(_plant(), [points])


@pytest.mark.parametrize(("points", "error"), [
    (SystemPoints((VOTE, VOTE)), "declared twice"),
    (SystemPoints((VOTE,), (VOTE_LOST, VOTE_LOST)), "declared twice"),
    (SystemPoints((), (VOTE_LOST,)), "no declared system point"),
    (SystemPoints((VOTE.model_copy(update={"name": "AIT-101"}),)), "not in SYS."),
    (SystemPoints((VOTE.model_copy(update={"writable": True}),)), "writable"),
    (SystemPoints((VOTE,), (VOTE_LOST.model_copy(update={"name": "VOTE.LOST"}),)), "not in SYS."),
    (SystemPoints((VOTE,), (VOTE_LOST.model_copy(update={"tag": "AIT-101"}),)), "no declared system point"),
])
def test_a_declaration_that_could_collide_is_refused(points: SystemPoints, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        with_system_points(_plant(), [points])


def test_the_service_plant_carries_the_notifier_points_only_with_notifications() -> None:
    assert not [t for t in service_plant(_plant()).tags if t.name.startswith("SYS.NOTIFY.")]
    plant = service_plant(load_plant(EXAMPLE / "plant-notifications.yaml"))
    assert {t.name for t in plant.tags if t.name.startswith("SYS.NOTIFY.")} == {
        "SYS.NOTIFY.EMAIL", "SYS.NOTIFY.WEBHOOK", "SYS.NOTIFY.APPRISE"}


@pytest.mark.parametrize(("section", "entry"), [
    ("tags", "  - {name: SYS.NOTIFY.EMAIL, unit: bool, range: {low: 0, high: 1}, source: PLC-1-MODBUS,\n"
             "     modbus: {table: discrete_input, address: 40, type: bool}}\n"),
    ("tags", "  - {name: sys.mine, unit: bool, range: {low: 0, high: 1}, source: PLC-1-MODBUS,\n"
             "     modbus: {table: discrete_input, address: 40, type: bool}}\n"),
    ("alarms", "  - {name: SYS.NOTIFY.EMAIL.FAILING, tag: AIT-101, type: HH, limit: 13}\n"),
])
def test_a_plant_file_using_the_system_namespace_is_refused_with_file_and_line(
        tmp_path: Path, section: str, entry: str) -> None:
    lines = (EXAMPLE / "plant.yaml").read_text().splitlines(keepends=True)
    at = lines.index(f"{section}:\n") + 1
    path = tmp_path / "plant.yaml"
    path.write_text("".join([*lines[:at], entry, *lines[at:]]))
    with pytest.raises(ConfigError) as caught:
        load_plant(path)
    text = str(caught.value)
    assert f"{path}:{at + 1}" in text and "namespace of the service's own system points" in text, text


# -- the publisher ---------------------------------------------------------------------------------


def test_the_publisher_sends_changes_at_once_and_an_unchanged_state_every_refresh() -> None:
    got: list[Sample] = []
    pub = PointPublisher(got.extend, DECLARED, refresh_s=60)
    t0 = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
    assert pub.set(VOTE.name, 0, t0)
    assert not pub.set(VOTE.name, 0, t0 + timedelta(seconds=59))
    assert pub.set(VOTE.name, 1, t0 + timedelta(seconds=59.5))
    assert pub.set(VOTE.name, 1, t0 + timedelta(seconds=120))
    assert pub.set(VOTE.name, 1, t0 + timedelta(seconds=121), Quality.BAD, "vote inputs stale")
    assert [(s.value, (s.ts - t0).total_seconds(), s.quality) for s in got] == [
        (0, 0, Quality.GOOD), (1, 59.5, Quality.GOOD), (1, 120, Quality.GOOD), (1, 121, Quality.BAD)]
    assert got[-1].reason == "vote inputs stale" and pub.value(VOTE.name) == 1
    with pytest.raises(KeyError):
        pub.set("AIT-101", 1, t0)
    with pytest.raises(ValueError, match="naive"):
        pub.set(VOTE.name, 0, datetime(2026, 12, 7, 3, 0))


# -- in the running service ------------------------------------------------------------------------


@pytest.fixture
def served(db_server: Any, tmp_path: Path) -> Iterator[tuple[PlantServer, dict[str, str]]]:
    name = f"sys_{secrets.token_hex(5)}"
    url = create_database(db_server, name)
    passwords = {"admin": secrets.token_urlsafe(16), "operator": secrets.token_urlsafe(16)}
    prepare_auth(ApiSettings(mode="production", database_url=url, admin_user="admin",
                             admin_password=passwords["admin"]))
    add_user(url, "operator", "operator", passwords["operator"])
    server = PlantServer(with_system_points(_plant(), [DECLARED]), url, tmp_path / "state")
    try:
        base = server.start()
        headers = {"Authorization": f"Bearer {login(base, 'operator', passwords['operator']).token}"}
        yield server, headers
    finally:
        server.stop()
        with contextlib.suppress(Exception):
            db_server.drop_database(name)


def _wait_for(what: str, check: Any, timeout_s: float = 15) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"{what} not seen within {timeout_s} s")


def test_a_system_point_is_trended_alarmed_acknowledged_and_never_written(
        served: tuple[PlantServer, dict[str, str]]) -> None:
    server, op = served
    assert server.runtime is not None
    publisher = PointPublisher(server.runtime.bus.publish, DECLARED)  # as a subsystem of the service does
    ts = datetime.now(UTC)
    server.call(publisher.set, VOTE.name, 1.0, ts)
    alarm_url = f"/api/v1/alarms/{VOTE_LOST.name}"
    with httpx.Client(base_url=server.base_url, timeout=10, headers=op) as c:
        tag = c.get(f"/api/v1/tags/{VOTE.name}").json()
        assert (tag["source"], tag["unit"], tag["writable"], tag["decimals"]) == ("SYS.STRATEGY", "bool", False, 0)
        live = c.get("/api/v1/live", params={"tag": VOTE.name}).json()
        assert [(s["tag"], s["value"]) for s in live["values"]] == [(VOTE.name, 1.0)], live
        listed = {a["name"]: a for a in c.get("/api/v1/alarms").json()}
        assert listed[VOTE_LOST.name]["state"] == "UNACK", listed
        assert listed[VOTE_LOST.name]["message"] == VOTE_LOST.message
        r = c.post(f"{alarm_url}/ack", json={"comment": "electrodes being recalibrated"})
        assert r.status_code == 200 and r.json()["new_state"] == "ACKED", r.text
        r = c.post(f"/api/v1/tags/{VOTE.name}/write", json={"value": 0, "reason": "clear it"})
        assert r.status_code == 409 and "system point" in r.json()["detail"], r.text
        server.call(publisher.set, VOTE.name, 0.0, ts + timedelta(seconds=1))
        assert c.get(alarm_url).json()["state"] == "NORM"
    with psycopg.connect(server.database_url, autocommit=True) as conn:
        stored = _wait_for("the point in the historian", lambda: conn.execute(
            "SELECT s.value FROM samples s JOIN tags t ON t.id = s.tag_id WHERE t.name = %s ORDER BY s.ts",
            (VOTE.name,)).fetchall() == [(1.0,), (0.0,)])
        assert stored
        events = _wait_for("the journal rows", lambda: [r[0] for r in conn.execute(
            "SELECT event FROM alarm_journal WHERE alarm = %s ORDER BY id", (VOTE_LOST.name,)).fetchall()]
            if conn.execute("SELECT count(*) FROM alarm_journal WHERE alarm = %s",
                            (VOTE_LOST.name,)).fetchone() == (3,) else None)
        assert events[1] == "ack", events
        audit = conn.execute("SELECT actor, action FROM audit_log WHERE target = %s", (VOTE_LOST.name,)).fetchall()
        assert audit == [("operator", "ack")], audit
