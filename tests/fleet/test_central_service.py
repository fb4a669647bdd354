"""Sites' tags are first-class at the central service: announced by births into the API's tag list, the live
values, the historian (with the birth's unit and range) and the trends; alarms configured on them fire; a site's
death turns them Bad "site offline". Real Mosquitto, real TimescaleDB, the production assembly."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from plantctl.samples import Sample, utcnow
from plantctl.uplink.edge import SparkplugEdge
from plantctl.uplink.mosquitto import MosquittoBroker
from tests.fleet.central import central_plant, fleet_source, start_central
from tests.fleet.test_edge import TAGS, uplink

pytestmark = [pytest.mark.db, pytest.mark.slow]


def until(check: Callable[[], Any], within: float = 30.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + within
    while True:
        got = check()
        if got:
            return got
        assert time.monotonic() < deadline, f"{what} not met within {within} s"
        time.sleep(0.1)


def test_site_tags_reach_tag_list_live_history_trends_and_alarms(
        broker: MosquittoBroker, fresh_database: str, tmp_path: Path) -> None:
    server, admin = start_central(central_plant(tmp_path / "central.yaml", broker.url), fresh_database,
                                  tmp_path / "central")
    loop = asyncio.new_event_loop()
    edge = SparkplugEdge(uplink(broker, primary_host_id="central"), TAGS, tmp_path / "site")
    http = httpx.Client(base_url=server.base_url, headers=admin.bearer, timeout=10)
    try:
        loop.run_until_complete(edge.start())
        t0 = utcnow()

        def send(ph: float, flow: float) -> None:
            now = utcnow()
            edge.submit([Sample("AIT-101", now, ph), Sample("FIT-101", now, flow)])
            loop.run_until_complete(asyncio.sleep(0.3))

        send(7.2, 12.0)
        tags = until(lambda: {t["name"]: t for t in http.get("/api/v1/tags").json()
                              if t["name"].startswith("recyclers/")} or None, what="site tags in /tags")
        assert set(tags) == {"recyclers/site-a/AIT-101", "recyclers/site-a/FIT-101"}
        ph_tag = tags["recyclers/site-a/AIT-101"]
        assert (ph_tag["unit"], ph_tag["range"], ph_tag["source"], ph_tag["description"], ph_tag["writable"]) == \
            ("pH", {"low": 0.0, "high": 14.0}, "fleet", "outlet pH", False)
        one = http.get("/api/v1/tags/recyclers/site-a/FIT-101")
        assert one.status_code == 200 and one.json()["unit"] == "m3/h"
        assert http.get("/api/v1/tags/recyclers/site-z/FIT-101").status_code == 404

        for i in range(5):
            send(7.0 + i / 10, 10.0 + i)
        live = until(lambda: {v["tag"]: v for v in http.get(
            "/api/v1/live", params={"tag": "recyclers/site-a/AIT-101,recyclers/site-a/FIT-101"}).json()["values"]
            if v["value"] == 14.0 or v["tag"].endswith("AIT-101")} or None, what="site values live")
        assert live["recyclers/site-a/AIT-101"]["unit"] == "pH"
        until(lambda: http.get("/api/v1/live", params={"tag": "recyclers/site-a/FIT-101"}).json()["values"][0]
              ["value"] == 14.0, what="the newest flow live")

        # an alarm the central plant file configures on a site's tag
        send(9.6, 15.0)
        alarm = until(lambda: next((a for a in http.get("/api/v1/alarms").json()
                                    if a["name"] == "SITE-A-PH-H" and a["active"]), None), what="SITE-A-PH-H active")
        assert alarm["tag"] == "recyclers/site-a/AIT-101" and alarm["priority"] == 2

        # history: rows under the fleet name, the tag table with the birth's unit and range; and a trend
        def stored() -> list[Any]:
            with psycopg.connect(fresh_database) as conn:
                return conn.execute(
                    "SELECT t.unit, t.range_low, t.range_high, count(*) FROM samples s JOIN tags t ON t.id = s.tag_id "
                    "WHERE t.name = 'recyclers/site-a/FIT-101' GROUP BY 1, 2, 3").fetchall()
        rows = until(lambda: [r for r in stored() if r[3] >= 7] or None, what="site rows in the historian")
        assert rows[0][:3] == ("m3/h", 0.0, 50.0)
        trend = http.get("/api/v1/trends", params={
            "tag": "recyclers/site-a/FIT-101", "start": (t0 - timedelta(seconds=5)).isoformat(),
            "end": (utcnow() + timedelta(seconds=5)).isoformat(), "points": 10, "source": "raw"})
        assert trend.status_code == 200, trend.text
        series = trend.json()["series"][0]
        assert series["unit"] == "m3/h" and sum(b["count"] for b in series["buckets"]) >= 7
        assert max(b["max"] for b in series["buckets"] if b["max"] is not None) == 15.0

        # the site dies (a clean stop sends its NDEATH): its tags Bad "site offline", the bad-quality alarm fires
        loop.run_until_complete(edge.stop())
        bad = until(lambda: next((v for v in http.get("/api/v1/live", params={
            "tag": "recyclers/site-a/AIT-101"}).json()["values"] if v["quality"]["good"] is False), None),
            what="site tag Bad after its death")
        assert "site offline" in str(bad["quality"])
        until(lambda: any(a["name"] == "SITE-A-PH-BAD" and a["active"]
                          for a in http.get("/api/v1/alarms").json()), what="bad-quality alarm")
        # the central service cannot write to a site: a problem, never a 500
        refused = http.post("/api/v1/tags/recyclers/site-a/FIT-101/write", json={"value": 1.0})
        assert refused.status_code == 404 and refused.headers["content-type"] == "application/problem+json", \
            refused.text
        assert fleet_source(server).host.nodes[("recyclers", "site-a")].deaths == 1
        fleet = http.get("/api/v1/fleet").json()
        assert fleet["sources"] == ["fleet"]
        (site,) = fleet["sites"]
        assert (site["site"], site["online"], site["tags"], site["births"], site["deaths"]) == \
            ("recyclers/site-a", False, 2, 1, 1)
        assert site["live_values"] >= 12 and site["since"] >= site["last_birth"]
        assert site["alarms_by_priority"] == {"1": 0, "2": 1, "3": 1, "4": 0}  # H still active, and bad quality
    finally:
        http.close()
        loop.run_until_complete(edge.stop())
        loop.close()
        server.stop()

