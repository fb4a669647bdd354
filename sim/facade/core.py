"""The PLC's memory between the process model and its two servers: one snapshot, one command path, one watchdog.

Both servers read the same snapshot and write through `PlcCore.command`, so a value or a refusal is
the same over OPC UA and Modbus. Timestamps are simulated time mapped onto UTC from the run's start.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import Enum

from sim.facade.points import BY_NAME, Point, PointKind, StatusBit
from sim.facade.watchdog import HeartbeatWatchdog
from sim.interface import CommandRejected, ProcessModel, Reading, SensorStatus

log = logging.getLogger(__name__)

WATCHDOG_POINT = "WATCHDOG.TRIPPED"


class CommandOutcome(Enum):
    ACCEPTED = "accepted"
    OUT_OF_RANGE = "out of range"  # Modbus exception 3, OPC UA Bad_OutOfRange
    INTERLOCKED = "interlocked"  # run refused while the watchdog holds the pumps in safe state
    NOT_WRITABLE = "not writable"


class PlcCore:
    """Snapshot of the model as the PLC's inputs see it, and the one narrow path for writes into it."""

    def __init__(self, model: ProcessModel, *, watchdog: HeartbeatWatchdog | None = None,
                 t0_utc: datetime | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.model = model
        self.watchdog = watchdog or HeartbeatWatchdog()
        self.clock = clock
        self.t0_utc = (t0_utc or datetime.now(UTC)) - timedelta(seconds=model.t_s)
        self.readings: dict[str, Reading] = {}
        self.commanded: dict[str, float] = {}
        self.refresh()

    # --- reading ---------------------------------------------------------------------------

    def sim_time_utc(self) -> datetime:
        """The simulated instant of the snapshot, as aware UTC (wall start + simulated seconds)."""
        return self.t0_utc + timedelta(seconds=self.model.t_s)

    def keep_up_with(self, wall_utc: datetime) -> None:
        """Simulated time behind the wall clock (the servers' start-up, a pause, a slip) catches up at once.

        Only forward, so stamps stay monotonic; ahead of the wall clock (speed > 1) it stays ahead.
        """
        self.t0_utc = max(self.t0_utc, wall_utc - timedelta(seconds=self.model.t_s))

    def refresh(self) -> None:
        """Take a new snapshot of the model; WATCHDOG.TRIPPED is set while either the façade's watchdog
        or the model's own latch (PlantModel holds it until a RESET) says so."""
        readings = dict(self.model.readings())
        latched = readings.get(WATCHDOG_POINT, Reading(0.0)).value >= 0.5
        readings[WATCHDOG_POINT] = Reading(1.0 if self.watchdog.tripped or latched else 0.0)
        self.readings = readings
        self.commanded = dict(self.model.commanded())
        self.snapshot_time = self.sim_time_utc()

    def value_of(self, point: Point) -> float:
        """Current value of any point (reading, command read-back or heartbeat)."""
        if point.kind is PointKind.HEARTBEAT:
            return float(self.watchdog.value)
        if point.kind in (PointKind.SETPOINT, PointKind.SWITCH):
            return self.commanded[point.name]
        return self.readings[point.name].value

    def status_bits(self, point: Point) -> StatusBit:
        """Instrument status word bits for a measurement (see StatusBit)."""
        reading = self.readings[point.name]
        bits = StatusBit(0)
        if reading.status is SensorStatus.FAILED or not math.isfinite(reading.value):
            return StatusBit.SENSOR_FAILED
        if reading.status is SensorStatus.UNCERTAIN:
            bits |= StatusBit.UNCERTAIN
        if not point.in_range(reading.value):
            bits |= StatusBit.RANGE_EXCEEDED
        return bits

    # --- writing ---------------------------------------------------------------------------

    def command(self, name: str, value: float) -> CommandOutcome:
        """Validate and apply a write from either server; the model has the last word."""
        point = BY_NAME.get(name)
        if point is None or not point.writable:
            return CommandOutcome.NOT_WRITABLE
        if not math.isfinite(value) or not point.in_range(value):
            return CommandOutcome.OUT_OF_RANGE
        if point.kind is PointKind.HEARTBEAT:
            self.heartbeat(int(value))
            return CommandOutcome.ACCEPTED
        if point.kind is PointKind.SWITCH and value not in (0.0, 1.0):
            return CommandOutcome.OUT_OF_RANGE
        if self.watchdog.tripped and name.endswith(".RUN") and value == 1.0:
            return CommandOutcome.INTERLOCKED
        try:
            self.model.command(name, value)
        except CommandRejected as exc:
            log.info("model refused %s = %s: %s", name, value, exc)
            return CommandOutcome.OUT_OF_RANGE
        self.refresh()  # feedback such as RUNNING follows the command at once, as in the next PLC scan
        return CommandOutcome.ACCEPTED

    def heartbeat(self, value: int) -> None:
        """A supervisor wrote the heartbeat (over either protocol)."""
        if self.watchdog.beat(value, self.clock()):
            log.warning("heartbeat moved again (%d): watchdog trip cleared; pumps stay stopped until run", value)
            self.refresh()

    def check_watchdog(self) -> None:
        """Drop the pumps to safe state when the supervisor's heartbeat has stalled."""
        if self.watchdog.check(self.clock()):
            reason = f"heartbeat still for more than {self.watchdog.timeout_s:g} s"
            log.warning("watchdog tripped: %s; pumps to safe state", reason)
            self.model.safe_state(reason)
            self.refresh()


