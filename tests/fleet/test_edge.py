"""The edge node against a real Mosquitto: births, NDATA by alias and seq, rebirth, host awareness, spool replay."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.opcua.config import OpcUaAddress
from connectors.sparkplug import codec
from plantctl.config.models import EngineeringRange, TagConfig
from plantctl.config.uplink import UplinkConfig
from plantctl.samples import Sample
from plantctl.uplink.edge import SparkplugEdge
from plantctl.uplink.mosquitto import MosquittoBroker
from tests.fleet.recorder import recording

pytestmark = pytest.mark.anyio

TAGS = [TagConfig(name="AIT-101", unit="pH", range=EngineeringRange(low=0, high=14), source="plc",
                  description="outlet pH", address=OpcUaAddress(node_id="ns=2;s=AIT-101")),
        TagConfig(name="FIT-101", unit="m3/h", range=EngineeringRange(low=0, high=50), source="plc",
                  address=OpcUaAddress(node_id="ns=2;s=FIT-101"))]
T0 = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)


def uplink(broker: MosquittoBroker, **kw: object) -> UplinkConfig:
    return UplinkConfig.model_validate({"group_id": "recyclers", "edge_node_id": "site-a", "brokers": [broker.url],
                                        "publish_period_s": 0.05, "keepalive_s": 5, **kw})


def samples(n: int, start: int = 0) -> list[Sample]:
    return [Sample("AIT-101" if i % 2 == 0 else "FIT-101", T0 + timedelta(seconds=i), float(i))
            for i in range(start, start + n)]


async def test_birth_data_by_alias_seq_and_rebirth_on_command(broker: MosquittoBroker, tmp_path: Path) -> None:
    async with recording(broker.port) as rec:
        edge = SparkplugEdge(uplink(broker), TAGS, tmp_path)
        await edge.start()
        try:
            await rec.wait_for(lambda s: len(rec.of("NBIRTH")) == 1)
            birth = rec.of("NBIRTH")[0].decoded()
            assert birth.seq == 0
            names = {m.name: m for m in birth.metrics}
            assert names["AIT-101"].alias == 1 and names["FIT-101"].alias == 2
            assert names["AIT-101"].properties["engUnit"] == "pH"
            assert names["AIT-101"].properties["Documentation"] == "outlet pH"
            assert names["bdSeq"].value == 0.0
            for i in range(3):
                edge.submit(samples(2, 2 * i))
                await asyncio.sleep(0.15)
            await rec.wait_for(lambda s: sum(len(x.decoded().metrics) for x in rec.of("NDATA")) == 6)
            data = [x.decoded() for x in rec.of("NDATA")]
            assert [d.seq for d in data] == list(range(1, len(data) + 1))
            got = [(m.alias, m.value, m.ts, m.is_historical) for d in data for m in d.metrics]
            assert got == [(1 + i % 2, float(i), T0 + timedelta(seconds=i), False) for i in range(6)]

            await rec.client.publish("spBv1.0/recyclers/NCMD/site-a", codec_rebirth(), qos=1)
            await rec.wait_for(lambda s: len(rec.of("NBIRTH")) == 2)
            again = rec.of("NBIRTH")[1].decoded()
            assert again.seq == 0 and {m.name: m.value for m in again.metrics}["bdSeq"] == 0.0
            assert {m.name: m.value for m in again.metrics}["FIT-101"] == 5.0  # last values in the rebirth
            edge.submit(samples(1, 6))
            await rec.wait_for(lambda s: any(x.decoded().seq == 1 for x in rec.of("NDATA")[len(data):]))
        finally:
            await edge.stop()


def codec_rebirth() -> bytes:
    return codec.rebirth_command(datetime.now(UTC))


async def test_waits_for_host_spools_while_offline_and_replays_as_historical(broker: MosquittoBroker,
                                                                            tmp_path: Path) -> None:
    async with recording(broker.port) as rec:
        edge = SparkplugEdge(uplink(broker, primary_host_id="central"), TAGS, tmp_path)
        await edge.start()
        try:
            edge.submit(samples(2))
            await asyncio.sleep(0.5)
            assert rec.of("NBIRTH") == [], "born before the primary host said online"
            now = datetime.now(UTC)
            await rec.state("central", True, now)
            await rec.wait_for(lambda s: len(rec.of("NBIRTH")) == 1)
            # what was spooled before the birth comes as history
            await rec.wait_for(lambda s: sum(len(x.decoded().metrics) for x in rec.of("NDATA")) == 2)
            assert all(m.is_historical for x in rec.of("NDATA") for m in x.decoded().metrics)
            edge.submit(samples(2, 2))
            await rec.wait_for(lambda s: sum(len(x.decoded().metrics) for x in rec.of("NDATA")) == 4)
            live = [m for x in rec.of("NDATA")[-1:] for m in x.decoded().metrics]
            assert [m.is_historical for m in live] == [False, False]

            await rec.state("central", False, now + timedelta(seconds=1))
            await rec.wait_for(lambda s: len(rec.of("NDEATH")) == 1)
            death = rec.of("NDEATH")[0].decoded()
            birth = rec.of("NBIRTH")[0].decoded()
            assert [m.value for m in death.metrics if m.name == "bdSeq"] == \
                [m.value for m in birth.metrics if m.name == "bdSeq"]
            sent_before = len(rec.of("NDATA"))
            edge.submit(samples(4, 4))
            await asyncio.sleep(0.5)
            assert len(rec.of("NDATA")) == sent_before, "published while the host was offline"

            await rec.state("central", True, now + timedelta(seconds=2))
            await rec.wait_for(lambda s: len(rec.of("NBIRTH")) == 2)
            rebirth = rec.of("NBIRTH")[1].decoded()
            assert [m.value for m in rebirth.metrics if m.name == "bdSeq"] == [1.0]  # a new session
            # the replay window first — 0, 1 replayed from the spool and 2, 3 sent live just before the host left:
            # it may not have stored them — then what was spooled while it was away
            await rec.wait_for(lambda s: sum(len(x.decoded().metrics) for x in rec.of("NDATA")) == 12)
            replay = [m for x in rec.of("NDATA")[sent_before:] for m in x.decoded().metrics]
            assert [(m.value, m.is_historical) for m in replay] == [(float(i), True) for i in range(8)]
        finally:
            await edge.stop()


async def test_no_replay_window_when_configured_off(broker: MosquittoBroker, tmp_path: Path) -> None:
    async with recording(broker.port) as rec:
        edge = SparkplugEdge(uplink(broker, primary_host_id="central", replay_window_s=0), TAGS, tmp_path)
        await edge.start()
        try:
            now = datetime.now(UTC)
            await rec.state("central", True, now)
            await rec.wait_for(lambda s: len(rec.of("NBIRTH")) == 1)
            edge.submit(samples(2))
            await rec.wait_for(lambda s: len(rec.of("NDATA")) == 1)
            await rec.state("central", False, now + timedelta(seconds=1))
            await rec.wait_for(lambda s: len(rec.of("NDEATH")) == 1)
            edge.submit(samples(1, 2))
            await asyncio.sleep(0.3)
            await rec.state("central", True, now + timedelta(seconds=2))
            await rec.wait_for(lambda s: len(rec.of("NBIRTH")) == 2)
            await asyncio.sleep(0.5)
            replay = [m for x in rec.of("NDATA")[1:] for m in x.decoded().metrics]
            assert [(m.value, m.is_historical) for m in replay] == [(2.0, True)]
        finally:
            await edge.stop()


async def test_broker_outage_spools_and_replays_in_order(broker: MosquittoBroker, tmp_path: Path) -> None:
    edge = SparkplugEdge(uplink(broker, reconnect_max_delay_s=0.5), TAGS, tmp_path)
    await edge.start()
    try:
        async with recording(broker.port) as rec:
            await rec.wait_for(lambda s: len(rec.of("NBIRTH")) >= 1, within=10)
        broker.kill()
        for i in range(5):
            edge.submit(samples(2, 2 * i))
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.3)
        assert edge.status().spool_pending_rows == 10
        broker.start()
        async with recording(broker.port) as rec:
            await rec.wait_for(lambda s: sum(len(x.decoded().metrics) for x in rec.of("NDATA")) == 10, within=15)
            got = [(m.value, m.is_historical) for x in rec.of("NDATA") for m in x.decoded().metrics]
            assert got == [(float(i), True) for i in range(10)]
    finally:
        await edge.stop()


async def test_stop_spools_what_is_pending_and_the_next_start_replays_it(broker: MosquittoBroker,
                                                                        tmp_path: Path) -> None:
    cfg = uplink(broker, brokers=["mqtt://127.0.0.1:1"])  # nothing listens: all goes to the spool
    edge = SparkplugEdge(cfg, TAGS, tmp_path)
    await edge.start()
    edge.submit(samples(3))
    await edge.stop()
    async with recording(broker.port) as rec:
        edge = SparkplugEdge(uplink(broker), TAGS, tmp_path)
        await edge.start()
        try:
            await rec.wait_for(lambda s: sum(len(x.decoded().metrics) for x in rec.of("NDATA")) == 3)
            assert [m.value for x in rec.of("NDATA") for m in x.decoded().metrics] == [0.0, 1.0, 2.0]
        finally:
            await edge.stop()


@pytest.mark.parametrize("missing", ["username_env", "password_env"])
def test_credentials_named_by_an_unset_variable_are_a_clear_error(broker: MosquittoBroker, tmp_path: Path,
                                                                  missing: str) -> None:
    with pytest.raises(ValueError, match=f"uplink.{missing} names the environment variable NOT_SET_X"):
        SparkplugEdge(uplink(broker, **{missing: "NOT_SET_X"}), TAGS, tmp_path)
