"""Fixtures for the PLC façade tests: asyncio only, module-scoped servers on free loopback ports."""

from __future__ import annotations

from sim.interface import COMMANDS, FEEDBACK, MEASUREMENTS, CommandRejected, Reading, SensorStatus


class StandInModel:
    """A tiny deterministic plant for unit tests of pure façade logic (never for wire tests)."""

    def __init__(self) -> None:
        self._t_s = 0.0
        self.values = {name: 1.0 + i for i, name in enumerate(MEASUREMENTS)}
        self.status = dict.fromkeys(MEASUREMENTS, SensorStatus.GOOD)
        self.cmd = dict.fromkeys(COMMANDS, 0.0)
        self.safe_reasons: list[str] = []

    @property
    def t_s(self) -> float:
        return self._t_s

    def step(self, dt_s: float) -> None:
        self._t_s += dt_s
        for pump in ("P-201", "P-202"):
            target = self.cmd[f"{pump}.SP"] if self.cmd[f"{pump}.RUN"] else 0.0
            self.values[f"{pump}.SPEED"] = target

    def readings(self) -> dict[str, Reading]:
        out = {n: Reading(self.values[n], self.status[n]) for n in MEASUREMENTS}
        for name in FEEDBACK:
            out[name] = Reading(0.0)
        out["P-201.RUNNING"] = Reading(float(self.cmd["P-201.RUN"]))
        out["P-202.RUNNING"] = Reading(float(self.cmd["P-202.RUN"]))
        return out

    def commanded(self) -> dict[str, float]:
        return dict(self.cmd)

    def command(self, name: str, value: float) -> None:
        if name not in self.cmd:
            raise CommandRejected(f"unknown command {name}")
        if name.endswith(".SP") and not 0.0 <= value <= 100.0:
            raise CommandRejected(f"{name} {value} outside 0..100 %")
        self.cmd[name] = value

    def safe_state(self, reason: str) -> None:
        self.safe_reasons.append(reason)
        for pump in ("P-201", "P-202"):
            self.cmd[f"{pump}.RUN"] = 0.0
            self.cmd[f"{pump}.SP"] = 0.0
