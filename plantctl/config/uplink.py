"""The plant file's `uplink:` section: this site as a Sparkplug B edge node of a fleet (docs/fleet.md)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

SparkplugId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", max_length=64,
                                   description="a Sparkplug group/edge node/host id: no / + # in an MQTT topic")]
EnvVarName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class UplinkConfig(BaseModel):
    """Where and as whom this site publishes; credentials are named by environment variable, never written here."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    group_id: SparkplugId
    edge_node_id: SparkplugId
    brokers: list[str] = Field(min_length=1, description="mqtt://host:port or mqtts://host:port, tried in turn")
    primary_host_id: SparkplugId | None = Field(
        default=None, description="publish only while this host's STATE is online (Sparkplug primary host)")
    ca_file: str | None = Field(default=None, description="CA bundle for mqtts:// brokers (default: the system's)")
    username_env: EnvVarName | None = None
    password_env: EnvVarName | None = None
    keepalive_s: int = Field(default=10, ge=2, le=600, description="MQTT keep-alive; the broker sends NDEATH "
                                                                    "after 1.5 × this without a packet")
    publish_period_s: float = Field(default=0.5, gt=0, le=60, description="how often pending samples go as NDATA")
    max_metrics_per_message: int = Field(default=2000, ge=1, le=100_000)
    spool_max_bytes: int = Field(default=512 * 1024**2, ge=1024 * 1024,
                                 description="durable spool while the broker or host is away (drop-oldest)")
    replay_window_s: float = Field(
        default=10.0, ge=0, le=3600,
        description="on the primary host's return, re-send this much of what went live before it went offline, "
                    "as history (Sparkplug has no host acknowledgement: the host may have died before storing it; "
                    "the central historian stores each (tag, time) once)")
    reconnect_max_delay_s: float = Field(default=10.0, gt=0, le=600)

    @field_validator("brokers")
    @classmethod
    def _broker_urls(cls, urls: list[str]) -> list[str]:
        return check_broker_urls(urls)


def check_broker_urls(urls: list[str]) -> list[str]:
    """Each is mqtt://host[:port] or mqtts://host[:port]; shared by the edge's uplink and the central host."""
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ValueError(f"broker {url!r} is not mqtt://host:port or mqtts://host:port")
        try:
            _ = parts.port
        except ValueError as exc:
            raise ValueError(f"broker {url!r}: {exc}") from None
    return urls


def broker_address(url: str) -> tuple[str, int, bool]:
    """(host, port, tls) of one broker URL; 1883 for mqtt://, 8883 for mqtts:// by default."""
    parts = urlsplit(url)
    tls = parts.scheme == "mqtts"
    return parts.hostname or "127.0.0.1", parts.port or (8883 if tls else 1883), tls
