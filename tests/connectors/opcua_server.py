"""A real asyncua server on a free loopback port with a small T-101 address space, for tests."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asyncua import Server, ua
from asyncua.common.node import Node
from asyncua.common.utils import ServiceError
from asyncua.crypto.cert_gen import setup_self_signed_certificate
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.user_managers import UserManager
from cryptography.x509.oid import ExtendedKeyUsageOID

from tests.support import free_port

NS_URI = "urn:plantctl:test-plc"
SHELF = Path(tempfile.gettempdir()) / f"plantctl-test-opcua-shelf-{os.getuid()}"


async def standard_address_space() -> Path | None:
    """A shelf of the standard address space, so a server starts in 0.2 s instead of 3.5 s.

    asyncua only reuses a shelf when a file exists at the bare path, but dbm.dumb writes
    .dat/.dir/.bak beside it: build it once under a private name, move it in, leave a marker.
    """
    if SHELF.is_file():
        return SHELF
    private = SHELF.with_name(f"{SHELF.name}.{os.getpid()}")
    server = Server()
    await server.init(shelf_file=private)
    for suffix in (".dat", ".dir", ".bak"):
        with contextlib.suppress(FileNotFoundError):
            os.replace(f"{private}{suffix}", f"{SHELF}{suffix}")
    SHELF.touch()
    return None


class PasswordUsers(UserManager):
    """Exactly one user with one password; everyone else is refused."""

    def __init__(self, name: str, password: str) -> None:
        self._name, self._password = name, password

    def get_user(
        self, iserver: Any, username: str | None = None, password: str | None = None, certificate: Any = None
    ) -> User | None:
        if username == self._name and password == self._password:
            return User(role=UserRole.User, name=username)
        return None


@dataclass
class TestPlc:
    """Handle on the running server: its endpoint, nodes by short name, and stop/start."""

    port: int
    pki: Path | None = None
    user: tuple[str, str] | None = None
    server: Server | None = None
    nodes: dict[str, Node] = field(default_factory=dict)
    server_cert: Path | None = None
    values: dict[str, tuple[Any, ua.VariantType]] = field(default_factory=dict)
    types: dict[str, ua.VariantType] = field(default_factory=dict)
    namespaces_before: list[str] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return f"opc.tcp://127.0.0.1:{self.port}/plantctl/test"

    async def start(self) -> None:
        server = Server(user_manager=PasswordUsers(*self.user) if self.user else None)
        await server.init(shelf_file=await standard_address_space())
        server.set_endpoint(self.endpoint)
        server.set_server_name("plantctl test PLC")
        if self.pki is not None:
            self.pki.mkdir(parents=True, exist_ok=True)
            key, cert = self.pki / "server-key.pem", self.pki / "server-cert.der"
            uri = "urn:plantctl:test-plc:server"
            await server.set_application_uri(uri)
            await setup_self_signed_certificate(
                key,
                cert,
                uri,
                "localhost",
                [ExtendedKeyUsageOID.SERVER_AUTH],
                {"countryName": "XX", "organizationName": "test", "commonName": "test PLC"},
            )
            await server.load_certificate(str(cert))
            await server.load_private_key(str(key))
            server.set_security_policy(
                [
                    ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
                    ua.SecurityPolicyType.Basic256Sha256_Sign,
                ]
            )
            self.server_cert = cert
        if self.user is not None:
            server.set_identity_tokens([ua.UserNameIdentityToken])
        for uri in self.namespaces_before:  # a re-downloaded PLC project may shift our namespace's index
            await server.register_namespace(uri)
        idx = await server.register_namespace(NS_URI)
        plant = await server.nodes.objects.add_object(idx, "Plant")
        t101 = await plant.add_object(idx, "T101")
        specs: dict[str, tuple[str, Any, ua.VariantType]] = {
            "AIT-101": ("Plant.T101.AIT-101", 7.25, ua.VariantType.Float),
            "CIT-101": ("Plant.T101.CIT-101", 12.5, ua.VariantType.Double),
            "LIT-101": ("Plant.T101.LIT-101", 55.0, ua.VariantType.Double),
            "P-201.SP": ("Plant.T101.P-201.SP", 0.0, ua.VariantType.Float),
            "P-201.RUN": ("Plant.T101.P-201.RUN", False, ua.VariantType.Boolean),
            "HEARTBEAT": ("Plant.Supervisor.Heartbeat", 0, ua.VariantType.UInt16),
            "MODE": ("Plant.T101.Mode", "AUTO", ua.VariantType.String),
        }
        for short, (sid, value, vtype) in specs.items():
            if short in self.values:
                value = self.values[short][0]
            node = await t101.add_variable(ua.NodeId(sid, idx), short, ua.Variant(value, vtype))
            self.nodes[short] = node
            self.types[short] = vtype
        for short in ("P-201.SP", "P-201.RUN", "HEARTBEAT"):
            await self.nodes[short].set_writable()
        await self.nodes["AIT-101"].add_property(idx, "EURange", ua.Range(0.0, 14.0))
        await self.nodes["AIT-101"].add_property(
            idx,
            "EngineeringUnits",
            ua.EUInformation(
                NamespaceUri="http://www.opcfoundation.org/UA/units/un/cefact",
                UnitId=-1,
                DisplayName=ua.LocalizedText("pH"),
            ),
        )

        def refuse_above_90(node: Any, _attr: Any, value: ua.DataValue) -> None:
            # the PLC's own limit is tighter than the tag's configured range
            if value.Value is not None and value.Value.Value is not None and value.Value.Value > 90:
                raise ServiceError(ua.StatusCodes.BadOutOfRange)
            node.attributes[ua.AttributeIds.Value].value = value

        server.set_attribute_value_setter(self.nodes["P-201.SP"].nodeid, refuse_above_90)
        await server.start()
        self.server = server

    async def stop(self) -> None:
        if self.server is not None:
            for short, node in self.nodes.items():
                dv = await node.read_data_value(raise_on_bad_status=False)
                if dv.Value is not None and dv.Value.Value is not None:
                    self.values[short] = (dv.Value.Value, dv.Value.VariantType)
            await self.server.stop()
            self.server = None

    async def set(self, short: str, value: Any, status: int = 0) -> None:
        """Change a point as the PLC would; value None with a Bad status nulls it (Part 4 §7.7.1)."""
        variant = ua.Variant(value, self.types[short]) if value is not None else ua.Variant()
        await self.nodes[short].write_value(ua.DataValue(variant, StatusCode=ua.StatusCode(status)))


@contextlib.asynccontextmanager
async def opcua_server(pki: Path | None = None, user: tuple[str, str] | None = None) -> AsyncIterator[TestPlc]:
    plc = TestPlc(free_port(), pki=pki, user=user)
    await plc.start()
    try:
        yield plc
    finally:
        await plc.stop()
