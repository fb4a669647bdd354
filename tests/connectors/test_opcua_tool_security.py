"""Issue 17 problem 2: browse (and probe) reach a secured server with flags, and trust its certificate only once
the engineer confirmed its SHA-256 thumbprint, storing it where the service's source looks (the simulated PLC
with --require-security, over loopback)."""

from __future__ import annotations

import io
import os
import re
import socket
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from cryptography.x509.oid import ExtendedKeyUsageOID

from connectors.opcua.browse import BrowseError, browse
from connectors.opcua.config import OpcUaSourceConfig, SecurityMode, SecurityPolicy
from connectors.opcua.security import SecuritySetupError, trusted_fingerprints
from connectors.opcua.source import OpcUaSource
from connectors.opcua.tool_session import SecurityFlags, engineer_confirms, session_config
from plantctl.quality import Quality
from sim.facade import SimulatedPlc
from sim.facade.runner import default_shelf_file
from tests.connectors.modbus_server import wait_until
from tests.connectors.test_opcua_probe import AIT, plantctl
from tests.connectors.test_opcua_source import Collector, utag

pytestmark = pytest.mark.anyio
REPO = Path(__file__).resolve().parents[2]
SHELF = default_shelf_file(Path(tempfile.gettempdir()) / f"plantctl-sim-tests-{os.getuid()}")
USER, PASSWORD = "engineer", "Vb4!kQ9z#Lm2"
ENV = {"UA_USER": USER, "UA_PASSWORD": PASSWORD}
SECURED = ["--security-mode", "SignAndEncrypt", "--username-env", "UA_USER", "--password-env", "UA_PASSWORD"]


@pytest.fixture
async def secured_plc(tmp_path: Path) -> AsyncIterator[SimulatedPlc]:
    sim = SimulatedPlc(REPO / "examples" / "plant.yaml", opcua_port=0, modbus_port=0, state_dir=tmp_path / "sim",
                       shelf_file=SHELF, watchdog_timeout_s=0, require_security=True, users={USER: PASSWORD})
    async with sim:
        yield sim


async def test_browse_asks_for_the_thumbprint_and_stores_the_certificate_where_the_source_trusts_it(
        secured_plc: SimulatedPlc, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pki = tmp_path / "pki" / "PLC-UA"
    endpoint = secured_plc.opcua_endpoint
    args = ["browse", endpoint, "--source", "PLC-UA", "--pki-dir", str(pki), *SECURED]

    code, out, err = await plantctl(*args, env=ENV)  # no terminal: nobody can answer, so it must not trust
    assert code == 2, (out, err)
    found = re.search(r"--trust-thumbprint ([0-9a-f]{64})", err)
    assert found is not None and "SHA-256 thumbprint" in err, err
    thumbprint = found.group(1)
    assert not trusted_fingerprints(pki / "trusted")

    code, out, err = await plantctl(*args, "--trust-thumbprint", "00" * 32, env=ENV)
    assert code == 2 and "does not match --trust-thumbprint" in err, err
    assert not trusted_fingerprints(pki / "trusted")

    spaced = ":".join(thumbprint[i:i + 2] for i in range(0, 64, 2)).upper()  # as a PLC's web page shows it
    code, out, err = await plantctl(*args, "--trust-thumbprint", spaced, env=ENV)
    assert code == 0, (out, err)
    assert AIT in out, out
    assert trusted_fingerprints(pki / "trusted") == {thumbprint}

    code, out, err = await plantctl(*args, env=ENV)  # trusted now: no question asked
    assert code == 0 and AIT in out, err

    # the service's source with the same pki_dir and no trust_on_first_use accepts the server: same trust list
    cfg = OpcUaSourceConfig.model_validate({
        "kind": "opcua", "name": "PLC-UA", "endpoint": endpoint, "pki_dir": str(pki),
        "security": {"mode": "SignAndEncrypt", "policy": "Basic256Sha256"},
        "username_env": "UA_USER", "password_env": "UA_PASSWORD"})
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    got = Collector()
    source = OpcUaSource(cfg, [utag("AIT-101", "AIT-101", poll=True, period=0.2)], got)
    await source.start()
    try:
        await wait_until(lambda: got.last("AIT-101") is not None, 10, "a read through the trusted session")
    finally:
        await source.stop()
    last = got.last("AIT-101")
    assert last is not None and last.quality is Quality.GOOD, last


@pytest.mark.parametrize(("answer", "trusted"), [("n\n", False), ("y\n", True)])
async def test_at_a_terminal_the_engineer_answers(secured_plc: SimulatedPlc, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                                 answer: str, trusted: bool) -> None:
    pki = tmp_path / "pki"
    monkeypatch.setenv("UA_USER", USER)
    monkeypatch.setenv("UA_PASSWORD", PASSWORD)
    monkeypatch.setattr("sys.stdin", io.StringIO(answer))
    cfg = OpcUaSourceConfig.model_validate({
        "kind": "opcua", "name": "PLC-UA", "endpoint": secured_plc.opcua_endpoint, "pki_dir": str(pki),
        "security": {"mode": "SignAndEncrypt", "policy": "Basic256Sha256"},
        "username_env": "UA_USER", "password_env": "UA_PASSWORD"})
    confirm = engineer_confirms(None, interactive=True)
    if trusted:
        found = await browse(cfg.endpoint, config=cfg, timeout_s=10, confirm=confirm)
        assert any(v.node_id == AIT for v in found)
        assert len(trusted_fingerprints(pki / "trusted")) == 1
    else:
        with pytest.raises(BrowseError, match="was not trusted"):
            await browse(cfg.endpoint, config=cfg, timeout_s=10, confirm=confirm)
        assert not trusted_fingerprints(pki / "trusted")
    assert "SHA-256 thumbprint" in capsys.readouterr().err


async def test_browse_with_the_engineers_own_certificate_and_key(secured_plc: SimulatedPlc, tmp_path: Path) -> None:
    cert, key = tmp_path / "me" / "cert.der", tmp_path / "me" / "key.pem"
    cert.parent.mkdir()
    await setup_self_signed_certificate(key, cert, "urn:example:field-laptop", socket.gethostname(),
                                        [ExtendedKeyUsageOID.CLIENT_AUTH], {"commonName": "field laptop"})
    pki = tmp_path / "pki"
    code, out, err = await plantctl(
        "browse", secured_plc.opcua_endpoint, "--pki-dir", str(pki), *SECURED, "--cert", str(cert), "--key", str(key),
        "--trust-thumbprint", await _thumbprint(secured_plc, pki), env=ENV)
    assert code == 0, (out, err)
    assert AIT in out
    assert not (pki / "own" / "cert.der").exists(), "our own certificate was used, none generated"

    code, out, err = await plantctl("browse", secured_plc.opcua_endpoint, "--pki-dir", str(pki), *SECURED,
                                    "--cert", str(cert), env=ENV)
    assert code == 2 and "--cert and --key go together" in err, err


async def _thumbprint(plc: SimulatedPlc, pki: Path) -> str:
    code, _out, err = await plantctl("browse", plc.opcua_endpoint, "--pki-dir", str(pki), *SECURED, env=ENV)
    found = re.search(r"--trust-thumbprint ([0-9a-f]{64})", err)
    assert code == 2 and found is not None, err
    return found.group(1)


def test_a_password_is_not_sent_in_clear_text_off_this_host() -> None:
    flags = SecurityFlags(username_env="UA_USER", password_env="UA_PASSWORD")
    with pytest.raises(SecuritySetupError, match="clear text"):
        session_config("opc.tcp://10.0.0.5:4840", "PLC-UA", flags)
    assert session_config("opc.tcp://10.0.0.5:4840", "PLC-UA", SecurityFlags()).allow_insecure, \
        "an anonymous look at a lab server is the engineer's choice"
    secured = session_config("opc.tcp://10.0.0.5:4840", "PLC-UA",
                             SecurityFlags(mode=SecurityMode.SIGN_AND_ENCRYPT, username_env="UA_USER",
                                           password_env="UA_PASSWORD"))
    assert secured.security.policy is SecurityPolicy.BASIC256SHA256
