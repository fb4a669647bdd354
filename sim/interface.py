"""The contract between the pure process model and the PLC facade that serves it.

The facade (OPC UA and Modbus servers) knows only this: point names, readings with a sensor
status, and commands. The model knows nothing of networks or wall clocks.
"""

from __future__ import annotations

from enum import IntEnum
from typing import NamedTuple, Protocol


class SensorStatus(IntEnum):
    """What a PLC knows about an instrument; the facade maps it to OPC UA status codes / status words."""

    GOOD = 0
    UNCERTAIN = 1  # e.g. drifting beyond calibration tolerance, value clamped at range limit
    FAILED = 2  # Bad_SensorFailure


class Reading(NamedTuple):
    """A value as a PLC input sees it, with its status (a tuple: made many times a simulated second)."""

    value: float
    status: SensorStatus = SensorStatus.GOOD


class CommandRejected(ValueError):
    """A command the PLC refuses (out of range, unknown point); the facade answers with the protocol's error."""


# Measured points every model of the example plant provides (see docs/sim-register-map.md).
MEASUREMENTS: tuple[str, ...] = (
    "FIT-100",  # influent flow, m3/h
    "AIT-100",  # influent pH
    "AIT-101",  # T-101 pH
    "CIT-101",  # T-101 conductivity, mS/cm
    "LIT-101",  # T-101 level, %
    "TIT-101",  # T-101 temperature, degC
    "AIT-301",  # C-301 outlet lithium, mg/L
    "P-201.SPEED",  # NaOH pump speed feedback, %
    "P-202.SPEED",  # H2SO4 pump speed feedback, %
    "AIT-104",  # T-101 pH, second electrode
    "AIT-105",  # T-101 pH, third electrode
    "AIT-302",  # discharge pH after C-301
    "FIT-201",  # NaOH line magnetic flowmeter, L/h
    "FIT-202",  # H2SO4 line magnetic flowmeter, L/h
)
# Discrete feedback (value 0.0 / 1.0).
FEEDBACK: tuple[str, ...] = ("P-201.RUNNING", "P-201.FAULT", "P-202.RUNNING", "P-202.FAULT", "WATCHDOG.TRIPPED")
# Commands the PLC accepts: setpoints (%, 0..100) and run / reset bits (0.0 / 1.0).
COMMANDS: tuple[str, ...] = ("P-201.SP", "P-202.SP", "P-201.RUN", "P-202.RUN", "P-201.RESET", "P-202.RESET")


class ProcessModel(Protocol):
    """A steppable plant: deterministic for a seed, no I/O, no wall clock."""

    @property
    def t_s(self) -> float:
        """Simulated seconds since the start of the run."""
        ...

    def step(self, dt_s: float) -> None: ...

    def readings(self) -> dict[str, Reading]:
        """Every name of MEASUREMENTS and FEEDBACK, as the PLC's inputs see it now."""
        ...

    def commanded(self) -> dict[str, float]:
        """The current value of every name in COMMANDS (what a read-back of a setpoint returns)."""
        ...

    def command(self, name: str, value: float) -> None:
        """Apply an operator/supervisor command; raises CommandRejected when the PLC would refuse it."""
        ...

    def safe_state(self, reason: str) -> None:
        """Drop the pumps to their local safe state (stopped, 0 %), as the PLC watchdog does."""
        ...
