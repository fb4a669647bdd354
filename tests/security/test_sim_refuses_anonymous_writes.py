"""The simulated PLC with require_security: no write arrives over a None channel or without a user.

And, as a control, the lab default (require_security off) does accept an anonymous None write — so
the refusals below are the hardening's doing, not a broken write path.
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from asyncua import Client, ua
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from cryptography.x509.oid import ExtendedKeyUsageOID

from sim.facade import SimulatedPlc
from sim.facade.runner import default_shelf_file

pytestmark = pytest.mark.anyio
PLANT_FILE = Path(__file__).resolve().parents[2] / "examples" / "plant.yaml"
SP_NODE = "ns=2;s=Plant.P201.SP"
CLIENT_URI = "urn:plantctl:tests:security-client"
USER, PASSWORD = "operator", "Tq7#vR2m!pL9xZ"


@pytest.fixture
def make_plc(tmp_path: Path) -> Callable[..., SimulatedPlc]:
    shelf = default_shelf_file(Path(tempfile.gettempdir()) / f"plantctl-sim-tests-{os.getuid()}")

    def make(**kw: Any) -> SimulatedPlc:
        return SimulatedPlc(PLANT_FILE, opcua_port=0, modbus_port=0, state_dir=tmp_path / "sim", shelf_file=shelf,
                            watchdog_timeout_s=0, **kw)
    return make


def setpoint(value: float) -> ua.DataValue:
    return ua.DataValue(ua.Variant(value, ua.VariantType.Float))


async def test_lab_default_accepts_an_anonymous_none_write(make_plc: Callable[..., SimulatedPlc]) -> None:
    async with make_plc() as sim:
        await sim.pause()
        async with Client(sim.opcua_endpoint, timeout=5) as client:
            await client.get_node(SP_NODE).write_value(setpoint(17.0))
        assert sim.model.commanded()["P-201.SP"] == 17.0


async def test_secured_plc_takes_no_anonymous_or_none_channel_write(make_plc: Callable[..., SimulatedPlc],
                                                                     tmp_path: Path) -> None:
    cert, key = tmp_path / "client-cert.der", tmp_path / "client-key.pem"
    await setup_self_signed_certificate(key, cert, CLIENT_URI, socket.gethostname(),
                                        [ExtendedKeyUsageOID.CLIENT_AUTH], {"commonName": "security test client"})
    async with make_plc(require_security=True, users={USER: PASSWORD}) as sim:
        await sim.pause()
        before = sim.model.commanded()["P-201.SP"]

        # 1. None channel, anonymous: no endpoint offers it
        with pytest.raises(ua.UaError):
            async with Client(sim.opcua_endpoint, timeout=5) as client:
                await client.get_node(SP_NODE).write_value(setpoint(before + 5))

        # 2. None channel opened by hand (as discovery allows), anonymous session: activation refused, write fails
        raw = Client(sim.opcua_endpoint, timeout=5)
        await raw.connect_socket()
        try:
            await raw.send_hello()
            await raw.open_secure_channel()
            params = ua.CreateSessionParameters()
            params.ClientDescription = ua.ApplicationDescription(ApplicationUri=CLIENT_URI,
                                                                 ApplicationType=ua.ApplicationType.Client)
            params.EndpointUrl = sim.opcua_endpoint
            params.SessionName = "anonymous-write"
            params.RequestedSessionTimeout = 60000
            params.ClientNonce = b"n" * 32
            await raw.uaclient.create_session(params)
            activate = ua.ActivateSessionParameters()
            activate.UserIdentityToken = ua.AnonymousIdentityToken(PolicyId="anonymous")
            with pytest.raises(ua.UaError):
                await raw.uaclient.activate_session(activate)
            write = ua.WriteValue()
            write.NodeId = ua.NodeId.from_string(SP_NODE)
            write.AttributeId = ua.AttributeIds.Value
            write.Value = setpoint(before + 6)
            params_w = ua.WriteParameters()
            params_w.NodesToWrite = [write]
            with pytest.raises(ua.UaError):  # a service fault (session not activated)
                await raw.uaclient.write(params_w)
        finally:
            raw.disconnect_socket()

        # 3. SignAndEncrypt channel but no user: identity refused
        client = Client(sim.opcua_endpoint, timeout=5)
        client.application_uri = CLIENT_URI
        await client.set_security_string(f"Basic256Sha256,SignAndEncrypt,{cert},{key}")
        with pytest.raises(ua.UaError):
            async with client:
                await client.get_node(SP_NODE).write_value(setpoint(before + 7))

        assert sim.model.commanded()["P-201.SP"] == before, "a refused client changed the setpoint"
