"""Client certificate, server trust and user identity for one OPC UA source.

OPC UA Part 2 §8 / Part 4 §5.4: the client proves itself with an application instance
certificate whose URI SAN equals its ApplicationUri, and decides on its own whether to trust the
server's certificate. Here a server is trusted when its certificate (DER or PEM) lies in
``pki_dir/trusted``; with ``trust_on_first_use`` the first certificate seen is stored there.
Even a trusted certificate is refused outside its validity window or when a CRL (DER or PEM) in
``pki_dir/crl`` from the same issuer lists its serial number (Part 4 §6.1.3: validity period and
revocation checks). The CRL's own signature is not verified: the folder is as trusted as ``trusted``.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from asyncua import ua
from asyncua.client.client import Client
from asyncua.crypto import security_policies
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from connectors.opcua.config import OpcUaSourceConfig, SecurityMode

APPLICATION_URI_PREFIX = "urn:plantctl:client:"


class SecuritySetupError(Exception):
    """A security problem an operator must fix (untrusted server, missing secret, wrong mode)."""


@dataclass(frozen=True, slots=True)
class ClientIdentity:
    certificate: Path
    private_key: Path
    application_uri: str


def application_uri(source_name: str) -> str:
    """The URI written into our certificate's SAN and sent as ApplicationUri (they must match)."""
    return f"{APPLICATION_URI_PREFIX}{socket.gethostname()}:{source_name}"


def pki_dir_of(config: OpcUaSourceConfig) -> Path:
    return Path(config.pki_dir) if config.pki_dir else Path("pki") / config.name


async def ensure_client_certificate(pki_dir: Path, source_name: str) -> ClientIdentity:
    """Create our key and self-signed certificate on first start; reuse them afterwards."""
    (pki_dir / "own").mkdir(parents=True, exist_ok=True)
    (pki_dir / "trusted").mkdir(parents=True, exist_ok=True)
    uri = application_uri(source_name)
    cert, key = pki_dir / "own" / "cert.der", pki_dir / "own" / "key.pem"
    await setup_self_signed_certificate(
        key,
        cert,
        uri,
        socket.gethostname(),
        [ExtendedKeyUsageOID.CLIENT_AUTH],
        {"countryName": "XX", "organizationName": "plantctl", "commonName": f"plantctl {source_name}"},
    )
    return ClientIdentity(cert, key, uri)


def first_certificate(chain: bytes) -> bytes:
    """The leaf of a DER chain (Part 6 §6.2.3 lets servers send the chain concatenated)."""
    if len(chain) < 2 or chain[0] != 0x30:
        return b""
    if chain[1] & 0x80:  # ASN.1 long-form length
        n = chain[1] & 0x7F
        return chain[: 2 + n + int.from_bytes(chain[2 : 2 + n], "big")]
    return chain[: 2 + chain[1]]


def fingerprint(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def trusted_fingerprints(trusted_dir: Path) -> set[str]:
    """SHA-256 fingerprints of every certificate (DER or PEM) in the trusted folder."""
    found: set[str] = set()
    if not trusted_dir.is_dir():
        return found
    for path in sorted(trusted_dir.iterdir()):
        if not path.is_file():
            continue
        data = path.read_bytes()
        try:
            cert = (
                x509.load_pem_x509_certificate(data) if b"-----BEGIN" in data else x509.load_der_x509_certificate(data)
            )
        except ValueError:
            continue
        found.add(fingerprint(cert.public_bytes(Encoding.DER)))
    return found


def revoked_by(cert: x509.Certificate, crl_dir: Path) -> Path | None:
    """The CRL file in crl_dir, from the certificate's issuer, that lists its serial number, or None."""
    if not crl_dir.is_dir():
        return None
    for path in sorted(crl_dir.iterdir()):
        if not path.is_file():
            continue
        data = path.read_bytes()
        try:
            crl = x509.load_pem_x509_crl(data) if b"-----BEGIN" in data else x509.load_der_x509_crl(data)
        except ValueError:
            continue
        if crl.issuer == cert.issuer and crl.get_revoked_certificate_by_serial_number(cert.serial_number):
            return path
    return None


def check_validity(cert: x509.Certificate, pki_dir: Path, now: datetime | None = None) -> None:
    """Refuse a certificate outside its validity window or revoked by a CRL in pki_dir/crl."""
    now = now or datetime.now(UTC)
    what = f"server certificate (subject {cert.subject.rfc4514_string()}, serial {cert.serial_number:x})"
    if now > cert.not_valid_after_utc:
        raise SecuritySetupError(
            f"{what} expired on {cert.not_valid_after_utc.isoformat()}: the PLC needs a new certificate")
    if now < cert.not_valid_before_utc:
        raise SecuritySetupError(
            f"{what} is not valid before {cert.not_valid_before_utc.isoformat()}: check the clocks of both hosts")
    crl = revoked_by(cert, pki_dir / "crl")
    if crl is not None:
        raise SecuritySetupError(f"{what} is revoked by {crl}")


def trust(der: bytes, pki_dir: Path) -> Path:
    """Put a server certificate in the trust list the source reads (pki_dir/trusted)."""
    trusted_dir = pki_dir / "trusted"
    trusted_dir.mkdir(parents=True, exist_ok=True)
    path = trusted_dir / f"server-{fingerprint(der)[:16]}.der"
    path.write_bytes(der)
    return path


def identity_from_files(certificate: Path, private_key: Path) -> ClientIdentity:
    """An engineer's own client certificate and key; its URI SAN is the ApplicationUri we must send."""
    try:
        data = certificate.read_bytes()
        cert = x509.load_pem_x509_certificate(data) if b"-----BEGIN" in data else x509.load_der_x509_certificate(data)
    except (OSError, ValueError) as exc:
        raise SecuritySetupError(f"cannot read the client certificate {certificate}: {exc}") from exc
    if not private_key.is_file():
        raise SecuritySetupError(f"the client key {private_key} does not exist")
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    except x509.ExtensionNotFound:
        uris = []
    if not uris:
        raise SecuritySetupError(
            f"the client certificate {certificate} has no URI in its subjectAltName: OPC UA servers refuse it "
            "(Part 6 §6.2.2); make one with the application URI, or leave --cert out to have one generated")
    return ClientIdentity(certificate, private_key, uris[0])


def check_server_certificate(der: bytes, pki_dir: Path, trust_on_first_use: bool) -> None:
    """Raise SecuritySetupError unless the server's certificate is valid, not revoked and trusted (or TOFU)."""
    trusted_dir = pki_dir / "trusted"
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise SecuritySetupError(f"server sent a certificate that cannot be parsed ({exc})") from exc
    check_validity(cert, pki_dir)
    known = trusted_fingerprints(trusted_dir)
    if fingerprint(der) in known:
        return
    if trust_on_first_use and not known:
        trust(der, pki_dir)
        return
    raise SecuritySetupError(
        f"server certificate is not trusted (subject {cert.subject.rfc4514_string()}, "
        f"SHA-256 {fingerprint(der)}): copy it into {trusted_dir} after checking the fingerprint "
        "with the PLC's administrator" + ("" if known else ", or enable trust_on_first_use")
    )


def credentials(config: OpcUaSourceConfig) -> tuple[str, str] | None:
    """User name and password from the environment variables the config names."""
    if config.username_env is None and config.password_env is None:
        return None
    values = []
    for field, env in (("username_env", config.username_env), ("password_env", config.password_env)):
        if env is None:
            raise SecuritySetupError(f"source {config.name}: {field} is missing (both or neither)")
        value = os.environ.get(env)
        if value is None:
            raise SecuritySetupError(f"source {config.name}: environment variable {env} ({field}) is not set")
        values.append(value)
    return values[0], values[1]


# asyncua's client logs every request at DEBUG ("Sending: %s"), the ActivateSession request's
# UserNameIdentityToken with it: its Password is plain text on a None channel.
_REQUEST_LOGGER = "asyncua.client.ua_client.UASocketProtocol"
_PASSWORD_FIELD = re.compile(r"""(Password=)b?(['"]).*?(?<!\\)\2""", re.DOTALL)


class RedactPasswords(logging.Filter):
    """Replaces the Password of identity tokens in asyncua's request log with ***."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "Password=" in message:
            record.msg, record.args = _PASSWORD_FIELD.sub(r"\1***", message), None
        return True


def redact_request_log() -> None:
    """Attach RedactPasswords to asyncua's request logger once (a logger filter sees only its own records)."""
    requests = logging.getLogger(_REQUEST_LOGGER)
    if not any(isinstance(f, RedactPasswords) for f in requests.filters):
        requests.addFilter(RedactPasswords())


_MODES = {
    SecurityMode.SIGN: ua.MessageSecurityMode.Sign,
    SecurityMode.SIGN_AND_ENCRYPT: ua.MessageSecurityMode.SignAndEncrypt,
}


async def secure_client(client: Client, config: OpcUaSourceConfig, identity: ClientIdentity | None = None) -> None:
    """Apply the config's identity and security to a client before it connects (network: endpoints).

    `identity`: an engineer's own certificate and key (browse/probe --cert/--key) instead of the source's.
    """
    user = credentials(config)
    if user is not None:
        redact_request_log()
        client.set_user(user[0])
        client.set_password(user[1])
    if config.security.mode is SecurityMode.NONE:
        return
    pki = pki_dir_of(config)
    try:
        identity = identity or await ensure_client_certificate(pki, config.name)
    except (ValueError, OSError) as exc:
        raise SecuritySetupError(
            f"our certificate or key in {pki / 'own'} is unreadable ({exc}); remove both files to have "
            "a new pair generated (then have the PLC trust the new certificate)"
        ) from exc
    client.application_uri = identity.application_uri
    mode = _MODES[config.security.mode]
    policy = security_policies.SecurityPolicyBasic256Sha256
    endpoints = await client.connect_and_get_server_endpoints()
    offered = [ep for ep in endpoints if ep.SecurityMode == mode and ep.SecurityPolicyUri == policy.URI]
    if not offered:
        kinds = sorted({f"{ep.SecurityPolicyUri.rsplit('#', 1)[-1]}/{ep.SecurityMode.name}" for ep in endpoints})
        raise SecuritySetupError(
            f"server offers no Basic256Sha256/{config.security.mode.value} endpoint; it offers {', '.join(kinds)}"
        )
    der = first_certificate(offered[0].ServerCertificate or b"")
    if not der:
        raise SecuritySetupError("server sent no certificate with its secured endpoint")
    check_server_certificate(der, pki, config.trust_on_first_use)
    await client.set_security(
        policy, str(identity.certificate), str(identity.private_key), server_certificate=der, mode=mode
    )
