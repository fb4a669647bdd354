"""The simulated PLC's OPC UA server: Objects/Plant/<unit>/<point> over asyncua 2.1.

Measurements and setpoints are AnalogItemType (Float) variables with EURange and EngineeringUnits;
status codes follow the instrument (Good / Uncertain / Bad_SensorFailure); source and server
timestamps are simulated time. Writes go through PlcCore.command and are answered per node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from asyncua import ua as _ua
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.crypto.truststore import TrustStore
from asyncua.crypto.validator import CertificateValidator, CertificateValidatorOptions
from asyncua.server.address_space import AttributeService
from asyncua.server.binary_server_asyncio import BinaryServer
from asyncua.server.server import Server

from sim.facade.asyncua_fixes import null_safe_deadband
from sim.facade.core import CommandOutcome, PlcCore
from sim.facade.pki import SERVER_APP_URI, PlcUserManager, ensure_server_certificate
from sim.facade.points import (
    NAMESPACE_INDEX,
    NAMESPACE_URI,
    POINTS,
    UNITS,
    Point,
    PointKind,
    StatusBit,
)

log = logging.getLogger(__name__)
# asyncua annotates with NewTypes (UInt32, Int16, String…) that reject plain ints and strs; we type our
# own boundary instead and treat the `ua` namespace as dynamic.
ua: Any = _ua

_VARIANT: dict[PointKind, Any] = {
    PointKind.MEASUREMENT: ua.VariantType.Float,
    PointKind.SETPOINT: ua.VariantType.Float,
    PointKind.FEEDBACK: ua.VariantType.Boolean,
    PointKind.SWITCH: ua.VariantType.Boolean,
    PointKind.HEARTBEAT: ua.VariantType.UInt16,
}
_DATATYPE: dict[Any, int] = {
    ua.VariantType.Float: ua.ObjectIds.Float,
    ua.VariantType.Boolean: ua.ObjectIds.Boolean,
    ua.VariantType.UInt16: ua.ObjectIds.UInt16,
}
# What a refused write answers, per node (OPC UA Part 4 §5.10.4: Write returns one StatusCode per WriteValue).
_REFUSAL: dict[CommandOutcome, int] = {
    CommandOutcome.OUT_OF_RANGE: ua.StatusCodes.BadOutOfRange,
    CommandOutcome.INTERLOCKED: ua.StatusCodes.BadInvalidState,
    CommandOutcome.NOT_WRITABLE: ua.StatusCodes.BadNotWritable,
}


@dataclass(frozen=True, slots=True)
class OpcUaSettings:
    """Where and how the OPC UA server listens. `require_security` drops the None endpoint and anonymous logins."""

    host: str = "127.0.0.1"
    port: int = 48400
    path: str = "/plantctl/sim"
    require_security: bool = False
    users: dict[str, str] = field(default_factory=dict)
    pki_dir: Path = Path("pki")
    shelf_file: Path | None = None  # cache of the standard address space: start-up in ~0.1 s instead of ~2 s
    trusted_clients_dir: Path | None = None  # client application certificates (DER/PEM) to accept; None = any

    @property
    def endpoint(self) -> str:
        return f"opc.tcp://{self.host}:{self.port}{self.path}"


def status_code(bits: StatusBit) -> Any:
    """Instrument status → OPC UA StatusCode (Part 8 §6.3.2 AnalogItem; Part 4 §7.39)."""
    if bits & StatusBit.SENSOR_FAILED:
        return ua.StatusCode(ua.StatusCodes.BadSensorFailure)
    if bits & StatusBit.RANGE_EXCEEDED:
        return ua.StatusCode(ua.StatusCodes.UncertainEngineeringUnitsExceeded)
    if bits & StatusBit.UNCERTAIN:
        return ua.StatusCode(ua.StatusCodes.Uncertain)
    return ua.StatusCode(ua.StatusCodes.Good)


class _PlcAttributeService(AttributeService):
    """asyncua's attribute service, with every Value write to a PLC point first judged by the PLC."""

    def __init__(self, base: AttributeService, facade: OpcUaPlc) -> None:
        super().__init__(base._aspace)
        self._facade = facade

    async def write(self, params: Any, user: User | None = None) -> list[Any]:
        user = user if user is not None else User(role=UserRole.Admin)
        results: list[Any] = []
        for wv in params.NodesToWrite:
            if wv.AttributeId == ua.AttributeIds.Value:
                verdict = self._facade.judge_write(wv.NodeId, wv.Value)
                if verdict is not None:
                    results.append(verdict)
                    continue
            results.extend(await super().write(ua.WriteParameters(NodesToWrite=[wv]), user=user))
        return results


class OpcUaPlc:
    """The OPC UA side of the simulated PLC."""

    def __init__(self, core: PlcCore, settings: OpcUaSettings) -> None:
        self.core = core
        self.settings = settings
        self.server: Server | None = None
        self._nodes: dict[Any, Point] = {}  # ua.NodeId → point
        self._node_of: dict[str, Any] = {}
        self._listening = False

    @property
    def endpoint(self) -> str:
        return self.settings.endpoint

    @property
    def listening(self) -> bool:
        return self._listening

    # --- build -----------------------------------------------------------------------------

    async def build(self) -> None:
        """Create the server and its address space (once); `start()` then listens."""
        s = self.settings
        if s.require_security and not s.users:
            raise ValueError("OPC UA security is required but no users are configured "
                             "(set PLANTCTL_SIM_USERS=name:password)")
        server = Server(user_manager=PlcUserManager(s.users, require_security=s.require_security))
        await _init_from_shelf(server, s.shelf_file)
        server.set_endpoint(s.endpoint)
        server.set_server_name("plantctl simulated PLC-1")
        await server.set_application_uri(SERVER_APP_URI)
        identity = await ensure_server_certificate(s.pki_dir, host=s.host)
        await server.load_certificate(str(identity.certificate))
        await server.load_private_key(str(identity.private_key))
        policies = [ua.SecurityPolicyType.Basic256Sha256_Sign, ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt]
        tokens: list[type] = [ua.UserNameIdentityToken]
        if not s.require_security:
            policies.insert(0, ua.SecurityPolicyType.NoSecurity)
            tokens.insert(0, ua.AnonymousIdentityToken)
        server.set_security_policy(policies)
        server.set_identity_tokens(tokens)
        if s.trusted_clients_dir is not None:
            server.set_certificate_validator(await _trust_list(s.trusted_clients_dir))

        idx = await server.register_namespace(NAMESPACE_URI)
        if idx != NAMESPACE_INDEX:
            raise RuntimeError(f"namespace {NAMESPACE_URI} got index {idx}, the point table says {NAMESPACE_INDEX}")
        plant = await server.nodes.objects.add_object(ua.NodeId("Plant", idx), ua.QualifiedName("Plant", idx))
        folders: dict[str, Any] = {}
        for p in POINTS:
            if p.folder not in folders:
                folders[p.folder] = await plant.add_object(
                    ua.NodeId(f"Plant.{p.folder}", idx), ua.QualifiedName(p.folder, idx))
            node_id = await self._add_point(server, folders[p.folder].nodeid, p)
            self._nodes[node_id] = p
            self._node_of[p.name] = node_id
        server.iserver.attribute_service = _PlcAttributeService(server.iserver.attribute_service, self)
        self.server = server
        await self.publish()

    async def _add_point(self, server: Server, parent: Any, p: Point) -> Any:
        vtype = _VARIANT[p.kind]
        analog = p.kind in (PointKind.MEASUREMENT, PointKind.SETPOINT)
        node_id = ua.NodeId(p.node_id.split(";s=", 1)[1], NAMESPACE_INDEX)
        item = ua.AddNodesItem()
        item.RequestedNewNodeId = node_id
        item.BrowseName = ua.QualifiedName(p.browse_name, NAMESPACE_INDEX)
        item.NodeClass = ua.NodeClass.Variable
        item.ParentNodeId = parent
        item.ReferenceTypeId = ua.NodeId(ua.ObjectIds.HasComponent)
        # Part 8 §5.3.2.2: AnalogItemType carries EURange (mandatory) and EngineeringUnits.
        item.TypeDefinition = ua.NodeId(ua.ObjectIds.AnalogItemType if analog else ua.ObjectIds.BaseDataVariableType)
        attrs = ua.VariableAttributes()
        attrs.DisplayName = ua.LocalizedText(p.browse_name)
        attrs.Description = ua.LocalizedText(p.description)
        attrs.DataType = ua.NodeId(_DATATYPE[vtype])
        attrs.Value = ua.Variant(_initial(vtype), vtype)
        attrs.ValueRank = ua.ValueRank.Scalar
        attrs.ArrayDimensions = None
        access = ua.AccessLevel.CurrentRead.mask | (ua.AccessLevel.CurrentWrite.mask if p.writable else 0)
        attrs.AccessLevel = access
        attrs.UserAccessLevel = access
        item.NodeAttributes = attrs
        result = (await server.iserver.isession.add_nodes([item]))[0]
        result.StatusCode.check()
        node = server.get_node(node_id)
        if analog:
            unit = UNITS[p.unit]
            await node.add_property(ua.NodeId(f"{node_id.Identifier}.EURange", NAMESPACE_INDEX),
                                    ua.QualifiedName("EURange", 0), ua.Range(Low=p.low, High=p.high),
                                    datatype=ua.NodeId(ua.ObjectIds.Range))
            eu = ua.EUInformation(NamespaceUri="http://www.opcfoundation.org/UA/units/un/cefact",
                                  UnitId=unit.unit_id, DisplayName=ua.LocalizedText(unit.symbol),
                                  Description=ua.LocalizedText(unit.description))
            await node.add_property(ua.NodeId(f"{node_id.Identifier}.EngineeringUnits", NAMESPACE_INDEX),
                                    ua.QualifiedName("EngineeringUnits", 0), eu,
                                    datatype=ua.NodeId(ua.ObjectIds.EUInformation))
        return node_id

    # --- run -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen (first start sets up endpoints; later starts only reopen the listener after an outage)."""
        if self.server is None:
            null_safe_deadband()  # else a sensor failure never reaches a client subscribed with a deadband
            await self.build()
        server = self.server
        assert server is not None
        if self._listening:
            return
        if server.bserver is None:
            await server.start()
        else:  # restart after stop(): a fresh listener on the same port, same endpoints and policies
            host, port = server.bserver.hostname, server.bserver.port
            server.bserver = BinaryServer(server.iserver, host, port, server.limits)
            server.bserver.set_policies(server._policies)
            await server.bserver.start()
        self._listening = True
        log.info("OPC UA listening on %s (security %s)", self.endpoint,
                 "required" if self.settings.require_security else "optional")

    async def stop(self) -> None:
        """Close the listener and every client connection (a real outage)."""
        if self.server is not None and self.server.bserver is not None and self._listening:
            await self.server.bserver.stop()
            self._listening = False
            log.info("OPC UA on %s stopped", self.endpoint)

    async def close(self) -> None:
        """Stop everything the server runs (sessions, subscriptions, internal tasks)."""
        if self.server is not None:
            # asyncua's stop() waits for its 1 s clock loop to wake; cancel it instead (every test pays this)
            clock: asyncio.Task[None] | None = self.server.iserver.time_task
            if clock is not None:
                clock.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await clock
                self.server.iserver.time_task = None
            if self._listening:
                await self.server.stop()
            else:
                await self.server.iserver.stop()
            self._listening = False
            self.server = None

    async def publish(self) -> None:
        """Copy the PLC snapshot into the address space with simulated timestamps (subscriptions see it)."""
        server = self.server
        if server is None:
            return
        core = self.core
        ts = core.snapshot_time
        for node_id, p in self._nodes.items():
            await server.iserver.write_attribute_value(node_id, self._data_value(p, ts))

    def _data_value(self, p: Point, ts: datetime) -> Any:
        vtype = _VARIANT[p.kind]
        value = self.core.value_of(p)
        status = status_code(self.core.status_bits(p)) if p.kind is PointKind.MEASUREMENT else ua.StatusCode()
        if vtype is ua.VariantType.Boolean:
            variant = ua.Variant(value >= 0.5, vtype)
        elif vtype is ua.VariantType.UInt16:
            variant = ua.Variant(int(value), vtype)
        else:
            variant = ua.Variant(value if math.isfinite(value) else math.nan, vtype)
        return ua.DataValue(Value=variant, StatusCode=status, SourceTimestamp=ts, ServerTimestamp=ts)

    def judge_write(self, node_id: Any, dv: Any) -> Any:
        """Refuse (a StatusCode) or apply (None, the write then stores the value) a client's write."""
        p = self._nodes.get(node_id)
        if p is None:
            return None  # not ours: asyncua decides
        if not p.writable:
            return ua.StatusCode(ua.StatusCodes.BadNotWritable)
        variant = dv.Value
        if variant is None or variant.VariantType != _VARIANT[p.kind]:
            return ua.StatusCode(ua.StatusCodes.BadTypeMismatch)
        outcome = self.core.command(p.name, float(variant.Value))
        if outcome is not CommandOutcome.ACCEPTED:
            return ua.StatusCode(_REFUSAL[outcome])
        return None


def _initial(vtype: Any) -> Any:
    return {ua.VariantType.Float: 0.0, ua.VariantType.Boolean: False, ua.VariantType.UInt16: 0}[vtype]


async def _trust_list(directory: Path) -> CertificateValidator:
    """Accept only client certificates found in `directory` (Part 4 §6.1.3 application instance certificates)."""
    if not directory.is_dir() or not any(directory.iterdir()):  # noqa: ASYNC240 - once at start-up
        raise ValueError(f"trusted client certificate directory {directory} is missing or empty")
    store = TrustStore([directory], [])
    await store.load()
    options = CertificateValidatorOptions.TRUSTED_VALIDATION | CertificateValidatorOptions.PEER_CLIENT
    return CertificateValidator(options, store)


async def _init_from_shelf(server: Server, shelf: Path | None) -> None:
    """Load the standard address space from the shelf, or build it once and publish the shelf atomically."""
    if shelf is None:
        await server.init()
        return
    if _shelf_ready(shelf):
        await server.init(shelf_file=shelf)
        return
    tmp = shelf.with_name(f"{shelf.name}.tmp-{os.getpid()}-{id(server)}")
    await server.init(shelf_file=tmp)
    _publish_shelf(tmp, shelf)


def _shelf_ready(shelf: Path) -> bool:
    shelf.parent.mkdir(parents=True, exist_ok=True)
    return shelf.exists()


def _publish_shelf(tmp: Path, shelf: Path) -> None:
    """Move a freshly written shelf into place, its bare name last.

    asyncua looks for the shelf by its bare name, which dbm.dumb never writes (it writes .dat/.dir), so
    the bare name is written last, as a marker that the parts are complete (other test runs may race).
    """
    for suffix in (".dat", ".dir", ".bak", ".db"):
        part = tmp.with_name(tmp.name + suffix)
        if part.exists():
            part.replace(shelf.with_name(shelf.name + suffix))
    if tmp.exists():
        tmp.replace(shelf)  # gdbm writes one file under the bare name
    else:
        shelf.touch()
