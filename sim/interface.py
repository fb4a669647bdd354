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
    "AIT-302",  # C-301 outlet pH (T-401 inlet): the trim loop's feedforward measurement
    "FIT-201",  # NaOH line magnetic flowmeter, L/h
    "FIT-202",  # H2SO4 line magnetic flowmeter, L/h
    "P-401.SPEED",  # T-401 NaOH pump speed feedback, %
    "P-402.SPEED",  # T-401 H2SO4 pump speed feedback, %
    "AIT-401",  # T-401 pH, electrode A
    "AIT-402",  # T-401 pH, electrode B
    "AIT-403",  # T-401 pH, electrode C
    "AIT-410",  # discharge pH at T-401's outlet, upstream of XV-410
    "FIT-401",  # T-401 NaOH line magnetic flowmeter, L/h
    "FIT-402",  # T-401 H2SO4 line magnetic flowmeter, L/h
    "FIT-410",  # outfall flow, m3/h (XV-410's outfall leg plus T-501's overflow)
    "XV-410.POS",  # diversion valve position, % (100 = all to T-501)
    "LIT-501",  # T-501 holding tank level, %
    "P-501.SPEED",  # return pump speed feedback, %
    "FIT-501",  # return flow T-501 -> T-101, m3/h
    "AIT-300",  # C-301 inlet lithium (sample-and-hold analyser), mg/L
    "FQ-410",  # diverted volume since start, m3
)
# Discrete feedback (value 0.0 / 1.0).
FEEDBACK: tuple[str, ...] = ("P-201.RUNNING", "P-201.FAULT", "P-202.RUNNING", "P-202.FAULT", "WATCHDOG.TRIPPED",
                             "P-401.RUNNING", "P-401.FAULT", "P-402.RUNNING", "P-402.FAULT", "P-501.RUNNING")
# Commands the PLC accepts: setpoints (%, 0..100) and run / reset / valve bits (0.0 / 1.0).
COMMANDS: tuple[str, ...] = ("P-201.SP", "P-202.SP", "P-201.RUN", "P-202.RUN", "P-201.RESET", "P-202.RESET",
                             "P-401.SP", "P-402.SP", "P-401.RUN", "P-402.RUN", "P-401.RESET", "P-402.RESET",
                             "XV-410.CMD", "P-501.SP", "P-501.RUN")


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
        """Drop the pumps to their local safe state (stopped, 0 %) and XV-410 to divert, as the PLC watchdog does."""
        ...
