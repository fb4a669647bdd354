"""The `reporting:` section: which tags the discharge reports read, and the permit they are judged against."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

TagRef = str


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Permit(_Strict):
    """The discharge permit's pH band; water leaving outside it is off-spec."""

    ph_low: float = Field(default=6.0, ge=0, le=14)
    ph_high: float = Field(default=9.0, ge=0, le=14)

    @model_validator(mode="after")
    def _ordered(self) -> Permit:
        if not self.ph_low < self.ph_high:
            raise ValueError(f"ph_low {self.ph_low:g} must be below ph_high {self.ph_high:g}")
        return self


class Reagent(_Strict):
    """A reagent's consumption: from a flowmeter in L/h, or from a pump speed in % times its capacity."""

    name: str = Field(min_length=1, max_length=64)
    flow: TagRef | None = Field(default=None, description="reagent flow tag, unit L/h")
    pump_speed: TagRef | None = Field(default=None, description="pump speed tag, unit %")
    capacity_l_h: float | None = Field(default=None, gt=0, description="L/h at 100 % speed (with pump_speed)")

    @model_validator(mode="after")
    def _one_way(self) -> Reagent:
        if (self.flow is None) == (self.pump_speed is None):
            raise ValueError("give either flow: (a L/h flowmeter) or pump_speed: with capacity_l_h, not both")
        if self.pump_speed is not None and self.capacity_l_h is None:
            raise ValueError("pump_speed: needs capacity_l_h: (the pump's L/h at 100 %)")
        return self


class LithiumStream(_Strict):
    """A lithium concentration (mg/L) and the flow (m3/h) that carries it."""

    concentration: TagRef
    flow: TagRef
    hold_s: float | None = Field(default=None, gt=0, le=86400,
                                 description="a sample-and-hold analyser's result stands this long (default "
                                 "max_hold_s)")


class Lithium(_Strict):
    inlet: LithiumStream | None = None
    outlet: LithiumStream | None = None


class Column(_Strict):
    """A lithium sorbent column: what it holds, the analysers either side, and when it breaks through."""

    name: str = Field(min_length=1, max_length=64, description="the unit, e.g. C-301; regenerations name it")
    capacity_kg: float = Field(gt=0, description="lithium the bed holds when fully loaded (kg Li)")
    inlet: TagRef = Field(description="lithium into the column (unit mg/L)")
    outlet: TagRef = Field(description="lithium out of the column (unit mg/L)")
    flow: TagRef | list[TagRef] = Field(description="flow through the column (unit m3/h); a list is summed "
                                        "(e.g. the influent and a return flow joining it upstream)")
    breakthrough_ratio: float = Field(default=0.1, gt=0, lt=1,
                                      description="outlet / inlet above this: the column has broken through")
    uptake_window_h: float = Field(default=2.0, gt=0, le=168,
                                   description="the uptake rate for time to breakthrough is averaged this long")
    analyser_hold_s: float = Field(default=900.0, gt=0, le=86400,
                                   description="an analyser result stands this long (its cycle plus margin)")

    @model_validator(mode="after")
    def _two_analysers(self) -> Column:
        if self.inlet == self.outlet:
            raise ValueError(f"inlet and outlet are both {self.inlet}: loading needs the lithium either side")
        if not self.flows or len(set(self.flows)) != len(self.flows):
            raise ValueError(f"flow: one tag or a list of different tags (got {self.flow!r})")
        return self

    @property
    def flows(self) -> list[TagRef]:
        """The flows through the bed, summed."""
        return [self.flow] if isinstance(self.flow, str) else list(self.flow)


class ReportingConfig(_Strict):
    """Daily and monthly discharge reports (docs/reports.md); tags are named, units are checked at load."""

    permit: Permit = Permit()
    discharge_ph: TagRef = Field(description="pH of the water leaving to the outfall (unit pH)")
    discharge_flow: TagRef = Field(description="flow to the outfall or through the plant (unit m3/h)")
    diverted_flow: TagRef | None = Field(default=None, description="flow diverted back instead of discharged (m3/h)")
    reagents: list[Reagent] = Field(default_factory=list)
    lithium: Lithium = Lithium()
    column: Column | None = Field(default=None, description="lithium sorbent column: loading and breakthrough")
    max_hold_s: float = Field(default=60.0, gt=0, le=86400,
                              description="a sample stands for the process at most this long; after it: no data")
    generate_after_min: float = Field(default=15.0, ge=0, le=720,
                                      description="minutes after plant-local midnight before a day is reported")

    def unit_checks(self) -> list[tuple[tuple[str | int, ...], str, str]]:
        """(location in the section, tag, required unit) for every tag this section names."""
        out: list[tuple[tuple[str | int, ...], str, str]] = [
            (("discharge_ph",), self.discharge_ph, "pH"), (("discharge_flow",), self.discharge_flow, "m3/h")]
        if self.diverted_flow is not None:
            out.append((("diverted_flow",), self.diverted_flow, "m3/h"))
        for i, r in enumerate(self.reagents):
            if r.flow is not None:
                out.append((("reagents", i, "flow"), r.flow, "L/h"))
            if r.pump_speed is not None:
                out.append((("reagents", i, "pump_speed"), r.pump_speed, "%"))
        for side in ("inlet", "outlet"):
            stream: LithiumStream | None = getattr(self.lithium, side)
            if stream is not None:
                out.append((("lithium", side, "concentration"), stream.concentration, "mg/L"))
                out.append((("lithium", side, "flow"), stream.flow, "m3/h"))
        if self.column is not None:
            c = self.column
            out += [(("column", "inlet"), c.inlet, "mg/L"), (("column", "outlet"), c.outlet, "mg/L")]
            out += [(("column", "flow") if isinstance(c.flow, str) else ("column", "flow", i), f, "m3/h")
                    for i, f in enumerate(c.flows)]
        return out
