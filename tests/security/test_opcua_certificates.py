"""The OPC UA client refuses an expired, not-yet-valid or revoked server certificate, even a trusted one.

OPC UA Part 4 §6.1.3 lists validity period and revocation among the checks a client makes of the
server's Application Instance Certificate. Each refusal is a clear error within the connect timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asyncua import ua
from asyncua.server.server import Server
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from connectors.opcua.config import OpcUaSourceConfig
from connectors.opcua.security import SecuritySetupError, check_validity
from connectors.opcua.source import OpcUaSource
from plantctl.config.models import TagConfig
from plantctl.plantfile import tag_config
from plantctl.quality import Quality
from plantctl.samples import Sample
from tests.connectors.modbus_server import wait_until
from tests.connectors.opcua_server import free_port, standard_address_space

pytestmark = pytest.mark.anyio
SERVER_URI = "urn:plantctl:tests:cert-plc"


def make_certificate(pki: Path, not_before: datetime, not_after: datetime) -> tuple[Path, Path, x509.Certificate,
                                                                                    rsa.RSAPrivateKey]:
    """A self-signed server certificate with the given validity window (written as DER + PEM key)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cert test PLC"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "plantctl tests")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(SERVER_URI),
                                                    x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=True, key_encipherment=True,
                                     data_encipherment=True, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    pki.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = pki / "server-cert.der", pki / "server-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                           serialization.NoEncryption()))
    return cert_path, key_path, cert, key


def revoke(cert: x509.Certificate, key: rsa.RSAPrivateKey, crl_dir: Path) -> None:
    """A CRL from the certificate's issuer (self-signed: itself) listing its serial, as PEM."""
    now = datetime.now(UTC)
    entry = x509.RevokedCertificateBuilder().serial_number(cert.serial_number).revocation_date(now).build()
    crl = (x509.CertificateRevocationListBuilder().issuer_name(cert.issuer).last_update(now)
           .next_update(now + timedelta(days=7)).add_revoked_certificate(entry).sign(key, hashes.SHA256()))
    crl_dir.mkdir(parents=True, exist_ok=True)
    (crl_dir / "plc.crl.pem").write_bytes(crl.public_bytes(serialization.Encoding.PEM))


@contextlib.asynccontextmanager
async def secured_server(cert: Path, key: Path) -> AsyncIterator[str]:
    """A real asyncua server offering only Basic256Sha256 with the given certificate."""
    server = Server()
    await server.init(shelf_file=await standard_address_space())
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}/plantctl/certs"
    server.set_endpoint(endpoint)
    await server.set_application_uri(SERVER_URI)
    await server.load_certificate(str(cert))
    await server.load_private_key(str(key))
    server.set_security_policy([ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt])
    await server.start()
    try:
        yield endpoint
    finally:
        await server.stop()


def config(endpoint: str, pki: Path) -> OpcUaSourceConfig:
    return OpcUaSourceConfig.model_validate({
        "kind": "opcua", "name": "PLC-UA", "endpoint": endpoint, "connect_timeout_s": 3.0,
        "reconnect_max_delay_s": 0.5, "pki_dir": str(pki),
        "security": {"mode": "SignAndEncrypt", "policy": "Basic256Sha256"}})


def ph_tag() -> TagConfig:
    return tag_config({"name": "AIT-101", "unit": "pH", "range": {"low": 0, "high": 14},
                                     "source": "PLC-UA", "opcua": {"node_id": "i=2258"}})


async def refusal(endpoint: str, pki: Path) -> tuple[str, float, list[Sample]]:
    """Start a source against the server; return its error, how long it took, and what it emitted."""
    got: list[Sample] = []
    cfg = config(endpoint, pki)
    source = OpcUaSource(cfg, [ph_tag()], got.extend)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await source.start()
    try:
        await wait_until(lambda: source.health().last_error is not None, cfg.connect_timeout_s + 0.5, "an error")
        return source.health().last_error or "", loop.time() - started, got
    finally:
        await source.stop()


@pytest.mark.parametrize("problem", ["expired", "revoked"])
async def test_trusted_but_expired_or_revoked_server_certificate_is_refused(tmp_path: Path, problem: str) -> None:
    now = datetime.now(UTC)
    if problem == "expired":
        cert_path, key_path, cert, key = make_certificate(tmp_path / "server", now - timedelta(days=400),
                                                          now - timedelta(days=35))
    else:
        cert_path, key_path, cert, key = make_certificate(tmp_path / "server", now - timedelta(days=1),
                                                          now + timedelta(days=365))
        revoke(cert, key, tmp_path / "client" / "crl")
    trusted = tmp_path / "client" / "trusted"
    trusted.mkdir(parents=True)
    (trusted / "plc.der").write_bytes(cert_path.read_bytes())  # trusted: only the validity check can refuse it
    async with secured_server(cert_path, key_path) as endpoint:
        error, took, got = await refusal(endpoint, tmp_path / "client")
    assert took <= config(endpoint, tmp_path).connect_timeout_s + 0.5
    assert f"serial {cert.serial_number:x}" in error, error
    if problem == "expired":
        assert "expired on" in error and cert.not_valid_after_utc.date().isoformat() in error, error
    else:
        assert "is revoked by" in error and "plc.crl.pem" in error, error
    assert got and all(s.quality is Quality.BAD_NOT_CONNECTED for s in got)


async def test_the_same_trusted_certificate_in_its_window_and_unrevoked_connects(tmp_path: Path) -> None:
    """Control: the refusals above are due to expiry/revocation, not to the test server's set-up."""
    now = datetime.now(UTC)
    cert_path, key_path, _, _ = make_certificate(tmp_path / "server", now - timedelta(days=1), now + timedelta(days=30))
    trusted = tmp_path / "client" / "trusted"
    trusted.mkdir(parents=True)
    (trusted / "plc.der").write_bytes(cert_path.read_bytes())
    got: list[Sample] = []
    async with secured_server(cert_path, key_path) as endpoint:
        source = OpcUaSource(config(endpoint, tmp_path / "client"), [ph_tag()], got.extend)
        await source.start()
        try:
            await wait_until(lambda: source.health().connected, 5, "a secured session")
            assert source.health().last_error is None
        finally:
            await source.stop()


def test_a_crl_of_another_issuer_does_not_revoke(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    _, _, cert, _ = make_certificate(tmp_path / "a", now - timedelta(days=1), now + timedelta(days=30))
    _, _, other, other_key = make_certificate(tmp_path / "b", now - timedelta(days=1), now + timedelta(days=30))
    other_crl = x509.CertificateRevocationListBuilder().issuer_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "some other CA")])).last_update(now).next_update(
        now + timedelta(days=1)).add_revoked_certificate(
        x509.RevokedCertificateBuilder().serial_number(cert.serial_number).revocation_date(now).build()).sign(
        other_key, hashes.SHA256())
    (tmp_path / "pki" / "crl").mkdir(parents=True)
    (tmp_path / "pki" / "crl" / "other.crl").write_bytes(other_crl.public_bytes(serialization.Encoding.DER))
    check_validity(cert, tmp_path / "pki")  # same serial, other issuer: not revoked
    revoke(cert, _unused_key := rsa.generate_private_key(public_exponent=65537, key_size=2048),
           tmp_path / "pki" / "crl")
    with pytest.raises(SecuritySetupError, match="revoked"):
        check_validity(cert, tmp_path / "pki")
    assert other.serial_number != cert.serial_number


def test_a_certificate_not_yet_valid_names_the_clocks(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    _, _, cert, _ = make_certificate(tmp_path, now + timedelta(days=2), now + timedelta(days=30))
    with pytest.raises(SecuritySetupError, match=r"not valid before .* check the clocks"):
        check_validity(cert, tmp_path)
