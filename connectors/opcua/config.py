"""The OPC UA protocol's part of the plant file: its `sources:` entry and its tags' `opcua:` address."""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from typing import ClassVar, Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from plantctl.config.models import EnvVarName, SourceConfigBase, Strict, TagAddress, TagConfig
from plantctl.config.protocols import ProtocolSchema


class SecurityMode(StrEnum):
    NONE = "None"
    SIGN = "Sign"
    SIGN_AND_ENCRYPT = "SignAndEncrypt"


class SecurityPolicy(StrEnum):
    NONE = "None"
    BASIC256SHA256 = "Basic256Sha256"


class OpcUaSecurity(Strict):
    mode: SecurityMode = SecurityMode.NONE
    policy: SecurityPolicy = SecurityPolicy.NONE

    @model_validator(mode="after")
    def _consistent(self) -> OpcUaSecurity:
        if (self.mode is SecurityMode.NONE) != (self.policy is SecurityPolicy.NONE):
            raise ValueError(
                f"security mode {self.mode.value} does not fit policy {self.policy.value}: "
                "use mode None with policy None, or Sign/SignAndEncrypt with Basic256Sha256"
            )
        return self


class TimestampPolicy(StrEnum):
    """Which time a sample carries: the device's (source), the server's, or when plantctl received it."""

    SOURCE = "source"
    SERVER = "server"
    RECEIPT = "receipt"


class OpcUaSourceConfig(SourceConfigBase):
    """An OPC UA server: endpoint, security, sessions (supervisor settings come from SourceConfigBase)."""

    kind: Literal["opcua"] = "opcua"
    endpoint: str
    security: OpcUaSecurity = OpcUaSecurity()
    username_env: EnvVarName | None = Field(
        default=None, description="environment variable holding the user name")
    password_env: EnvVarName | None = Field(
        default=None, description="environment variable holding the password (never the password itself)")
    pki_dir: str | None = Field(default=None, description="client certificate, key and trusted server certs")
    trust_on_first_use: bool = False
    timestamp: TimestampPolicy = Field(
        default=TimestampPolicy.SOURCE,
        description="source: the device's time (servers that stamp only on change make steady values look old); "
        "server: the server's; receipt: when plantctl received it (use for servers that stamp only on change)")
    sessions: int = Field(default=1, ge=1, le=16)
    link_check_s: float = Field(
        default=5.0, ge=0.5, le=60,
        description="asyncua's watchdog reads the server's state this often and calls the link lost when a read "
        "takes longer: a silent link is found within about twice this; shorter makes a busy server (thousands of "
        "items on a loaded machine) look dead — at 1 s a 10,000-item session was dropped every few seconds")
    publishes_per_scan: int = Field(
        default=4, ge=1, le=20,
        description="a subscription's publishing interval is the scan period divided by this (the sampling interval "
        "stays the scan period): a change waits at most that long in the server before it is sent, e.g. 250 ms at "
        "1 s scans; more publish responses, the same notifications (docs/scaling.md)")
    connect_timeout_s: float = Field(default=5.0, gt=0, le=120)
    allow_insecure: bool = Field(
        default=False, description="lab only: allow security None to an endpoint that is not loopback")

    @field_validator("security", mode="before")
    @classmethod
    def _security_is_a_mapping(cls, value: object) -> object:
        """`security: None` (or a bare mode) is the commonest slip; say how to write it."""
        if value is None or isinstance(value, str):
            raise ValueError(
                f"security is a mapping, not {value!r}: write security: {{mode: None, policy: None}} "
                "for a lab server, or security: {mode: SignAndEncrypt, policy: Basic256Sha256}")
        return value

    @model_validator(mode="after")
    def _no_clear_text_off_host(self) -> OpcUaSourceConfig:
        """IEC 62443-3-3 SR 3.1/4.1: a session leaving the host is signed and encrypted unless a lab says not."""
        host = urlsplit(self.endpoint).hostname or ""
        if self.security.mode is SecurityMode.NONE and not _is_loopback(host) and not self.allow_insecure:
            raise ValueError(
                f"security None to {host} sends values, writes and passwords unsigned and in clear text: "
                "use mode SignAndEncrypt with policy Basic256Sha256, or set allow_insecure: true on a lab network")
        return self

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme != "opc.tcp" or not parts.hostname:
            raise ValueError(f"endpoint {v!r} is not an OPC UA URL like opc.tcp://host:4840/path")
        try:
            _ = parts.port
        except ValueError as exc:
            raise ValueError(f"endpoint {v!r} has a bad port") from exc
        return v


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a DNS name: it may resolve anywhere
        return False


class OpcUaAcquisition(StrEnum):
    SUBSCRIBE = "subscribe"
    POLL = "poll"


class OpcUaAddress(TagAddress):
    """A tag's node on the server and how it is acquired."""

    kind: ClassVar[str] = "opcua"

    node_id: str = Field(description="ns=<index>;s=… or, surviving a PLC project re-download, nsu=<namespace URI>;s=…")
    acquisition: OpcUaAcquisition = OpcUaAcquisition.SUBSCRIBE
    queue_size: int = Field(default=1, ge=0, le=10000)

    @field_validator("node_id")
    @classmethod
    def _node_id(cls, v: str) -> str:
        if not _NODE_ID.match(v):
            raise ValueError(
                f"node_id {v!r} is not an OPC UA node id: write ns=2;s=Plant.AIT-101 (namespace index) or "
                "nsu=urn:vendor:plc;s=Plant.AIT-101 (namespace URI, stable across PLC project downloads); "
                "the identifier is i= (numeric), s= (string), g= (GUID) or b= (opaque)")
        return v

    @property
    def namespace_uri(self) -> str | None:
        """The nsu= part, resolved against the server's namespace array at connect; None for ns= ids."""
        found = _NODE_ID.match(self.node_id)
        return found.group("uri") if found else None


_NODE_ID = re.compile(r"^(?:ns=\d+;|nsu=(?P<uri>[^;]+);)?(?P<ident>[isgb]=.+)$")


SCHEMA = ProtocolSchema("opcua", OpcUaSourceConfig, OpcUaAddress)
"""The OPC UA part of the plant file, as the loader asks for it."""


def opcua_address(tag: TagConfig) -> OpcUaAddress:
    """The tag's opcua address; the source keeps only tags that have one."""
    if not isinstance(tag.address, OpcUaAddress):
        raise TypeError(f"tag {tag.name} has no opcua: address")
    return tag.address
