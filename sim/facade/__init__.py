"""The simulated PLC-1: OPC UA and Modbus TCP servers over the process model (docs/sim-register-map.md)."""

from sim.facade.runner import SimulatedPlc

__all__ = ["SimulatedPlc"]
