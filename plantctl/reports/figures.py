"""What a discharge report says, as plain data: the renderers and the panel only format it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class RowFigures:
    """One hour (daily report) or one day (monthly report); None where no valid data existed."""

    label: str
    ph_min: float | None
    ph_mean: float | None
    ph_max: float | None
    minutes_discharging: float
    minutes_out_of_permit: float
    minutes_ph_unknown: float
    volume_discharged_m3: float
    volume_offspec_m3: float
    volume_diverted_m3: float | None
    reagents_l: tuple[float, ...]
    li_in_kg: float | None
    li_out_kg: float | None

    @property
    def li_recovered_kg(self) -> float | None:
        if self.li_in_kg is None or self.li_out_kg is None:
            return None
        return self.li_in_kg - self.li_out_kg


@dataclass(frozen=True, slots=True)
class AlarmFigures:
    annunciations: int
    per_10min_avg: float
    per_10min_max: float
    flood_share: float
    chattering: int
    standing_at_end: int
    top: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class OperatorAction:
    at: datetime
    actor: str
    action: str
    target: str
    change: str


@dataclass(frozen=True, slots=True)
class ColumnFigures:
    """The sorbent column over the period: lithium taken up (measured) and its loading at the period's end."""

    column: str
    capacity_kg: float
    taken_up_kg: float
    unknown_h: float  # hours of the period without uptake data (flow, or an analyser while flowing)
    regenerated_at: datetime | None  # the last regeneration at or before the period's end
    regenerated_by: str
    loaded_kg_end: float | None  # measured since regeneration plus the estimate for its unknown hours
    loading_pct_end: float | None


@dataclass(frozen=True, slots=True)
class Report:
    """A whole report; `rows` then `total` (the same figures over the period)."""

    plant: str
    site: str
    kind: str
    key: str
    zone: str
    start: datetime
    end: datetime
    ph_low: float
    ph_high: float
    discharge_ph_tag: str
    reagent_names: tuple[str, ...]
    rows: tuple[RowFigures, ...]
    total: RowFigures
    alarms: AlarmFigures | None
    actions: tuple[OperatorAction, ...] = field(default_factory=tuple)
    column: ColumnFigures | None = None

    @property
    def permit_share(self) -> float | None:
        """Share of the discharging time with a known pH that was inside the permit."""
        t = self.total
        known = t.minutes_discharging - t.minutes_ph_unknown
        return None if known <= 0 else 1.0 - t.minutes_out_of_permit / known
