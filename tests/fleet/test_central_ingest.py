"""The sparkplug source into the real historian: tags registered from births, live and history rows stored."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from connectors.sparkplug.source import SparkplugSource
from plantctl.config.models import HistorianConfig, TagConfig
from plantctl.historian.migrate import apply_migrations
from plantctl.historian.writer import HistorianWriter
from plantctl.samples import Sample
from plantctl.uplink.edge import SparkplugEdge
from plantctl.uplink.mosquitto import MosquittoBroker
from tests.fleet.test_edge import TAGS, samples, uplink

pytestmark = [pytest.mark.anyio, pytest.mark.db]


async def test_discovered_tags_are_registered_and_live_and_history_rows_stored(
        broker: MosquittoBroker, fresh_database: str, tmp_path: Path) -> None:
    apply_migrations(fresh_database)
    writer = HistorianWriter(fresh_database, HistorianConfig(), state_dir=tmp_path / "central", tags=[])
    await writer.start()
    live: list[Sample] = []

    def to_live(batch: list[Sample]) -> None:
        live.extend(batch)
        writer.submit(batch)

    announced: list[TagConfig] = []

    def announce(tags: list[TagConfig]) -> None:
        announced.extend(tags)
        writer.add_tags(tags)  # the writer stores them in its tag table before their first samples

    source = SparkplugSource("fleet", "central", ["recyclers"], [("127.0.0.1", broker.port)], to_live)
    source.route_discovery(announce, writer.submit)
    edge = SparkplugEdge(uplink(broker, primary_host_id="central"), TAGS, tmp_path / "site")
    await edge.start()
    edge.submit(samples(4))  # spooled until the host is there: history
    await asyncio.sleep(0.3)
    await source.start()
    try:
        await until(lambda: source.host.nodes.get(("recyclers", "site-a")) is not None
                    and source.host.nodes[("recyclers", "site-a")].historical_values == 4)
        edge.submit(samples(2, 100))
        await until(lambda: any(s.value == 101.0 for s in live))
        await until(lambda: writer.stats().rows_written >= 6)
        with psycopg.connect(fresh_database) as conn:
            rows: list[Any] = conn.execute(
                "SELECT t.name, t.unit, t.range_high, s.value FROM samples s JOIN tags t ON t.id = s.tag_id "
                "ORDER BY s.ts").fetchall()
        stored = [(r[0], r[3]) for r in rows]
        assert ("recyclers/site-a/AIT-101", 0.0) in stored and ("recyclers/site-a/FIT-101", 3.0) in stored
        assert ("recyclers/site-a/AIT-101", 100.0) in stored and ("recyclers/site-a/FIT-101", 101.0) in stored
        assert {(r[0], r[1], r[2]) for r in rows} == {("recyclers/site-a/AIT-101", "pH", 14.0),
                                                       ("recyclers/site-a/FIT-101", "m3/h", 50.0)}
        # 2.0 and 3.0 were each tag's newest value, which the NBIRTH carries live; 0.0 and 1.0 only history
        assert not any(s.value in (0.0, 1.0) for s in live), "history reached the live path"
        assert writer.stats().rows_quarantined == 0
        assert {t.name: (t.unit, t.range.high, t.source) for t in announced} == {
            "recyclers/site-a/AIT-101": ("pH", 14.0, "fleet"), "recyclers/site-a/FIT-101": ("m3/h", 50.0, "fleet")}
        assert (await source.write("recyclers/site-a/FIT-101", 1.0)).reason.startswith("recyclers/site-a/FIT-101")
    finally:
        await edge.stop()
        await source.stop()
        await writer.stop()


async def until(predicate: Any, within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)
