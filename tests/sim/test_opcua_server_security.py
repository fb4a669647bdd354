"""OPC UA security of the simulated PLC: Basic256Sha256 with user/password works, the rest is refused."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from asyncua import Client, ua
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from cryptography.x509.oid import ExtendedKeyUsageOID

from sim.facade import SimulatedPlc

PLANT_FILE = Path(__file__).resolve().parents[2] / "examples" / "plant.yaml"

pytestmark = pytest.mark.anyio
CLIENT_URI = "urn:plantctl:tests:sim-client"
USER, PASSWORD = "operator", "correct horse battery"
AIT_101 = "ns=2;s=Plant.T101.AIT-101"


@pytest.fixture(scope="module")
async def secure_plc(plc_factory: Callable[..., SimulatedPlc]) -> AsyncIterator[SimulatedPlc]:
    async with plc_factory(require_security=True, users={USER: PASSWORD}, watchdog_timeout_s=0) as sim:
        await sim.pause()
        yield sim


@pytest.fixture(scope="module")
async def client_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("client-pki")
    cert, key = d / "client-cert.der", d / "client-key.pem"
    await setup_self_signed_certificate(key, cert, CLIENT_URI, socket.gethostname(),
                                        [ExtendedKeyUsageOID.CLIENT_AUTH], {"commonName": "plantctl test client"})
    return cert, key


async def secure_client(plc: SimulatedPlc, cert: tuple[Path, Path], mode: str, user: str | None,
                        password: str | None) -> Client:
    client = Client(plc.opcua_endpoint, timeout=5)
    client.application_uri = CLIENT_URI
    await client.set_security_string(f"Basic256Sha256,{mode},{cert[0]},{cert[1]}")
    if user is not None:
        client.set_user(user)
    if password is not None:
        client.set_password(password)
    return client


@pytest.mark.parametrize("mode", ["SignAndEncrypt", "Sign"])
async def test_basic256sha256_session_with_user_and_password_reads_and_writes(
        secure_plc: SimulatedPlc, client_cert: tuple[Path, Path], mode: str) -> None:
    client = await secure_client(secure_plc, client_cert, mode, USER, PASSWORD)
    async with client:
        dv = await client.get_node(AIT_101).read_data_value()
        assert dv.StatusCode.is_good() and 0 < dv.Value.Value < 14
        await client.get_node("ns=2;s=Plant.P201.SP").write_value(ua.DataValue(ua.Variant(21.0, ua.VariantType.Float)))
    assert secure_plc.model.commanded()["P-201.SP"] == 21.0


async def test_endpoints_offer_no_none_security(secure_plc: SimulatedPlc) -> None:
    client = Client(secure_plc.opcua_endpoint, timeout=5)
    endpoints = await client.connect_and_get_server_endpoints()
    modes = {e.SecurityMode for e in endpoints}
    assert ua.MessageSecurityMode.None_ not in modes
    assert modes == {ua.MessageSecurityMode.Sign, ua.MessageSecurityMode.SignAndEncrypt}
    for e in endpoints:
        assert [t.TokenType for t in e.UserIdentityTokens] == [ua.UserTokenType.UserName]


async def test_none_security_client_finds_no_endpoint(secure_plc: SimulatedPlc) -> None:
    client = Client(secure_plc.opcua_endpoint, timeout=5)
    client.set_user(USER)
    client.set_password(PASSWORD)
    with pytest.raises(ua.UaError, match="No matching endpoints"):
        async with client:
            await client.get_node(AIT_101).read_value()


async def test_regression_session_on_an_unsecured_channel_is_refused_even_with_the_right_password(
        secure_plc: SimulatedPlc) -> None:
    """asyncua opens None channels for discovery and, left alone, activates sessions on them."""
    client = Client(secure_plc.opcua_endpoint, timeout=5)
    await client.connect_socket()
    try:
        await client.send_hello()
        await client.open_secure_channel()  # SecurityPolicy None, as discovery allows (Part 4 §5.4)
        params = ua.CreateSessionParameters()
        params.ClientDescription = ua.ApplicationDescription(ApplicationUri=CLIENT_URI,
                                                             ApplicationType=ua.ApplicationType.Client)
        params.EndpointUrl = secure_plc.opcua_endpoint
        params.SessionName = "bypass"
        params.RequestedSessionTimeout = 60000
        params.ClientNonce = b"n" * 32
        await client.uaclient.create_session(params)
        activate = ua.ActivateSessionParameters()
        activate.UserIdentityToken = ua.UserNameIdentityToken(
            UserName=USER, Password=PASSWORD.encode(), PolicyId="username")
        with pytest.raises(ua.uaerrors.BadUserAccessDenied):
            await client.uaclient.activate_session(activate)
        with pytest.raises(ua.UaError):
            await client.uaclient.read_attributes([ua.NodeId.from_string(AIT_101)], ua.AttributeIds.Value)
    finally:
        client.disconnect_socket()


async def test_wrong_password_is_refused(secure_plc: SimulatedPlc, client_cert: tuple[Path, Path]) -> None:
    client = await secure_client(secure_plc, client_cert, "SignAndEncrypt", USER, "wrong")
    with pytest.raises(ua.uaerrors.BadUserAccessDenied):
        async with client:
            await client.get_node(AIT_101).read_value()


async def test_anonymous_is_refused_even_over_an_encrypted_channel(
        secure_plc: SimulatedPlc, client_cert: tuple[Path, Path]) -> None:
    client = await secure_client(secure_plc, client_cert, "SignAndEncrypt", None, None)
    with pytest.raises((ua.uaerrors.BadIdentityTokenRejected, ua.uaerrors.BadIdentityTokenInvalid,
                        ua.uaerrors.BadUserAccessDenied)):
        async with client:
            await client.get_node(AIT_101).read_value()


async def test_security_required_without_users_is_a_clear_error(plc_factory: Callable[..., SimulatedPlc],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLANTCTL_SIM_USERS", raising=False)
    sim = plc_factory(require_security=True, users={})
    with pytest.raises(ValueError, match="no users are configured"):
        await sim.start()
    await sim.stop()


async def test_with_a_trust_list_only_listed_client_certificates_get_in(
        plc_factory: Callable[..., SimulatedPlc], client_cert: tuple[Path, Path],
        tmp_path_factory: pytest.TempPathFactory) -> None:
    trusted = tmp_path_factory.mktemp("trusted-clients")
    other = tmp_path_factory.mktemp("other-client")
    await setup_self_signed_certificate(other / "key.pem", trusted / "someone-else.der", "urn:someone:else",
                                        socket.gethostname(), [ExtendedKeyUsageOID.CLIENT_AUTH],
                                        {"commonName": "someone else"})
    async with plc_factory(require_security=True, users={USER: PASSWORD}, trusted_clients_dir=trusted,
                           watchdog_timeout_s=0) as sim:
        client = await secure_client(sim, client_cert, "SignAndEncrypt", USER, PASSWORD)
        with pytest.raises(ua.uaerrors.BadCertificateUntrusted):
            async with client:
                await client.get_node(AIT_101).read_value()
    (trusted / "client.der").write_bytes(client_cert[0].read_bytes())
    async with plc_factory(require_security=True, users={USER: PASSWORD}, trusted_clients_dir=trusted,
                           watchdog_timeout_s=0) as sim:
        client = await secure_client(sim, client_cert, "SignAndEncrypt", USER, PASSWORD)
        async with client:
            assert 0 < await client.get_node(AIT_101).read_value() < 14


async def test_the_plant_files_connector_user_can_log_in(
        tmp_path: Path, client_cert: tuple[Path, Path], shelf_file: Path, sim_state_dir: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    plant = tmp_path / "plant.yaml"
    plant.write_text(PLANT_FILE.read_text(encoding="utf-8").replace(
        "    heartbeat_tag: PLC-1.WATCHDOG.OPCUA\n",
        "    heartbeat_tag: PLC-1.WATCHDOG.OPCUA\n    username_env: SIM_TEST_OPCUA_USER\n"
        "    password_env: SIM_TEST_OPCUA_PASSWORD\n", 1), encoding="utf-8")
    monkeypatch.setenv("SIM_TEST_OPCUA_USER", "historian")
    monkeypatch.setenv("SIM_TEST_OPCUA_PASSWORD", "from the environment")
    monkeypatch.delenv("PLANTCTL_SIM_USERS", raising=False)
    async with SimulatedPlc(plant, opcua_port=0, modbus_port=0, require_security=True, state_dir=sim_state_dir,
                            shelf_file=shelf_file, watchdog_timeout_s=0) as sim:
        client = await secure_client(sim, client_cert, "SignAndEncrypt", "historian", "from the environment")
        async with client:
            assert 0 < await client.get_node(AIT_101).read_value() < 14
