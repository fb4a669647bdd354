"""OPC UA source against a real asyncua server over loopback."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from asyncua import ua

from connectors.opcua.config import OpcUaSourceConfig
from connectors.opcua.source import OpcUaSource
from plantctl.config.models import TagConfig
from plantctl.plantfile import tag_config
from plantctl.quality import Quality
from plantctl.samples import Sample
from tests.connectors.modbus_server import wait_until
from tests.connectors.opcua_server import opcua_server

pytestmark = pytest.mark.anyio

NS = "ns=2;s=Plant.T101."


def source_config(endpoint: str, **kw: Any) -> OpcUaSourceConfig:
    return OpcUaSourceConfig.model_validate(
        {
            "kind": "opcua",
            "name": "PLC-UA",
            "endpoint": endpoint,
            "connect_timeout_s": 2.0,
            "reconnect_max_delay_s": 0.5,
            **kw,
        }
    )


def utag(
    name: str, node: str, *, period: float = 0.2, poll: bool = False, low: float = 0, high: float = 100, **extra: Any
) -> TagConfig:
    address: dict[str, Any] = {"node_id": node if node.startswith("ns=") else NS + node}
    if poll:
        address["acquisition"] = "poll"
    return tag_config(
        {
            "name": name,
            "unit": "pH",
            "range": {"low": low, "high": high},
            "source": "PLC-UA",
            "opcua": address,
            "scan_period_s": period,
            **extra,
        }
    )


class Collector:
    def __init__(self) -> None:
        self.samples: list[Sample] = []
        self.batches = 0

    def __call__(self, batch: list[Sample]) -> None:
        self.batches += 1
        self.samples.extend(batch)

    def last(self, tag: str) -> Sample | None:
        return next((s for s in reversed(self.samples) if s.tag == tag), None)

    def has(self, tag: str, quality: Quality, value: float | None = None) -> bool:
        s = self.last(tag)
        return s is not None and s.quality is quality and (value is None or s.value == value)


async def test_subscribed_values_carry_status_reason_and_source_timestamp() -> None:
    async with opcua_server() as plc:
        got = Collector()
        tags = [
            utag("AIT-101", "AIT-101"),
            utag("CIT-101", "CIT-101", poll=True),
            utag("MODE", "Mode"),
            utag("GHOST", "Ghost"),
        ]
        source = OpcUaSource(source_config(plc.endpoint), tags, got)
        await source.start()
        try:
            await wait_until(
                lambda: got.has("AIT-101", Quality.GOOD, 7.25) and got.has("CIT-101", Quality.GOOD, 12.5),
                5,
                "first values",
            )
            stamp = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)
            await plc.nodes["AIT-101"].write_value(
                ua.DataValue(ua.Variant(7.5, ua.VariantType.Float), SourceTimestamp=stamp)
            )
            await wait_until(lambda: got.has("AIT-101", Quality.GOOD, 7.5), 3, "a data change")
            assert got.last("AIT-101").ts == stamp  # type: ignore[union-attr]

            await plc.set("AIT-101", None, ua.StatusCodes.BadSensorFailure)
            await wait_until(lambda: got.has("AIT-101", Quality.BAD_SENSOR_FAILURE), 3, "sensor failure")
            assert got.last("AIT-101").reason.startswith("BadSensorFailure")  # type: ignore[union-attr]

            await plc.set("AIT-101", 6.5, ua.StatusCodes.UncertainSensorNotAccurate)
            await wait_until(
                lambda: got.has("AIT-101", Quality.UNCERTAIN_SENSOR_NOT_ACCURATE, 6.5), 3, "uncertain value"
            )

            await plc.set("CIT-101", 13.0)
            await wait_until(lambda: got.has("CIT-101", Quality.GOOD, 13.0), 3, "polled change")
        finally:
            await source.stop()
    assert got.has("MODE", Quality.BAD_CONFIG_ERROR) and "not a number" in got.last("MODE").reason  # type: ignore[union-attr]
    assert got.has("GHOST", Quality.BAD_CONFIG_ERROR)
    assert "BadNodeIdUnknown" in got.last("GHOST").reason  # type: ignore[union-attr]
    assert all(s.ts.tzinfo is not None and s.ts.utcoffset().total_seconds() == 0 for s in got.samples)  # type: ignore[union-attr]


async def test_a_change_is_published_within_a_quarter_scan_not_a_whole_scan() -> None:
    """Issue 20: the subscription publishes 4 times a scan by default, so a change written just after a publish
    arrives within ~scan/4, not after the rest of the scan (live p99 was 1.5 s at 1 s scans)."""
    async with opcua_server() as plc:
        got = Collector()
        source = OpcUaSource(source_config(plc.endpoint), [utag("LIT-101", "LIT-101", period=2.0)], got)
        await source.start()
        loop = asyncio.get_running_loop()
        delays = []
        try:
            await wait_until(lambda: got.has("LIT-101", Quality.GOOD, 55.0), 8, "first value")
            for value in (56.0, 57.0, 58.0):
                await asyncio.sleep(0.1)  # just after the publish that brought the last value
                written = loop.time()
                await plc.set("LIT-101", value)
                await wait_until(lambda v=value: got.has("LIT-101", Quality.GOOD, v), 5, f"value {value}")  # type: ignore[misc]
                delays.append(loop.time() - written)
        finally:
            await source.stop()
    assert max(delays) < 1.0, f"changes took {delays} s to arrive at a 2 s scan (publishing interval 0.5 s)"


async def test_absolute_deadband_is_applied_by_the_server() -> None:
    async with opcua_server() as plc:
        got = Collector()
        source = OpcUaSource(source_config(plc.endpoint), [utag("LIT-101", "LIT-101", deadband=1.0)], got)
        await source.start()
        try:
            await wait_until(lambda: got.has("LIT-101", Quality.GOOD, 55.0), 5, "first value")
            for value in (55.3, 55.6, 55.9):  # each within 1.0 of the last reported 55.0
                await plc.set("LIT-101", value)
                await asyncio.sleep(0.3)
            await plc.set("LIT-101", 57.0)
            await wait_until(lambda: got.has("LIT-101", Quality.GOOD, 57.0), 3, "a change > deadband")
        finally:
            await source.stop()
    assert [s.value for s in got.samples] == [55.0, 57.0]


async def test_server_loss_turns_tags_bad_once_and_subscriptions_come_back() -> None:
    period = 0.5
    async with opcua_server() as plc:
        got = Collector()
        tags = [utag("AIT-101", "AIT-101", period=period), utag("CIT-101", "CIT-101", period=period, poll=True)]
        source = OpcUaSource(source_config(plc.endpoint), tags, got)
        await source.start()
        try:
            await wait_until(
                lambda: got.has("AIT-101", Quality.GOOD) and got.has("CIT-101", Quality.GOOD), 5, "first values"
            )
            loop = asyncio.get_running_loop()
            stop = asyncio.create_task(plc.stop())  # asyncua's server.stop() lingers ~1 s
            killed = loop.time()
            await wait_until(
                lambda: got.has("AIT-101", Quality.BAD_NOT_CONNECTED) and got.has("CIT-101", Quality.BAD_NOT_CONNECTED),
                2 * period + 0.5,
                "Bad within two scan periods",
            )
            assert loop.time() - killed <= 2 * period + 0.5
            mark = len(got.samples) - 2
            await stop
            await asyncio.sleep(1.0)
            outage = got.samples[mark:]
            assert sorted(s.tag for s in outage) == ["AIT-101", "CIT-101"]
            assert all(s.quality is Quality.BAD_NOT_CONNECTED and s.reason for s in outage)
            assert not source.health().connected

            await plc.start()
            restarted = loop.time()
            await wait_until(lambda: got.has("AIT-101", Quality.GOOD), 5, "subscription restored")
            assert loop.time() - restarted < 5
            await plc.set("AIT-101", 8.0)
            await wait_until(lambda: got.has("AIT-101", Quality.GOOD, 8.0), 3, "new data changes")
            assert source.health().reconnect_count == 1
        finally:
            await source.stop()


async def test_writes_typed_read_back_refused_locally_and_by_the_server() -> None:
    async with opcua_server() as plc:
        tags = [
            utag("P-201.SP", "P-201.SP", writable=True),
            utag("P-201.RUN", "P-201.RUN", low=0, high=1, writable=True),
            utag("AIT-101", "AIT-101"),
        ]
        source = OpcUaSource(source_config(plc.endpoint), tags, Collector())
        await source.start()
        try:
            await wait_until(lambda: source.health().connected, 5, "connected")
            ok = await source.write("P-201.SP", 42.5)  # a Float node: a Double would be refused
            assert ok.accepted and ok.value_read_back == 42.5, ok
            dv = await plc.nodes["P-201.SP"].read_data_value()
            assert dv.Value.VariantType is ua.VariantType.Float and dv.Value.Value == 42.5
            run = await source.write("P-201.RUN", 1)
            assert run.accepted and run.value_read_back == 1.0
            assert await plc.nodes["P-201.RUN"].read_value() is True

            local = await source.write("P-201.SP", 120)
            assert not local.accepted and "outside its range" in local.reason
            assert await plc.nodes["P-201.SP"].read_value() == 42.5
            refused = await source.write("P-201.SP", 95)  # the PLC limits it to 90
            assert not refused.accepted
            assert refused.reason.startswith("device refused: BadOutOfRange")
            read_only = await source.write("AIT-101", 7)
            assert not read_only.accepted and "not writable" in read_only.reason
        finally:
            await source.stop()


async def test_heartbeat_and_several_sessions() -> None:
    async with opcua_server() as plc:
        got = Collector()
        tags = [
            utag("HB", "ns=2;s=Plant.Supervisor.Heartbeat", high=65535, writable=True, poll=True, period=5),
            utag("AIT-101", "AIT-101"),
            utag("CIT-101", "CIT-101"),
            utag("LIT-101", "LIT-101"),
        ]
        cfg = source_config(plc.endpoint, sessions=3, heartbeat_tag="HB", heartbeat_period_s=0.1)
        source = OpcUaSource(cfg, tags, got)
        await source.start()
        try:
            await wait_until(
                lambda: all(got.has(t, Quality.GOOD) for t in ("AIT-101", "CIT-101", "LIT-101")), 5, "values"
            )
            assert len(plc.server.iserver.subscription_service.subscriptions) == 3  # type: ignore[union-attr]
            first = await plc.nodes["HEARTBEAT"].read_value()
            await asyncio.sleep(0.6)
            later = await plc.nodes["HEARTBEAT"].read_value()
            assert later - first >= 3, (first, later)
        finally:
            await source.stop()


# --- security ------------------------------------------------------------------------------


def trust(plc_cert: Path, pki: Path) -> None:
    (pki / "trusted").mkdir(parents=True, exist_ok=True)
    (pki / "trusted" / "plc.der").write_bytes(plc_cert.read_bytes())


@pytest.fixture
def secured_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLC_USER", "operator")
    monkeypatch.setenv("PLC_PASSWORD", "s3cret-pH")


async def test_sign_and_encrypt_with_user_and_password(tmp_path: Path, secured_env: None) -> None:
    async with opcua_server(pki=tmp_path / "server", user=("operator", "s3cret-pH")) as plc:
        assert plc.server_cert is not None
        pki = tmp_path / "client"
        trust(plc.server_cert, pki)
        got = Collector()
        cfg = source_config(
            plc.endpoint,
            security={"mode": "SignAndEncrypt", "policy": "Basic256Sha256"},
            username_env="PLC_USER",
            password_env="PLC_PASSWORD",
            pki_dir=str(pki),
        )
        source = OpcUaSource(cfg, [utag("AIT-101", "AIT-101"), utag("P-201.SP", "P-201.SP", writable=True)], got)
        await source.start()
        try:
            await wait_until(lambda: got.has("AIT-101", Quality.GOOD, 7.25), 8, "secured values")
            ok = await source.write("P-201.SP", 12.0)
            assert ok.accepted and ok.value_read_back == 12.0
        finally:
            await source.stop()
    assert (pki / "own" / "cert.der").is_file() and (pki / "own" / "key.pem").is_file()


@pytest.mark.parametrize("problem", ["wrong password", "untrusted server"])
async def test_security_failures_are_clear_and_quick(
    tmp_path: Path, secured_env: None, monkeypatch: pytest.MonkeyPatch, problem: str
) -> None:
    async with opcua_server(pki=tmp_path / "server", user=("operator", "s3cret-pH")) as plc:
        assert plc.server_cert is not None
        pki = tmp_path / "client"
        if problem == "wrong password":
            trust(plc.server_cert, pki)
            monkeypatch.setenv("PLC_PASSWORD", "guess")
        got = Collector()
        cfg = source_config(
            plc.endpoint,
            security={"mode": "SignAndEncrypt", "policy": "Basic256Sha256"},
            username_env="PLC_USER",
            password_env="PLC_PASSWORD",
            pki_dir=str(pki),
        )
        source = OpcUaSource(cfg, [utag("AIT-101", "AIT-101")], got)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await source.start()
        try:
            await wait_until(
                lambda: source.health().last_error is not None and got.has("AIT-101", Quality.BAD_NOT_CONNECTED),
                cfg.connect_timeout_s + 0.5,
                "a clear error and Bad tags",
            )
            assert loop.time() - started <= cfg.connect_timeout_s + 0.5
            error = source.health().last_error or ""
            if problem == "wrong password":
                assert "rejected the user name or password" in error, error
            else:
                assert "server certificate is not trusted" in error and "SHA-256" in error, error
            assert got.has("AIT-101", Quality.BAD_NOT_CONNECTED)
            assert not any(s.quality.is_good for s in got.samples)
        finally:
            await source.stop()


async def test_trust_on_first_use_stores_the_server_certificate(tmp_path: Path) -> None:
    async with opcua_server(pki=tmp_path / "server") as plc:
        assert plc.server_cert is not None
        pki = tmp_path / "client"
        got = Collector()
        cfg = source_config(
            plc.endpoint,
            security={"mode": "Sign", "policy": "Basic256Sha256"},
            pki_dir=str(pki),
            trust_on_first_use=True,
        )
        source = OpcUaSource(cfg, [utag("AIT-101", "AIT-101")], got)
        await source.start()
        try:
            await wait_until(lambda: got.has("AIT-101", Quality.GOOD), 8, "values after TOFU")
        finally:
            await source.stop()
        stored = list((pki / "trusted").iterdir())
        assert len(stored) == 1 and stored[0].read_bytes() == plc.server_cert.read_bytes()


async def test_regression_unreadable_client_key_is_a_reported_error_not_a_dead_task(tmp_path: Path) -> None:
    async with opcua_server(pki=tmp_path / "server") as plc:
        own = tmp_path / "client" / "own"
        own.mkdir(parents=True)
        (own / "key.pem").write_text("not a key")
        (own / "cert.der").write_bytes(b"not a certificate")
        cfg = source_config(
            plc.endpoint,
            security={"mode": "Sign", "policy": "Basic256Sha256"},
            pki_dir=str(tmp_path / "client"),
            trust_on_first_use=True,
        )
        source = OpcUaSource(cfg, [utag("AIT-101", "AIT-101")], Collector())
        await source.start()
        try:
            await wait_until(lambda: source.health().last_error is not None, 3, "an error")
            assert "is unreadable" in (source.health().last_error or "")
            assert source.supervisor.running, "acquisition keeps retrying"
        finally:
            await source.stop()
