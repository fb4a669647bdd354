"""The central primary host against a real Mosquitto and real edge nodes: discovery, seq, rebirth, death, history."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import signal
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.sparkplug import codec
from connectors.sparkplug import sparkplug_b_pb2 as pb
from connectors.sparkplug.host import SITE_OFFLINE, DiscoveredTag, SparkplugHost
from plantctl.quality import Quality
from plantctl.samples import Sample
from plantctl.uplink.edge import SparkplugEdge
from plantctl.uplink.mosquitto import MosquittoBroker
from tests.fleet.recorder import Recorder, recording
from tests.fleet.test_edge import TAGS, samples, uplink

pytestmark = pytest.mark.anyio
REPO = Path(__file__).resolve().parents[2]


class Collected:
    """The host's sink in a test: what would go to the historian, the live cache and alarms."""

    def __init__(self) -> None:
        self.tags: dict[str, DiscoveredTag] = {}
        self.live_samples: list[Sample] = []
        self.history_samples: list[Sample] = []

    def tags_born(self, tags: list[DiscoveredTag]) -> None:
        self.tags.update({t.name: t for t in tags})

    def live(self, samples: list[Sample]) -> None:
        self.live_samples.extend(samples)

    def history(self, samples: list[Sample]) -> None:
        self.history_samples.extend(samples)


async def until(predicate: object, within: float = 10.0) -> None:
    assert callable(predicate)
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within} s")
        await asyncio.sleep(0.05)


def host_for(broker: MosquittoBroker, sink: Collected, **kw: object) -> SparkplugHost:
    return SparkplugHost("central", ["recyclers"], [("127.0.0.1", broker.port)], sink, keepalive_s=5,
                         **kw)  # type: ignore[arg-type]


async def test_discovers_tags_from_birth_and_keeps_historical_out_of_live(broker: MosquittoBroker,
                                                                         tmp_path: Path) -> None:
    sink = Collected()
    host = host_for(broker, sink)
    edge = SparkplugEdge(uplink(broker, primary_host_id="central"), TAGS, tmp_path)
    await edge.start()
    edge.submit(samples(4))  # before the host exists: spooled, later history
    await asyncio.sleep(0.3)
    await host.start()
    try:
        await until(lambda: len(sink.history_samples) == 4)
        ph = sink.tags["recyclers/site-a/AIT-101"]
        assert (ph.unit, ph.low, ph.high, ph.description) == ("pH", 0.0, 14.0, "outlet pH")
        assert set(sink.tags) == {"recyclers/site-a/AIT-101", "recyclers/site-a/FIT-101"}
        assert [(s.tag, s.value) for s in sink.history_samples] == \
            [(f"recyclers/site-a/{'AIT-101' if i % 2 == 0 else 'FIT-101'}", float(i)) for i in range(4)]
        assert all(s.value not in (0.0, 1.0, 2.0, 3.0) or math.isnan(s.value) for s in sink.live_samples[:0])
        live_values = [s.value for s in sink.live_samples]
        edge.submit(samples(2, 10))
        await until(lambda: len(sink.live_samples) >= len(live_values) + 2)
        assert [s.value for s in sink.live_samples[-2:]] == [10.0, 11.0]
        assert not any(s.value in (0.0, 1.0) for s in sink.live_samples), "spooled history reached live values"
        node = host.nodes[("recyclers", "site-a")]
        assert node.online and node.historical_values == 4 and node.seq_gaps == 0
    finally:
        await edge.stop()
        await host.stop()


class FakeNode:
    """A hand-driven edge node (a plain MQTT client) to send what a correct edge never would."""

    def __init__(self, rec: Recorder) -> None:
        self.rec = rec
        self.t = datetime(2026, 12, 5, tzinfo=UTC)

    async def send(self, kind: str, payload: bytes) -> None:
        await self.rec.client.publish(codec.topic("recyclers", kind, "site-x"), payload, qos=0)

    async def birth(self) -> None:
        defs = [codec.MetricDef("LT-1", 1, "m", 0.0, 5.0)]
        await self.send("NBIRTH", codec.birth_payload(defs, {}, 0, self.t))

    async def data(self, seq: int, alias: int = 1, value: float = 1.0) -> None:
        await self.send("NDATA", codec.data_payload(seq, [(alias, Sample("LT-1", self.t, value))], self.t))

    def commands(self) -> int:
        return len([s for s in self.rec.of("NCMD") if s.topic.endswith("/site-x")])


async def test_seq_gap_unknown_alias_and_unborn_node_each_ask_a_rebirth(broker: MosquittoBroker) -> None:
    sink = Collected()
    host = host_for(broker, sink)
    await host.start()
    try:
        async with recording(broker.port) as rec:
            await until(lambda: host.connected)
            node = FakeNode(rec)
            await node.data(1)  # never born
            await rec.wait_for(lambda s: node.commands() == 1)
            rebirth = rec.of("NCMD")[0].decoded()
            assert [(m.name, m.value) for m in rebirth.metrics] == [(codec.REBIRTH, 1.0)]
            await node.birth()
            await node.data(1, value=2.0)
            await until(lambda: [s.value for s in sink.live_samples] == [2.0])
            await asyncio.sleep(2.1)  # past the rebirth rate limit
            await node.data(5, value=3.0)  # seq 2–4 lost
            await rec.wait_for(lambda s: node.commands() == 2)
            assert host.nodes[("recyclers", "site-x")].seq_gaps == 1
            await node.birth()
            await asyncio.sleep(2.1)
            await node.data(1, alias=9)
            await rec.wait_for(lambda s: node.commands() == 3)
            assert sink.live_samples[-1].value == 3.0  # the alias-9 value went nowhere
    finally:
        await host.stop()


async def test_malformed_payloads_are_counted_logged_and_dropped(broker: MosquittoBroker,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    sink = Collected()
    host = host_for(broker, sink)
    await host.start()
    try:
        async with recording(broker.port) as rec:
            await until(lambda: host.connected)
            node = FakeNode(rec)
            with caplog.at_level(logging.WARNING, logger="connectors.sparkplug.host"):
                await node.send("NBIRTH", b"\xff\xfe garbage")
                await node.send("NDATA", b"\x12\x02\x08")
                await until(lambda: host.counters.malformed == 2)
            assert sum("dropped a malformed" in r.getMessage() for r in caplog.records) == 2
            await node.birth()
            await node.data(1, value=4.5)
            await until(lambda: [s.value for s in sink.live_samples] == [4.5])  # still working
    finally:
        await host.stop()


async def test_site_sigkilled_goes_bad_site_offline_once_within_the_keepalive_budget(
        broker: MosquittoBroker, tmp_path: Path) -> None:
    sink = Collected()
    host = host_for(broker, sink)
    await host.start()
    site = await asyncio.create_subprocess_exec(sys.executable, "-m", "tests.fleet.edge_site", broker.url, "site-k",
                                                str(tmp_path), cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        await until(lambda: ("recyclers", "site-k") in host.nodes and host.nodes[("recyclers", "site-k")].live_values
                    > 5, within=20)
        os.kill(site.pid, signal.SIGKILL)
        killed = time.monotonic()
        await site.wait()
        await until(lambda: not host.nodes[("recyclers", "site-k")].online, within=10)
        took = time.monotonic() - killed
        assert took <= 1.5 * 2 + 1.0, f"site offline after {took:.1f} s; keep-alive 2 s allows 3 s + 1 s slack"
        bad = [s for s in sink.live_samples if s.quality == Quality.BAD_NOT_CONNECTED]
        assert sorted(s.tag for s in bad) == ["recyclers/site-k/AIT-101", "recyclers/site-k/FIT-101"]
        assert all(s.reason == SITE_OFFLINE for s in bad)
        await asyncio.sleep(0.5)
        assert len([s for s in sink.live_samples if s.quality == Quality.BAD_NOT_CONNECTED]) == 2  # once
    finally:
        if site.returncode is None:
            site.kill()
            await site.wait()
        await host.stop()


async def test_broker_sigkill_and_restart_loses_nothing_the_site_measured(broker: MosquittoBroker,
                                                                          tmp_path: Path) -> None:
    sink = Collected()
    host = host_for(broker, sink)
    edge = SparkplugEdge(uplink(broker, primary_host_id="central", reconnect_max_delay_s=0.5), TAGS, tmp_path)
    await host.start()
    await edge.start()
    now = datetime.now(UTC)
    t0 = now.replace(microsecond=now.microsecond // 1000 * 1000)  # Sparkplug carries milliseconds
    sent: list[Sample] = []
    try:
        for i in range(60):
            batch = [Sample("AIT-101", t0 + timedelta(milliseconds=100 * i), float(i))]
            edge.submit(batch)
            sent += batch
            if i == 20:
                broker.kill()
            if i == 40:
                broker.start()
            await asyncio.sleep(0.05)
        await until(lambda: {s.ts for s in sink.live_samples + sink.history_samples if s.tag.endswith("AIT-101")
                             and not math.isnan(s.value)} >= {s.ts for s in sent}, within=20)
        received = [s for s in sink.live_samples + sink.history_samples
                    if s.tag.endswith("AIT-101") and not math.isnan(s.value)]
        # none lost; a value may arrive twice only as the same (tag, time) — an NBIRTH repeats the last value —
        # which the historian's unique (tag, ts) key stores once
        by_ts: dict[datetime, set[float]] = {}
        for s in received:
            by_ts.setdefault(s.ts, set()).add(s.value)
        assert by_ts == {s.ts: {s.value} for s in sent}
    finally:
        await edge.stop()
        await host.stop()


async def test_broker_lost_the_edge_sends_its_last_window_again_as_history(broker: MosquittoBroker,
                                                                          tmp_path: Path) -> None:
    """NDATA goes at QoS 0: what a killed broker held may never reach the host, so the edge re-sends its replay
    window (live and replayed values of the last replay_window_s) as history after its next birth."""
    sink = Collected()
    host = host_for(broker, sink)
    edge = SparkplugEdge(uplink(broker, primary_host_id="central", reconnect_max_delay_s=0.5), TAGS, tmp_path)
    await host.start()
    await edge.start()
    now = datetime.now(UTC)
    t0 = now.replace(microsecond=now.microsecond // 1000 * 1000)
    sent = [Sample("AIT-101", t0 + timedelta(milliseconds=100 * i), float(i)) for i in range(5)]
    try:
        await until(lambda: host.nodes.get(("recyclers", "site-a")) is not None
                    and host.nodes[("recyclers", "site-a")].online)
        edge.submit(sent)
        await until(lambda: {s.ts for s in sink.live_samples} >= {s.ts for s in sent})
        assert not sink.history_samples
        broker.kill()
        broker.start()
        await until(lambda: {s.ts for s in sink.history_samples if not math.isnan(s.value)} >= {s.ts for s in sent},
                    within=20)
        assert edge.status().births == 2
    finally:
        await edge.stop()
        await host.stop()


async def test_a_time_stamp_no_datetime_holds_is_malformed_not_the_end_of_the_host(broker: MosquittoBroker) -> None:
    sink = Collected()
    host = host_for(broker, sink)
    await host.start()
    try:
        async with recording(broker.port) as rec:
            await until(lambda: host.connected)
            node = FakeNode(rec)
            await node.birth()
            bad = pb.Payload(timestamp=codec.to_ms(node.t), seq=1)
            bad.metrics.add(alias=1, timestamp=2**63 + 5, datatype=codec.DOUBLE).double_value = 1.0
            await node.send("NDATA", bad.SerializeToString())
            await until(lambda: host.counters.malformed == 1)
            await node.data(1, value=6.5)  # the same seq again: the dropped message did not count
            await until(lambda: [s.value for s in sink.live_samples] == [6.5])
    finally:
        await host.stop()


async def test_a_metric_left_out_by_the_deny_list_is_dropped_without_asking_a_rebirth(
        broker: MosquittoBroker) -> None:
    sink = Collected()
    host = host_for(broker, sink, deny=["*/LT-2"])
    await host.start()
    try:
        async with recording(broker.port) as rec:
            await until(lambda: host.connected)
            node = FakeNode(rec)
            defs = [codec.MetricDef("LT-1", 1, "m", 0.0, 5.0), codec.MetricDef("LT-2", 2, "m", 0.0, 5.0)]
            await node.send("NBIRTH", codec.birth_payload(defs, {}, 0, node.t))
            for seq in (1, 2, 3):
                await node.send("NDATA", codec.data_payload(
                    seq, [(1, Sample("LT-1", node.t, float(seq))), (2, Sample("LT-2", node.t, 9.0))], node.t))
            await until(lambda: [s.value for s in sink.live_samples] == [1.0, 2.0, 3.0])
            assert [s.tag for s in sink.live_samples] == ["recyclers/site-x/LT-1"] * 3
            assert list(sink.tags) == ["recyclers/site-x/LT-1"]
            await asyncio.sleep(0.5)
            assert node.commands() == 0
            assert host.counters.rebirths_requested == 0
    finally:
        await host.stop()
