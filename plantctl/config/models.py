"""The plant file's schema: what a field engineer writes, checked strictly (unknown fields are errors)."""

from __future__ import annotations

import itertools
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializeAsAny,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)

from plantctl.config.notifications import NotificationsConfig
from plantctl.config.process import ProcessConfig
from plantctl.config.reporting import ReportingConfig
from plantctl.config.uplink import UplinkConfig

TagName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.\-]*$", max_length=64)]
TagPath = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*(/[^/\x00-\x1f]+)*$", max_length=256,
                               description="a tag of this plant file (a TagName), or one a source announces at run "
                                           "time under its site's prefix, e.g. <group>/<node>/<tag> of a fleet")]
"""A tag's name wherever tags are named: the plant file's own are TagNames (the loader refuses '/' in them),
so an announced `<group>/<node>/<tag>` can never collide with a local tag or another site's."""
EnvVarName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PlantInfo(Strict):
    name: str
    site: str = ""
    description: str = ""
    timezone: str = Field(default="UTC", description="IANA zone of the plant's clock: report days, shifts")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}; give an IANA name such as Europe/Berlin or UTC") from None
        return v


# --- sources -------------------------------------------------------------------------------
# The kernel knows what every source has (a kind, a name, the supervisor's settings) and never a
# protocol: each protocol package under connectors/ subclasses these models (docs/connectors.md).


class SourceConfigBase(Strict):
    """What every `sources:` entry carries whatever its protocol; a protocol's model adds its own fields."""

    kind: str
    name: TagName
    reconnect_max_delay_s: float = Field(default=10.0, gt=0, le=600)
    heartbeat_tag: TagName | None = None
    heartbeat_period_s: float = Field(default=1.0, gt=0, le=60)


SourceConfig = SerializeAsAny[SourceConfigBase]
"""A source as the plant holds it: an instance of its protocol's model, dumped with all its fields."""


# --- tags ----------------------------------------------------------------------------------


class EngineeringRange(Strict):
    low: float
    high: float

    @model_validator(mode="after")
    def _ordered(self) -> EngineeringRange:
        if not self.low < self.high:
            raise ValueError(f"range low ({self.low}) must be below high ({self.high})")
        return self


class TagAddress(Strict):
    """Where a tag lives on its source; each protocol's address model subclasses it (`opcua: {...}` etc.)."""

    kind: ClassVar[str] = ""
    """The source kind, which is also the key the plant file writes the address under."""


class LinearScaling(Strict):
    """Raw device counts [raw_low, raw_high] map linearly onto the tag's engineering range."""

    raw_low: float
    raw_high: float

    @model_validator(mode="after")
    def _nonzero(self) -> LinearScaling:
        if self.raw_low == self.raw_high:
            raise ValueError("scaling raw_low equals raw_high: the scale would divide by zero")
        return self


class TagConfig(Strict):
    name: TagPath
    description: str = ""
    unit: str = Field(min_length=1, description="engineering unit, e.g. pH, mS/cm, mg/L, m3/h, %")
    range: EngineeringRange
    source: TagName
    address: SerializeAsAny[TagAddress] = Field(
        description="in the plant file under the source kind's key, e.g. opcua: {...} or modbus: {...}")
    scan_period_s: float = Field(default=1.0, ge=0.01, le=3600)
    deadband: float = Field(default=0.0, ge=0, description="absolute, in engineering units")
    scaling: LinearScaling | None = None
    writable: bool = False
    range_margin_pct: float = Field(
        default=5.0, ge=0, le=1000, description="% of the span beyond the range still stored Good (sensor over-range)")
    hard_limits: EngineeringRange | None = Field(
        default=None, description="beyond these a value is Bad, not Uncertain; default: the range widened by 10 spans")
    decimals: int | None = Field(default=None, ge=0, le=6,
                                 description="decimals shown to operators; absent: from the range (display_decimals)")

    @model_serializer(mode="wrap")
    def _address_under_its_kind(self, handler: SerializerFunctionWrapHandler) -> Any:
        """Dumped as a plant file writes it (the address under its kind's key), so a dump loads again."""
        data = handler(self)
        if isinstance(data, dict) and "address" in data and self.address.kind:
            data[self.address.kind] = data.pop("address")
        return data


# --- historian -----------------------------------------------------------------------------


def display_decimals(tag: TagConfig) -> int:
    """The tag's `decimals:`, else what suits its range: pH 2, conductivity 1, lithium 0; counts and bools 0."""
    if tag.decimals is not None:
        return tag.decimals
    if tag.unit in ("bool", "count"):
        return 0
    span = abs(tag.range.high - tag.range.low)
    return 2 if span <= 20 else 1 if span <= 200 else 0


class RetentionConfig(Strict):
    raw_days: float = Field(default=90, gt=0)
    rollup_1m_days: float = Field(default=730, gt=0)
    rollup_1h_days: float = Field(default=3650, gt=0)


class HistorianConfig(Strict):
    batch_max_rows: int = Field(default=5000, ge=1, le=1_000_000)
    batch_max_age_s: float = Field(default=1.0, gt=0, le=60)
    spool_dir: str | None = Field(default=None, description="default: the state directory's spool/")
    spool_max_bytes: int = Field(default=2 * 1024**3, ge=1024 * 1024)
    retention: RetentionConfig = RetentionConfig()
    rollup_period_s: float = Field(default=60, gt=0)
    retention_period_s: float = Field(default=3600, gt=0)


# --- control and alarms (schemas that later work extends) ----------------------------------


class LoopMode(StrEnum):
    MAN = "MAN"
    AUTO = "AUTO"
    CAS = "CAS"


class LoopKind(StrEnum):
    """Which control law a loop runs (control/kinds.py maps each to its factory)."""

    PH = "ph"  # PID on (titration-compensated) pH, feedforward, split range base/acid
    FLOW = "flow"  # inner reagent-flow loop: flow setpoint → pump speed, turndown by pulsing


class TurndownConfig(Strict):
    """Below its minimum effective speed a metering pump delivers nothing reliable: it is pulsed instead."""

    min_speed_pct: float = Field(gt=0, lt=100, description="lowest speed at which the pump delivers reliably")
    cycle_s: float = Field(default=30.0, ge=2, le=600,
                           description="pulse cycle below the minimum speed: on at min_speed_pct for a duty share")


class FlowDeviationConfig(Strict):
    """The inner loop's flow short of its setpoint (pump wear, air lock) for longer than `delay_s` is alarmed."""

    limit: float = Field(gt=0, description="deviation, in the flow's unit, that raises the alarm")
    delay_s: float = Field(default=60.0, ge=0, description="how long the deviation must last")


class MeterFallbackConfig(Strict):
    """A flow loop whose meter is Bad, stale or frozen drives its pump on the pump's calibration instead."""

    flow_per_pct: float = Field(gt=0, description="the pump's calibrated flow per % speed, in the flow's unit "
                                                  "(e.g. 2.5 L/h per % for a 250 L/h pump)")
    frozen_s: float = Field(default=60.0, gt=0, le=3600,
                            description="a meter reading that has not moved for this long while the speed moved "
                                        "by moved_pct is not following the pump (frozen transmitter)")
    moved_pct: float = Field(default=5.0, gt=0, le=100, description="speed movement that a live meter must follow")
    return_s: float = Field(default=30.0, ge=0, le=3600,
                            description="the meter usable (and moving, after a freeze) this long before the loop "
                                        "returns to it")


class OscillationGuardConfig(Strict):
    """Cut the loop gain when the error cycles (the process gain grew, e.g. the buffer was stripped)."""

    min_amplitude: float = Field(default=0.3, gt=0, description="half-cycles beyond this (PV unit) count")
    half_cycles: int = Field(default=3, ge=2, le=10, description="this many in a row, alternating, is a cycle")
    hysteresis: float = Field(default=0.05, ge=0, description="the error must pass this to change sign")
    factor: float = Field(default=0.6, gt=0, lt=1, description="gain multiplier per detected cycle")
    floor: float = Field(default=0.15, gt=0, le=1, description="never below this share of the tuned gain")
    settle_s: float = Field(default=300.0, ge=0, description="at least this long between cuts")
    recover_s: float = Field(default=1800.0, gt=0, description="quiet this long: the gain creeps back up")


class SetpointShiftConfig(Strict):
    """Hold the working setpoint closer to the limit the process pays to stay away from (e.g. the soda ash
    a discharge stage spends above its low diversion limit), as far as the loop's own recent deviations
    toward that limit allow ("squeeze and shift"); back to the operator's setpoint on any doubt."""

    limit: float = Field(description="the constraint the working setpoint approaches (a diversion or permit "
                                     "limit), in the PV's unit")
    min_margin: float = Field(gt=0, description="the working setpoint never comes closer to the limit than this")
    max_shift: float = Field(gt=0, description="nor further than this from the operator's setpoint, which "
                                               "therefore still moves it")
    sigmas: float = Field(default=4.0, gt=0, le=20,
                          description="nor closer than this many RMS deviations of the PV toward the limit")
    window_s: float = Field(default=1800.0, ge=60, le=86400,
                            description="the deviations' memory (a rise is taken ten times faster than a fall); "
                                        "the loop must be healthy this long before the setpoint moves")
    approach_per_s: float = Field(default=0.0002, gt=0, le=1,
                                  description="how fast the working setpoint moves toward the limit (PV unit/s)")
    retreat_per_s: float = Field(default=0.005, gt=0, le=10,
                                 description="how fast it moves back toward the operator's setpoint (PV unit/s)")
    spare_agree: float = Field(default=0.15, gt=0,
                               description="with vote_spare:, the spare further than this from the vote toward "
                                           "the limit (or not usable) is a doubt: the same water read nearer it")
    spare_delay_s: float = Field(default=60.0, ge=0, le=3600,
                                 description="for this long: in a fast swing the outlet's electrode differs from "
                                             "the tank's for a few tens of seconds")


class IdentificationConfig(Strict):
    """On-line identification of the tank's buffering at the operating point from the loop's own dose and
    the pH's response (control.titration_id.BufferIdentifier); a confident fit refines the titration curve."""

    tank_volume_m3: float = Field(gt=0, description="the controlled tank's liquid volume")
    mol_h_per_pct: float = Field(gt=0, description="base equivalents per hour per % of the loop's output")
    dead_time_s: float = Field(default=30.0, ge=0, le=1800, description="dose to pH: dosing line + electrode")
    lag_s: float = Field(default=75.0, ge=0, le=3600, description="dose to pH: mixing and electrode lag")
    window_s: float = Field(default=2700.0, ge=600, le=86400, description="dose-response history fitted at once")
    every_s: float = Field(default=600.0, ge=60, le=86400, description="how often a fit is tried")
    max_rel_error: float = Field(default=0.2, gt=0, le=1, description="a fit less certain than this is discarded")
    min_dose_span_pct: float = Field(default=2.0, gt=0, description="the dose must have moved this much (excitation)")
    ratio_low: float = Field(default=0.1, gt=0, le=1, description="a buffering below this share of the curve's is "
                                                                  "discarded as implausible")
    ratio_high: float = Field(default=10.0, ge=1, description="and above this multiple")
    min_change: float = Field(default=0.15, ge=0, le=1, description="adopt a new curve only when its slope at "
                                                                    "the setpoint moved by this share")
    step: float = Field(default=0.5, gt=0, le=1, description="share of the way (in log ratio) the curve moves "
                                                             "toward each accepted fit: noise averages out")
    half_span_ph: float = Field(default=0.75, gt=0, le=3, description="the fit rescales the curve this far either "
                                                                      "side of the operating pH")


class FailSafeConfig(Strict):
    hold_s: float = Field(default=10.0, ge=0)
    substitute_output: float = 0.0
    stale_after_s: float = Field(default=10.0, gt=0)
    feedforward_in_hold: bool = Field(
        default=True, description="while the PV is held, feedforward (inputs good) keeps following the load")


class SplitRangeConfig(Strict):
    """One controller output drives the base pump above a dead band and the acid pump below it."""

    dead_band_pct: float = Field(default=0.0, ge=0, le=50,
                                 description="output band around 0 % in which neither pump doses")
    low_side_gain: float = Field(
        default=1.0, gt=0, le=1000,
        description="acid pump % per % of output below the band (the pumps' capacity ratio in equivalents "
                    "gives the same loop gain on both sides)")
    low_side_above_pv: float | None = Field(
        default=None, description="the low-side pump doses only while the PV is above this (its permissive)")


class CompensationKind(StrEnum):
    NONE = "none"  # fixed-gain PID on pH: the baseline
    TITRATION = "titration"  # PID on equivalent base demand: pH mapped through the titration curve
    GAIN_SCHEDULE = "gain_schedule"  # PID on pH, gain scaled by the curve's local slope


def _check_curve(points: list[tuple[float, float]], what: str, base_rises: bool) -> None:
    """pH strictly rising point by point within 0..14; base strictly rising (tank) or falling (influent)."""
    for (ph0, b0), (ph1, b1) in itertools.pairwise(points):
        if not ph1 > ph0:
            raise ValueError(f"{what} pH must rise point by point ({ph0} then {ph1})")
        if not (b1 > b0 if base_rises else b1 < b0):
            raise ValueError(f"{what} base must {'rise' if base_rises else 'fall'} as pH rises "
                             f"({b0} then {b1} mmol/L at pH {ph1})")
    if not (points[0][0] >= 0.0 and points[-1][0] <= 14.0):
        raise ValueError(f"{what} pH points must lie within 0..14")


class TitrationCurveConfig(Strict):
    """Base added (mmol per litre of effluent) that brings the effluent to each pH: lab titration or identified."""

    points: list[tuple[float, float]] = Field(min_length=3, description="[pH, base mmol/L] pairs")
    unit: Literal["mmol/L"] = "mmol/L"

    @model_validator(mode="after")
    def _monotone(self) -> TitrationCurveConfig:
        _check_curve(self.points, "titration curve", base_rises=True)
        return self


class InfluentTitrationConfig(Strict):
    """Base that brings influent of each pH to `reference_ph`: lab titrations of influent samples or plant data.

    Not the tank's curve: influent acidity comes with its own sulfate (HSO4- buffers below pH 2), so
    the base an influent needs rises much faster with falling pH than the tank curve's acid side says.
    """

    reference_ph: float = Field(ge=0, le=14, description="pH the demands bring the influent to")
    points: list[tuple[float, float]] = Field(min_length=3, description="[influent pH, base mmol/L] pairs")
    unit: Literal["mmol/L"] = "mmol/L"

    @model_validator(mode="after")
    def _monotone(self) -> InfluentTitrationConfig:
        _check_curve(self.points, "influent titration", base_rises=False)
        if any(b < 0 for _ph, b in self.points):
            raise ValueError("influent base demand cannot be negative (no acid feedforward)")
        return self


class FeedforwardAdaptConfig(Strict):
    """Slow adaptation of the feedforward gain: a persistent integral is moved into the gain, bumplessly.

    The influent's composition (lithium and its sulfate) changes its acidity at a given pH, and no
    analyser sees it; that error scales with the dose, so it belongs in a ratio, not an offset the
    integral carries into the next load change.
    """

    time_s: float = Field(default=900.0, gt=0, le=86400, description="time constant of the adaptation")
    gain_low: float = Field(default=0.5, gt=0)
    gain_high: float = Field(default=2.0, gt=0)
    min_pct: float = Field(default=5.0, ge=0, le=100, description="no adaptation below this feedforward %")

    @model_validator(mode="after")
    def _limits(self) -> FeedforwardAdaptConfig:
        if not self.gain_low <= 1.0 <= self.gain_high:
            raise ValueError(f"gain_low ({self.gain_low:g}) ≤ 1 ≤ gain_high ({self.gain_high:g}) is required")
        return self


class FeedforwardConfig(Strict):
    """Dose in proportion to influent flow × base demand, so the PID only trims."""

    flow_tag: TagName
    pct_per_mol_h: float = Field(gt=0, description="base pump % per mol/h of base (100 / pump capacity in mol/h)")
    influent_ph_tag: TagName | None = Field(
        default=None, description="demand from the influent pH through the titration curve")
    demand_mmol_l: float | None = Field(default=None, gt=0, description="fixed demand when no influent pH")
    influent_titration: InfluentTitrationConfig | None = Field(
        default=None, description="influent demand by influent pH; without it the tank's curve is used")
    adapt: FeedforwardAdaptConfig | None = None

    @model_validator(mode="after")
    def _one_demand(self) -> FeedforwardConfig:
        if (self.influent_ph_tag is None) == (self.demand_mmol_l is None):
            raise ValueError("feedforward needs exactly one of influent_ph_tag: or demand_mmol_l:")
        if self.influent_titration is not None and self.influent_ph_tag is None:
            raise ValueError("influent_titration: needs influent_ph_tag:")
        return self


class InterlockAction(StrEnum):
    STOP_OUTPUTS = "stop_outputs"  # force the listed outputs to 0 % while tripped; mode unchanged
    FORCE_MANUAL = "force_manual"  # output 0 and mode MAN; return to AUTO needs an operator


class InterlockConfig(Strict):
    name: TagName
    tag: TagName
    above: float | None = None
    below: float | None = None
    deadband: float = Field(default=0.0, ge=0, description="clears this far back inside the limit")
    action: InterlockAction = InterlockAction.STOP_OUTPUTS
    outputs: list[TagName] = Field(default_factory=list, description="MVs it stops; empty = all of the loop's")
    on_bad_quality: Literal["trip", "ignore"] = "trip"
    message: str = ""
    voted_with: list[TagName] = Field(
        default_factory=list, description="two more electrodes of the same measurement: the interlock then trips "
                                          "on 2 out of 3 (tag + these); a bad channel counts per on_bad_quality")
    spare: TagName | None = Field(
        default=None, description="with voted_with: an electrode in the same water that stands in for a Bad, stale "
                                  "or missing channel, so one failed electrode and one drifting do not trip it")

    @model_validator(mode="after")
    def _one_limit(self) -> InterlockConfig:
        if (self.above is None) == (self.below is None):
            raise ValueError("an interlock needs exactly one of above: or below:")
        if self.voted_with and (len(self.voted_with) != 2 or len({self.tag, *self.voted_with}) != 3):
            raise ValueError("voted_with: needs two more tags, distinct from tag:, for a 2-out-of-3 vote")
        if self.spare is not None and (not self.voted_with or self.spare in {self.tag, *self.voted_with}):
            raise ValueError("spare: stands in for a channel of a 2-out-of-3 vote: give voted_with: and a fourth tag")
        return self


class LoopConfig(Strict):
    name: TagName
    kind: LoopKind = LoopKind.PH
    description: str = ""
    pv: TagName
    mv: list[TagName] = Field(
        min_length=0, max_length=2, description="output tags; empty only for a cascade primary (its output is "
                                                "another loop's remote setpoint)")
    setpoint: float
    setpoint_low: float
    setpoint_high: float
    kp: float
    ki: float = 0.0
    kd: float = 0.0
    output_low: float = 0.0
    output_high: float = 100.0
    output_rate_per_s: float | None = Field(default=None, gt=0)
    period_s: float = Field(default=1.0, ge=0.05, le=3600)
    mode: LoopMode = LoopMode.MAN
    fail_safe: FailSafeConfig = FailSafeConfig()
    split_range: SplitRangeConfig | None = None
    compensation: CompensationKind = CompensationKind.NONE
    titration_curve: TitrationCurveConfig | None = None
    feedforward: FeedforwardConfig | None = None
    interlocks: list[InterlockConfig] = Field(default_factory=list)
    cas_source: TagName | None = Field(default=None, description="tag or loop giving the remote setpoint in CAS")
    cas_scale: float = Field(default=1.0, gt=0, description="remote setpoint = the source's value x this (e.g. L/h "
                                                            "of reagent per % of the primary's output)")
    voted_with: list[TagName] = Field(
        default_factory=list, description="two more electrodes of the PV's measurement: the loop then controls on "
                                          "their middle of three, faulty ones taken out of the vote (control.voting)")
    vote_spare: TagName | None = Field(
        default=None, description="an electrode in the same water (e.g. the discharge electrode at the tank's "
                                  "outlet) that stands in while one of the three is out of the vote, so two left "
                                  "that disagree can still be told apart")
    sp_tracking_in_man: bool = True
    oscillation_guard: OscillationGuardConfig | None = Field(
        default=None, description="kind ph: cut the gain when the loop cycles (control/oscillation.py)")
    identification: IdentificationConfig | None = Field(
        default=None, description="kind ph with a titration curve: follow the buffering from the plant's own "
                                  "dose-response (control/titration_id.py)")
    turndown: TurndownConfig | None = Field(default=None, description="kind flow: pulse the pump below its minimum")
    deviation_alarm: FlowDeviationConfig | None = Field(default=None, description="kind flow: inner-loop deviation")
    meter_fallback: MeterFallbackConfig | None = Field(
        default=None, description="kind flow: on a Bad, stale or frozen flowmeter drive the pump on its calibration")
    setpoint_shift: SetpointShiftConfig | None = Field(
        default=None, description="in AUTO, hold a working setpoint between the operator's and a limit, as far as "
                                  "the loop's recent deviations allow (control/setpoint_shift.py)")

    @model_validator(mode="after")
    def _kind_parts(self) -> LoopConfig:
        if self.kind is LoopKind.FLOW:
            ph_only = [f for f in ("split_range", "titration_curve", "feedforward", "oscillation_guard",
                                   "identification")
                       if getattr(self, f) is not None]
            if self.compensation is not CompensationKind.NONE:
                ph_only.append("compensation")
            if ph_only:
                raise ValueError(f"kind flow takes no {', '.join(ph_only)} (those are the pH law's)")
            if len(self.mv) != 1:
                raise ValueError("kind flow drives one pump: mv: [pump speed setpoint]")
        elif self.turndown is not None or self.deviation_alarm is not None or self.meter_fallback is not None:
            raise ValueError("turndown:, deviation_alarm: and meter_fallback: belong to kind flow, "
                             f"not {self.kind.value}")
        return self

    @model_validator(mode="after")
    def _control_parts(self) -> LoopConfig:
        if self.compensation is not CompensationKind.NONE and self.titration_curve is None:
            raise ValueError(f"compensation {self.compensation.value} needs titration_curve: {{points: ...}}")
        if self.identification is not None and (self.titration_curve is None or self.feedforward is None):
            raise ValueError("identification: refines titration_curve: and reads the flow of feedforward: "
                             "(flow_tag); both are needed")
        ff = self.feedforward
        if ff is not None and ff.influent_ph_tag is not None and self.titration_curve is None:
            raise ValueError("feedforward from influent_ph_tag needs titration_curve:")
        if len(self.mv) == 2 and not self.output_low < 0.0 < self.output_high:
            raise ValueError("two outputs are a split range: output_low must be below 0 and output_high above 0")
        if self.split_range is not None and len(self.mv) != 2:
            raise ValueError("split_range needs two outputs: mv: [base pump, acid pump]")
        names: set[str] = set()
        for lock in self.interlocks:
            if lock.name in names:
                raise ValueError(f"duplicate interlock {lock.name!r}")
            names.add(lock.name)
            for out in lock.outputs:
                if out not in self.mv:
                    raise ValueError(f"interlock {lock.name!r} stops {out!r}, which is not an output (mv) of this loop")
        if self.cas_source == self.name:
            raise ValueError("a loop cannot be its own cascade source")
        if self.voted_with and (len(self.voted_with) != 2 or len({self.pv, *self.voted_with}) != 3):
            raise ValueError("voted_with: needs two more electrodes, distinct from pv:, for a middle-of-three vote")
        if self.vote_spare is not None and (not self.voted_with or self.vote_spare in {self.pv, *self.voted_with}):
            raise ValueError("vote_spare: stands in for one of the voted electrodes: give voted_with: and a fourth tag")
        return self

    @model_validator(mode="after")
    def _limits(self) -> LoopConfig:
        if not self.setpoint_low < self.setpoint_high:
            raise ValueError("setpoint_low must be below setpoint_high")
        if not self.setpoint_low <= self.setpoint <= self.setpoint_high:
            raise ValueError(f"setpoint {self.setpoint} is outside [{self.setpoint_low}, {self.setpoint_high}]")
        if not self.output_low < self.output_high:
            raise ValueError("output_low must be below output_high")
        shift = self.setpoint_shift
        if shift is not None:
            nearest = shift.limit + shift.min_margin if shift.limit < self.setpoint else shift.limit - shift.min_margin
            if shift.limit == self.setpoint or not self.setpoint_low <= nearest <= self.setpoint_high:
                raise ValueError(
                    f"setpoint_shift: the nearest working setpoint, limit {shift.limit:g} with min_margin "
                    f"{shift.min_margin:g} = {nearest:g}, must lie within the setpoint limits "
                    f"[{self.setpoint_low:g}, {self.setpoint_high:g}] and the limit away from the setpoint "
                    f"{self.setpoint:g}")
        return self


class AlarmType(StrEnum):
    HH = "HH"
    H = "H"
    L = "L"
    LL = "LL"
    DEVIATION = "deviation"
    RATE_OF_CHANGE = "rate_of_change"
    BAD_QUALITY = "bad_quality"
    DISCRETE = "discrete"
    RANGE = "range"
    """Diagnostic: the value is outside the tag's range (wrong scaling, byte/word order, data type or numbering)."""


class SuppressionCondition(Strict):
    """Designed suppression (ISA-18.2 state-based alarming): the alarm is suppressed while this holds."""

    tag: TagPath
    below: float | None = Field(default=None, description="suppressed while the tag's value is below this")
    above: float | None = Field(default=None, description="suppressed while the tag's value is above this")

    @model_validator(mode="after")
    def _one_bound(self) -> SuppressionCondition:
        if self.below is None and self.above is None:
            raise ValueError("suppress_when needs below: or above: (or both)")
        return self


class AlarmConfig(Strict):
    name: TagName
    tag: TagPath
    type: AlarmType
    limit: float | None = Field(
        default=None, description="EU for HH/H/L/LL, EU off setpoint for deviation, EU/min for rate_of_change, "
                                  "the alarm value for discrete (default 1)")
    priority: int = Field(default=3, ge=1, le=4, description="1 urgent … 4 low")
    deadband: float = Field(default=0.0, ge=0)
    on_delay_s: float = Field(default=0.0, ge=0)
    off_delay_s: float = Field(default=0.0, ge=0)
    message: str = ""
    loop: TagName | None = None
    re_alarm_s: float | None = Field(
        default=None, gt=0, description="an acknowledged alarm still active re-annunciates after this")
    latching: bool = Field(default=False, description="stays active after return to normal until an operator reset")
    suppress_when: SuppressionCondition | None = None
    shelve_max_s: float = Field(default=8 * 3600, gt=0, le=7 * 86400, description="longest timed shelve allowed")

    @model_validator(mode="after")
    def _needs_limit(self) -> AlarmConfig:
        needs = self.type in (AlarmType.HH, AlarmType.H, AlarmType.L, AlarmType.LL,
                              AlarmType.DEVIATION, AlarmType.RATE_OF_CHANGE)
        if needs and self.limit is None:
            raise ValueError(f"a {self.type.value} alarm needs limit:")
        if self.type is AlarmType.DEVIATION and self.loop is None:
            raise ValueError("a deviation alarm needs loop: (whose setpoint it deviates from)")
        if self.type in (AlarmType.DEVIATION, AlarmType.RATE_OF_CHANGE) and self.limit is not None \
                and self.limit <= 0:
            raise ValueError(f"a {self.type.value} alarm's limit must be above 0 (got {self.limit})")
        if self.limit is not None and self.deadband > 0 and self.type in (
                AlarmType.DEVIATION, AlarmType.RATE_OF_CHANGE) and self.deadband >= self.limit:
            raise ValueError(f"deadband {self.deadband} must be below the limit {self.limit}, or it never clears")
        return self


class ReturnPumpConfig(Strict):
    """Pumps held water back for retreatment while the discharge is in spec and the holding tank has water."""

    sp: TagName = Field(description="the return pump's speed setpoint (%)")
    run: TagName | None = Field(default=None, description="its run command, if it has one")
    speed_pct: float = Field(default=50.0, gt=0, le=100, description="speed while returning")
    start_level_pct: float = Field(default=10.0, ge=0, le=100, description="returns above this holding level...")
    stop_level_pct: float = Field(default=3.0, ge=0, le=100, description="...until it falls to this")
    after_outfall_s: float = Field(default=600.0, ge=0, description="only this long after the outfall reopened")

    @model_validator(mode="after")
    def _levels(self) -> ReturnPumpConfig:
        if not self.stop_level_pct < self.start_level_pct:
            raise ValueError("stop_level_pct must be below start_level_pct")
        return self


class OutvoteConfig(Strict):
    """A single discharge electrode against a loop's full three-electrode vote of the same water."""

    ph: float = Field(default=0.5, gt=0, le=3, description="disagreement, pH, that counts against the electrode")
    delay_s: float = Field(default=120.0, ge=0, le=3600, description="how long it must last (meanwhile it diverts)")


class DiversionConfig(Strict):
    """A diversion valve after the last stage: off-spec (or unknown) discharge goes to a holding tank."""

    name: TagName
    description: str = ""
    ph: list[TagName] = Field(min_length=1, max_length=3, description="discharge pH measurements (tags, or loops "
                                                                      "whose voted PV counts): ANY of them off-spec, "
                                                                      "Bad or stale diverts")
    valve: TagName = Field(description="valve command, 1 = divert (writable)")
    holding_level: TagName | None = Field(default=None, description="holding tank level (%); unknown counts as full")
    flow: TagName | None = Field(default=None, description="discharge flow (m3/h) for the diverted-volume count")
    return_pump: ReturnPumpConfig | None = None
    divert_low_ph: float = 6.3
    divert_high_ph: float = 8.7
    return_low_ph: float = 6.5
    return_high_ph: float = 8.5
    return_s: float = Field(default=120.0, ge=0)
    min_divert_s: float = Field(default=300.0, ge=0)
    stale_after_s: float = Field(default=10.0, gt=0)
    holding_full_pct: float = Field(default=95.0, gt=0, le=100)
    holding_room_pct: float = Field(default=90.0, ge=0, lt=100)
    period_s: float = Field(default=1.0, ge=0.05, le=60)
    outvote: OutvoteConfig | None = Field(
        default=None, description="a single electrode that is Bad, stale, or departs from a loop's vote of three "
                                  "agreeing electrodes in the same water (for delay_s) is outvoted, alarmed, and "
                                  "the decision rests on the vote; None: any measurement Bad or off-spec diverts")

    @model_validator(mode="after")
    def _bands(self) -> DiversionConfig:
        if not self.divert_low_ph <= self.return_low_ph < self.return_high_ph <= self.divert_high_ph:
            raise ValueError("the return band must lie inside the divert band (that is the hysteresis)")
        if not self.holding_room_pct < self.holding_full_pct:
            raise ValueError("holding_room_pct must be below holding_full_pct")
        return self


class PlantConfig(Strict):
    plant: PlantInfo
    historian: HistorianConfig = HistorianConfig()
    sources: list[SourceConfig] = Field(default_factory=list)
    tags: list[TagConfig] = Field(default_factory=list)
    loops: list[LoopConfig] = Field(default_factory=list)
    diversion: list[DiversionConfig] = Field(
        default_factory=list, description="discharge diversion valves (docs/control.md); empty: none")
    alarms: list[AlarmConfig] = Field(default_factory=list)
    simulation: dict[str, Any] | None = None
    reporting: ReportingConfig | None = None
    process: ProcessConfig | None = Field(
        default=None, description="the train for the process graphic (docs/panel.md); absent: derived from tag names")
    notifications: NotificationsConfig | None = Field(
        default=None, description="on-call paging of alarms (docs/notifications.md); absent: no notifications")
    uplink: UplinkConfig | None = Field(
        default=None, description="publish to a fleet broker as a Sparkplug B edge node (docs/fleet.md)")

    def tag(self, name: str) -> TagConfig:
        for t in self.tags:
            if t.name == name:
                return t
        raise KeyError(name)

    def source(self, name: str) -> SourceConfigBase:
        for s in self.sources:
            if s.name == name:
                return s
        raise KeyError(name)

    def tags_of(self, source: str) -> list[TagConfig]:
        return [t for t in self.tags if t.source == source]
