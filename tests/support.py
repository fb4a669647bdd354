"""Helpers the test packages share: free loopback ports, and a plant's sources moved onto a test PLC."""

from __future__ import annotations

import socket

from plantctl.config.models import PlantConfig


def free_port() -> int:
    """A TCP port nothing listens on now (tests run in parallel; fixed ports collide)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sources_on(plant: PlantConfig, opcua_endpoint: str, modbus_port: int, *, heartbeat: bool = True) -> PlantConfig:
    """The plant with its OPC UA and Modbus sources pointed at a test PLC (heartbeat off: its watchdog is off)."""
    target: dict[str, dict[str, object]] = {"opcua": {"endpoint": opcua_endpoint}, "modbus": {"port": modbus_port}}
    sources = []
    for src in plant.sources:
        update: dict[str, object] = {} if heartbeat else {"heartbeat_tag": None}
        update.update(target.get(src.kind, {}))
        sources.append(src.model_copy(update=update))
    return plant.model_copy(update={"sources": sources})
