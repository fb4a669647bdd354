"""Dosing pumps (P-201, P-202, P-401, P-402) with their lines' dead time; return pump P-501; valve XV-410."""

from __future__ import annotations

import math
from collections import deque

from sim.interface import CommandRejected
from sim.params import PumpParams


class DosingLine:
    """Plug flow from pump to tank: what enters T-101 now left the pump dead_time_s ago."""

    __slots__ = ("_history", "_now_l_h", "dead_time_s")

    def __init__(self, dead_time_s: float, initial_l_h: float = 0.0) -> None:
        self.dead_time_s = dead_time_s
        self._history: deque[tuple[float, float]] = deque([(float("-inf"), initial_l_h)])
        self._now_l_h = initial_l_h

    def push(self, t_s: float, pumped_l_h: float) -> None:
        """Record the pump's flow from time t_s on (zero-order hold)."""
        if self._history[-1][1] != pumped_l_h:
            self._history.append((t_s, pumped_l_h))

    def delivered_l_h(self, t_s: float) -> float:
        """Flow arriving in the tank at t_s."""
        cutoff = t_s - self.dead_time_s
        hist = self._history
        while len(hist) > 1 and hist[1][0] <= cutoff + 1e-9:
            hist.popleft()
        self._now_l_h = hist[0][1]
        return self._now_l_h


class DosingPump:
    """A metering pump as the PLC sees it: SP %, RUN, RESET; RUNNING, FAULT, speed feedback."""

    __slots__ = ("capacity_fraction", "capacity_l_h", "knee_pct", "line", "min_speed_pct", "name",
                 "reagent_mol_l", "reset_cmd", "run_cmd", "sp_pct", "tripped")

    def __init__(self, name: str, params: PumpParams) -> None:
        self.name = name
        self.capacity_l_h = params.capacity_l_h
        self.reagent_mol_l = params.reagent_mol_l  # what is really in the tote (a scenario may change it)
        self.capacity_fraction = 1.0  # wear or an air lock lowers it; maintenance restores it
        self.min_speed_pct = params.min_effective_speed_pct
        self.knee_pct = params.low_speed_knee_pct
        self.line = DosingLine(params.dead_time_s)
        self.sp_pct = 0.0
        self.run_cmd = False
        self.reset_cmd = False
        self.tripped = False

    def set_sp(self, value: float) -> None:
        if not 0.0 <= value <= 100.0 or value != value:
            raise CommandRejected(f"{self.name}.SP must be 0..100 %, got {value}")
        self.sp_pct = float(value)

    def set_run(self, value: float) -> None:
        self.run_cmd = _bit(f"{self.name}.RUN", value)

    def set_reset(self, value: float) -> None:
        self.reset_cmd = _bit(f"{self.name}.RESET", value)
        if self.reset_cmd:
            self.tripped = False

    def trip(self) -> None:
        """Motor protection trip: stops and latches FAULT until a RESET."""
        self.tripped = True

    def stop(self) -> None:
        """Local safe state: run command dropped and setpoint to 0 %."""
        self.run_cmd = False
        self.sp_pct = 0.0

    def running(self, interlocked: bool) -> bool:
        return self.run_cmd and not self.tripped and not interlocked

    def speed_pct(self, interlocked: bool) -> float:
        return self.sp_pct if self.running(interlocked) else 0.0

    def pumped_l_h(self, interlocked: bool) -> float:
        """Flow leaving the pump: speed through the turndown curve, times what the pump has left of its capacity."""
        speed = self.speed_pct(interlocked)
        if speed <= 0.0 or speed < self.min_speed_pct:
            return 0.0
        if self.knee_pct > 0.0:
            speed *= 1.0 - math.exp(-(speed - self.min_speed_pct) / self.knee_pct)
        return self.capacity_l_h * self.capacity_fraction * speed / 100.0

    def set_capacity_pct(self, pct: float) -> None:
        """Capacity loss (wear, air lock) or its recovery, as % of nameplate; speed feedback does not show it."""
        self.capacity_fraction = pct / 100.0


def _bit(name: str, value: float) -> bool:
    if value not in (0.0, 1.0):
        raise CommandRejected(f"{name} takes 0 or 1, got {value}")
    return value == 1.0


class ReturnPump:
    """P-501: a centrifugal transfer pump from T-501 to T-101's inlet; SP % of capacity, RUN; no dosing line."""

    __slots__ = ("capacity_m3_h", "name", "run_cmd", "sp_pct")

    def __init__(self, name: str, capacity_m3_h: float) -> None:
        self.name = name
        self.capacity_m3_h = capacity_m3_h
        self.sp_pct = 0.0
        self.run_cmd = False

    def set_sp(self, value: float) -> None:
        if not 0.0 <= value <= 100.0 or value != value:
            raise CommandRejected(f"{self.name}.SP must be 0..100 %, got {value}")
        self.sp_pct = float(value)

    def set_run(self, value: float) -> None:
        self.run_cmd = _bit(f"{self.name}.RUN", value)

    def stop(self) -> None:
        """Local safe state: run command dropped and setpoint to 0 %."""
        self.run_cmd = False
        self.sp_pct = 0.0

    def running(self, interlocked: bool) -> bool:
        return self.run_cmd and not interlocked

    def speed_pct(self, interlocked: bool) -> float:
        return self.sp_pct if self.running(interlocked) else 0.0

    def demand_m3_h(self, interlocked: bool) -> float:
        """What the pump would move with water at its suction (an empty tank gives less: the model limits it)."""
        return self.capacity_m3_h * self.speed_pct(interlocked) / 100.0


class DiversionValve:
    """XV-410: an actuated valve that travels linearly between outfall (0) and divert (1); fails to divert."""

    __slots__ = ("cmd_divert", "position", "stroke_s")

    def __init__(self, stroke_s: float, divert: bool) -> None:
        self.stroke_s = stroke_s
        self.cmd_divert = divert
        self.position = 1.0 if divert else 0.0  # 0 = all to the outfall, 1 = all to T-501

    def set_cmd(self, value: float) -> None:
        self.cmd_divert = _bit("XV-410.CMD", value)

    def travel(self, dt_s: float, interlocked: bool) -> None:
        """Move toward the commanded end (divert whenever the PLC interlock holds) at 1/stroke_s per second."""
        target = 1.0 if self.cmd_divert or interlocked else 0.0
        if self.stroke_s <= 0.0:
            self.position = target
        elif self.position < target:
            self.position = min(self.position + dt_s / self.stroke_s, target)
        elif self.position > target:
            self.position = max(self.position - dt_s / self.stroke_s, target)
