"""Loop state that must survive a restart, and the interface through which the lead persists it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Protocol

from plantctl.config.models import LoopMode


@dataclass(frozen=True, slots=True)
class LoopState:
    """What a restart needs to resume bumplessly: mode, setpoint, output (%) and integral (%)."""

    loop: str
    mode: LoopMode
    setpoint: float
    output_pct: float
    integral_pct: float
    saved_at: datetime  # aware UTC
    remote_setpoint: float | None = None
    feedforward_gain: float = 1.0  # the adapted feedforward ratio, so a restart keeps what was learnt
    titration_points: tuple[tuple[float, float], ...] | None = None  # an identified curve in use (lab titrations)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mode"] = self.mode.value
        d["saved_at"] = self.saved_at.isoformat()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LoopState:
        try:
            saved = datetime.fromisoformat(str(d["saved_at"]))
            if saved.tzinfo is None:
                raise ValueError("saved_at has no time zone")
            return cls(loop=str(d["loop"]), mode=LoopMode(d["mode"]), setpoint=float(d["setpoint"]),
                       output_pct=float(d["output_pct"]), integral_pct=float(d["integral_pct"]),
                       saved_at=saved,
                       remote_setpoint=None if d.get("remote_setpoint") is None else float(d["remote_setpoint"]),
                       feedforward_gain=float(d.get("feedforward_gain", 1.0)),
                       titration_points=None if not d.get("titration_points") else tuple(
                           (float(a), float(b)) for a, b in d["titration_points"]))
        except (KeyError, ValueError, TypeError) as exc:
            raise ValueError(f"stored loop state is unusable: {exc}") from exc


class LoopStateStore(Protocol):
    """Where loop states live (the lead's implementation: a table in the plant database)."""

    def load(self, loop: str) -> LoopState | None: ...

    def save(self, state: LoopState) -> None: ...
