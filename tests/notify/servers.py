"""Real receivers on loopback for notification tests and the bench: an aiosmtpd SMTP server (STARTTLS, AUTH)
and an HTTP server that checks webhook signatures."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import ssl
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support import free_port


def make_test_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1/localhost, made now (no key material in the repository)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "plantctl test SMTP")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    tls: bool
    authenticated_as: str | None
    at: float  # time.time() when the server accepted it


@dataclass
class _Handler:
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        msg = message_from_bytes(content, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        with self.lock:
            self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), msg,
                                          session.ssl is not None, login, time.time()))
        return "250 Message accepted for delivery"


class SmtpServer:
    """aiosmtpd on a free loopback port; STARTTLS required and AUTH checked when a certificate is given."""

    def __init__(self, cert: tuple[Path, Path] | None = None, users: dict[str, str] | None = None,
                 port: int | None = None) -> None:
        self.port = port or free_port()
        self.handler = _Handler()
        self.users = users or {}
        self._cert = cert
        self._controller: Controller | None = None

    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                      auth_data: Any) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and \
            self.users.get(auth_data.login.decode()) == auth_data.password.decode()
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    def start(self) -> SmtpServer:
        kw: dict[str, Any] = {}
        if self._cert is not None:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(str(self._cert[0]), str(self._cert[1]))
            kw = {"tls_context": ctx, "require_starttls": True}
            if self.users:
                kw.update(authenticator=self._authenticate, auth_required=True)
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port, ready_timeout=10, **kw)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def received(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.received)


@dataclass
class Hook:
    headers: dict[str, str]
    body: bytes
    valid: bool


class WebhookReceiver:
    """An HTTP server that checks each POST's HMAC-SHA256 signature as a receiving service would."""

    def __init__(self, secret: bytes | None, fail_first: int = 0) -> None:
        """secret None: accept any POST (a plain receiver, e.g. for apprise's json:// notifications)."""
        self.secret = secret
        self.hooks: list[Hook] = []
        self.fail_first = fail_first
        receiver = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                ts = self.headers.get("X-Plantctl-Timestamp", "")
                valid = receiver.secret is None
                if receiver.secret is not None:
                    expected = "sha256=" + hmac.new(receiver.secret, ts.encode() + b"." + body,
                                                    hashlib.sha256).hexdigest()
                    valid = hmac.compare_digest(expected, self.headers.get("X-Plantctl-Signature", "")) and \
                        abs(time.time() - float(ts or 0)) < 300
                receiver.hooks.append(Hook(dict(self.headers), body, valid))
                status = 200 if valid else 401
                if receiver.fail_first > 0:
                    receiver.fail_first -= 1
                    status = 503
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def json(self, i: int) -> Any:
        return json.loads(self.hooks[i].body)
