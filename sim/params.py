"""Parameters of the simulated plant: the `simulation:` section of a plant file, checked strictly.

Every field carries its unit in its name. The defaults describe the example plant, so
`simulation: {seed: 42}` is a complete section.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from plantctl.config.load import SECTION_CHECKS, validate_section
from plantctl.config.yamlsrc import ConfigError, ConfigIssue, LocatedDocument, load_located


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)


def _merge_defaults(cls: type[BaseModel], data: Any, only: tuple[str, ...] | None = None) -> Any:
    """Let a plant file give only some fields of an entry whose defaults differ per entry (e.g. one sensor's lag)."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    for name, field in cls.model_fields.items():
        key = field.alias or name
        if (only is not None and key not in only) or not isinstance(out.get(key), dict):
            continue
        default = field.default
        if isinstance(default, BaseModel):
            out[key] = {**default.model_dump(), **out[key]}
    return out


class TankParams(Strict):
    """T-101 (to C-301) or T-401 (to the outfall pipe): a vertical cylinder overflowing a weir (Q = c·head^1.5)."""

    area_m2: float = Field(default=2.4, gt=0)
    height_m: float = Field(default=2.5, gt=0, description="wall height; level 100 % at this height")
    weir_height_m: float = Field(default=2.0, gt=0)
    weir_coeff_m3_h: float = Field(default=60.0, gt=0, description="outflow m3/h at 1 m head over the weir")
    ambient_temp_c: float = Field(default=18.0, ge=-20, le=50)
    heat_loss_kw_per_k: float = Field(default=0.15, ge=0, description="through wall and surface")
    neutralisation_heat_kj_mol: float = Field(
        default=55.8, ge=0, description="released per mol of NaOH dosed (H+ + OH- -> H2O at 25 degC)")
    mixing_time_s: float = Field(default=0.0, ge=0, le=3600,
                                 description="reagent reaches the bulk through a first-order mixing zone")
    electrode_delay_s: float = Field(default=0.0, ge=0, le=600,
                                     description="transport delay from the bulk to the tank's electrodes")

    @model_validator(mode="after")
    def _weir_below_top(self) -> TankParams:
        if not self.weir_height_m < self.height_m:
            raise ValueError(f"weir_height_m ({self.weir_height_m}) must be below height_m ({self.height_m})")
        return self

    @property
    def tank_volume_m3(self) -> float:
        return self.area_m2 * self.height_m


class PumpParams(Strict):
    """A dosing pump and its line: capacity at 100 % speed, reagent strength, transport dead time."""

    capacity_l_h: float = Field(gt=0)
    reagent_mol_l: float = Field(gt=0, description="NaOH or H2SO4 molarity of the reagent")
    dead_time_s: float = Field(default=20.0, ge=0, le=3600)
    min_effective_speed_pct: float = Field(
        default=0.0, ge=0, lt=50, description="below this speed the pump delivers nothing (turndown limit)")
    low_speed_knee_pct: float = Field(
        default=0.0, ge=0, le=50, description="flow = speed·(1 − e^(−(speed − min)/knee)): slip near the bottom")


class SensorParams(Strict):
    """An instrument: first-order lag, white noise, calibration tolerance and range (engineering unit)."""

    lag_s: float = Field(ge=0, le=3600)
    noise_sd_eu: float = Field(ge=0, description="standard deviation of noise, in the instrument's unit")
    drift_tolerance_eu: float = Field(gt=0, description="|drift + offset| above this reads UNCERTAIN")
    drift_per_h_eu: float = Field(default=0.0, description="slow drift from t = 0 (an ageing electrode)")
    range_low_eu: float
    range_high_eu: float
    drift_flags_uncertain: bool = Field(
        default=True, description="UNCERTAIN past drift_tolerance_eu (a real transmitter cannot know it drifts)")
    coating_lag_s_per_day: float = Field(default=0.0, ge=0, description="coating slows the response: lag grows")
    analyser_cycle_s: float = Field(default=0.0, ge=0, le=7200,
                                    description="> 0: sample-and-hold analyser, a new result every cycle")
    low_flow_cutoff_eu: float = Field(default=0.0, ge=0,
                                      description="a flowmeter reads exactly its range low (GOOD) below this")
    calibration_s: float = Field(default=300.0, ge=0, le=7200,
                                 description="a calibration holds the value, UNCERTAIN, this long")

    @model_validator(mode="after")
    def _range(self) -> SensorParams:
        if not self.range_low_eu < self.range_high_eu:
            raise ValueError("range_low_eu must be below range_high_eu")
        return self


def _ph(lag_s: float, flags: bool = True) -> SensorParams:
    return SensorParams(lag_s=lag_s, noise_sd_eu=0.01, drift_tolerance_eu=0.2, range_low_eu=0.0, range_high_eu=14.0,
                        drift_flags_uncertain=flags)


def _flowmeter(high_l_h: float) -> SensorParams:
    """A magnetic flowmeter on a reagent line: fast, ±0.5 % of span noise."""
    return SensorParams(lag_s=1.0, noise_sd_eu=0.005 * high_l_h, drift_tolerance_eu=0.05 * high_l_h,
                        range_low_eu=0.0, range_high_eu=high_l_h, drift_flags_uncertain=False,
                        low_flow_cutoff_eu=0.01 * high_l_h)


class SensorSet(Strict):
    """One entry per instrument of the example plant, keyed by its tag."""

    fit_100: SensorParams = Field(default=SensorParams(
        lag_s=2.0, noise_sd_eu=0.05, drift_tolerance_eu=0.5, range_low_eu=0.0, range_high_eu=15.0), alias="FIT-100")
    ait_100: SensorParams = Field(default=_ph(10.0), alias="AIT-100")
    ait_101: SensorParams = Field(default=_ph(15.0), alias="AIT-101")
    cit_101: SensorParams = Field(default=SensorParams(
        lag_s=5.0, noise_sd_eu=0.05, drift_tolerance_eu=2.0, range_low_eu=0.0, range_high_eu=200.0), alias="CIT-101")
    lit_101: SensorParams = Field(default=SensorParams(
        lag_s=1.0, noise_sd_eu=0.1, drift_tolerance_eu=2.0, range_low_eu=0.0, range_high_eu=100.0), alias="LIT-101")
    tit_101: SensorParams = Field(default=SensorParams(
        lag_s=30.0, noise_sd_eu=0.02, drift_tolerance_eu=0.5, range_low_eu=0.0, range_high_eu=60.0), alias="TIT-101")
    ait_301: SensorParams = Field(default=SensorParams(
        lag_s=120.0, noise_sd_eu=2.0, drift_tolerance_eu=20.0, range_low_eu=0.0, range_high_eu=1500.0,
        analyser_cycle_s=600.0, calibration_s=900.0), alias="AIT-301")
    ait_104: SensorParams = Field(default=_ph(15.0, flags=False), alias="AIT-104")
    ait_105: SensorParams = Field(default=_ph(15.0, flags=False), alias="AIT-105")
    ait_302: SensorParams = Field(default=_ph(15.0, flags=False), alias="AIT-302")
    fit_201: SensorParams = Field(default=_flowmeter(300.0), alias="FIT-201")
    fit_202: SensorParams = Field(default=_flowmeter(40.0), alias="FIT-202")
    # the trim stage T-401, the outfall and the holding tank T-501 (issue 15)
    ait_401: SensorParams = Field(default=_ph(15.0, flags=False), alias="AIT-401")
    ait_402: SensorParams = Field(default=_ph(15.0, flags=False), alias="AIT-402")
    ait_403: SensorParams = Field(default=_ph(15.0, flags=False), alias="AIT-403")
    ait_410: SensorParams = Field(default=_ph(15.0, flags=False), alias="AIT-410")
    fit_401: SensorParams = Field(default=_flowmeter(300.0), alias="FIT-401")
    fit_402: SensorParams = Field(default=_flowmeter(40.0), alias="FIT-402")
    fit_410: SensorParams = Field(default=SensorParams(
        lag_s=2.0, noise_sd_eu=0.05, drift_tolerance_eu=0.5, range_low_eu=0.0, range_high_eu=20.0,
        drift_flags_uncertain=False, low_flow_cutoff_eu=0.1), alias="FIT-410")
    lit_501: SensorParams = Field(default=SensorParams(  # an empty holding tank reads a clean, GOOD 0 %
        lag_s=1.0, noise_sd_eu=0.1, drift_tolerance_eu=2.0, range_low_eu=0.0, range_high_eu=100.0,
        low_flow_cutoff_eu=0.5), alias="LIT-501")
    fit_501: SensorParams = Field(default=SensorParams(
        lag_s=1.0, noise_sd_eu=0.025, drift_tolerance_eu=0.25, range_low_eu=0.0, range_high_eu=5.0,
        drift_flags_uncertain=False, low_flow_cutoff_eu=0.05), alias="FIT-501")
    ait_300: SensorParams = Field(default=SensorParams(
        lag_s=120.0, noise_sd_eu=2.0, drift_tolerance_eu=20.0, range_low_eu=0.0, range_high_eu=1500.0,
        analyser_cycle_s=600.0, calibration_s=900.0), alias="AIT-300")

    @model_validator(mode="before")
    @classmethod
    def _partial(cls, data: Any) -> Any:
        return _merge_defaults(cls, data)

    def by_tag(self) -> dict[str, SensorParams]:
        return {
            "FIT-100": self.fit_100, "AIT-100": self.ait_100, "AIT-101": self.ait_101,
            "CIT-101": self.cit_101, "LIT-101": self.lit_101, "TIT-101": self.tit_101,
            "AIT-301": self.ait_301, "AIT-104": self.ait_104, "AIT-105": self.ait_105,
            "AIT-302": self.ait_302, "FIT-201": self.fit_201, "FIT-202": self.fit_202,
            "AIT-401": self.ait_401, "AIT-402": self.ait_402, "AIT-403": self.ait_403, "AIT-410": self.ait_410,
            "FIT-401": self.fit_401, "FIT-402": self.fit_402, "FIT-410": self.fit_410, "LIT-501": self.lit_501,
            "FIT-501": self.fit_501, "AIT-300": self.ait_300,
        }


SENSOR_TAGS: tuple[str, ...] = ("FIT-100", "AIT-100", "AIT-101", "CIT-101", "LIT-101", "TIT-101", "AIT-301",
                                "AIT-104", "AIT-105", "AIT-302", "FIT-201", "FIT-202",
                                "AIT-401", "AIT-402", "AIT-403", "AIT-410", "FIT-401", "FIT-402", "FIT-410",
                                "LIT-501", "FIT-501", "AIT-300")
# Each group of instruments draws its noise from its own random stream, so adding one keeps old seeds' runs.
FIRST_SENSOR_TAGS = SENSOR_TAGS[:7]
SECOND_SENSOR_TAGS = SENSOR_TAGS[7:12]  # issue 14's electrodes and reagent flowmeters
TRIM_SENSOR_TAGS = SENSOR_TAGS[12:]  # issue 15's trim stage, outfall and holding tank


class InfluentParams(Strict):
    """The effluent arriving from the recycling plant: a daily pattern plus slow random wander."""

    flow_mean_m3_h: float = Field(default=6.0, gt=0)
    flow_amplitude_m3_h: float = Field(default=3.0, ge=0)
    ph_mean: float = Field(default=2.5, ge=0, le=7)
    ph_amplitude: float = Field(default=0.5, ge=0)
    li_mean_mg_l: float = Field(default=450.0, ge=0)
    li_amplitude_mg_l: float = Field(default=300.0, ge=0)
    na_mg_l: float = Field(default=250.0, ge=0)
    tic_mmol_l: float = Field(default=4.0, ge=0, description="total inorganic carbon (carbonate)")
    chloride_mmol_l: float = Field(default=5.0, ge=0)
    fluoride_mg_l: float = Field(default=0.0, ge=0, description="as F (LiPF6 electrolyte hydrolysis)")
    phosphate_mg_l: float = Field(default=0.0, ge=0, description="as PO4 (LFP cathodes)")
    ni_mg_l: float = Field(default=0.0, ge=0)
    co_mg_l: float = Field(default=0.0, ge=0)
    mn_mg_l: float = Field(default=0.0, ge=0)
    cu_mg_l: float = Field(default=0.0, ge=0)
    fe_mg_l: float = Field(default=0.0, ge=0, description="as Fe(III)")
    al_mg_l: float = Field(default=0.0, ge=0)
    temp_mean_c: float = Field(default=22.0, ge=0, le=60)
    temp_amplitude_c: float = Field(default=3.0, ge=0)
    peak_hour_h: float = Field(default=14.0, ge=0, lt=24, description="hour of day of peak flow/load")
    wander_time_constant_s: float = Field(default=900.0, gt=0)
    flow_wander_fraction: float = Field(default=0.05, ge=0, description="sd of the random wander / mean")
    ph_wander: float = Field(default=0.08, ge=0, description="sd of the random wander, pH units")
    li_wander_fraction: float = Field(default=0.05, ge=0)

    @model_validator(mode="after")
    def _positive(self) -> InfluentParams:
        if self.flow_amplitude_m3_h >= self.flow_mean_m3_h:
            raise ValueError("flow_amplitude_m3_h must be below flow_mean_m3_h (flow stays positive)")
        return self


class ChemistryParams(Strict):
    """How T-101's water is computed: activities, CO2 exchange with air (sim/chemistry.py)."""

    activities: bool = Field(default=True, description="Davies activity coefficients (False: ideal solution)")
    kla_co2_per_h: float = Field(default=2.0, ge=0, le=100,
                                 description="CO2 gas-liquid mass transfer coefficient of T-101 (0: closed)")
    trim_kla_co2_per_h: float = Field(default=2.0, ge=0, le=100,
                                      description="the same for the trim tank T-401 (0: closed)")
    pco2_atm: float = Field(default=4.2e-4, ge=0, le=1, description="CO2 partial pressure of the air above")


class ColumnParams(Strict):
    """C-301 lithium sorbent column: pH-dependent uptake, finite capacity, breakthrough."""

    bed_volume_m3: float = Field(default=1.2, gt=0, description="void volume; sets the outlet lag")
    capacity_kg_li: float = Field(default=50.0, gt=0, description="Li the bed holds at full uptake pH")
    initial_loading_fraction: float = Field(default=0.0, ge=0, le=1)
    max_removal_fraction: float = Field(default=0.95, ge=0, le=1)
    uptake_ph50: float = Field(default=5.5, ge=0, le=14, description="pH of half uptake (H+/Li+ exchange)")
    uptake_ph_slope_per_ph: float = Field(default=2.0, gt=0)
    breakthrough_exponent: float = Field(default=4.0, gt=0, description="sharpness of breakthrough")


class ValveParams(Strict):
    """XV-410, the outfall diversion valve: linear travel between outfall (0 %) and T-501 (100 %)."""

    stroke_s: float = Field(default=10.0, ge=0, le=600, description="full travel time, either way")
    initial_divert: bool = Field(default=False, description="position at t = 0 (False: to the outfall)")


class HoldingTankParams(Strict):
    """T-501, the holding tank for diverted water: closed, well mixed; overflows to the outfall when full."""

    volume_m3: float = Field(default=30.0, gt=0, description="volume at 100 % level (overflow)")
    initial_volume_m3: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _initial_fits(self) -> HoldingTankParams:
        if self.initial_volume_m3 > self.volume_m3:
            raise ValueError(f"initial_volume_m3 ({self.initial_volume_m3}) exceeds volume_m3 ({self.volume_m3})")
        return self


class ReturnPumpParams(Strict):
    """P-501, which returns T-501's water to T-101's inlet for retreatment."""

    capacity_m3_h: float = Field(default=3.0, gt=0, description="flow at 100 % speed")


class SimParams(Strict):
    """The whole simulated plant."""

    seed: int = Field(default=42, ge=0)
    start_time_h: float = Field(default=0.0, ge=0, lt=24, description="time of day at t = 0")
    tank: TankParams = TankParams()
    naoh_pump: PumpParams = Field(default=PumpParams(capacity_l_h=250.0, reagent_mol_l=6.1), alias="P-201")
    acid_pump: PumpParams = Field(default=PumpParams(capacity_l_h=30.0, reagent_mol_l=1.0), alias="P-202")
    sensors: SensorSet = SensorSet()
    influent: InfluentParams = InfluentParams()
    column: ColumnParams = ColumnParams()
    chemistry: ChemistryParams = ChemistryParams()
    initial_naoh_pct: float = Field(default=0.0, ge=0, le=100,
                                    description="P-201 speed setpoint at t = 0 (the tank starts settled)")
    initial_tank_ph: float = Field(default=7.5, ge=0, le=14, description="T-101 starts neutralised to this pH")
    trim_tank: TankParams = Field(default=TankParams(), alias="T-401")
    trim_naoh_pump: PumpParams = Field(default=PumpParams(capacity_l_h=250.0, reagent_mol_l=6.1), alias="P-401")
    trim_acid_pump: PumpParams = Field(default=PumpParams(capacity_l_h=30.0, reagent_mol_l=1.0), alias="P-402")
    initial_trim_naoh_pct: float = Field(default=0.0, ge=0, le=100, description="P-401 speed setpoint at t = 0")
    initial_trim_ph: float = Field(default=7.0, ge=0, le=14, description="T-401 starts neutralised to this pH")
    outfall_pipe_delay_s: float = Field(default=90.0, ge=0, le=3600,
                                        description="plug flow from AIT-410 at T-401's outlet to XV-410")
    diversion_valve: ValveParams = Field(default=ValveParams(), alias="XV-410")
    holding_tank: HoldingTankParams = Field(default=HoldingTankParams(), alias="T-501")
    return_pump: ReturnPumpParams = Field(default=ReturnPumpParams(), alias="P-501")

    @model_validator(mode="before")
    @classmethod
    def _partial(cls, data: Any) -> Any:
        return _merge_defaults(cls, data, only=("P-201", "P-202", "P-401", "P-402"))



def check_simulation_section(doc: LocatedDocument) -> list[ConfigIssue]:
    """Check the `simulation:` section of a plant file; every issue carries file and line."""
    issues: list[ConfigIssue] = []
    data = doc.data
    if not isinstance(data, dict) or data.get("simulation") is None:
        return issues
    if isinstance(data["simulation"], dict):
        validate_section(doc, SimParams, data["simulation"], ("simulation",), issues)
    return issues


if check_simulation_section not in SECTION_CHECKS:
    SECTION_CHECKS.append(check_simulation_section)


def sim_params_from_doc(doc: LocatedDocument) -> SimParams:
    """SimParams from a parsed plant file (defaults when it has no simulation: section)."""
    data: Any = doc.data
    section = data.get("simulation") if isinstance(data, dict) else None
    if section is None:
        return SimParams()
    if not isinstance(section, dict):
        raise ConfigError([doc.issue(("simulation",), "simulation must be a mapping")])
    issues: list[ConfigIssue] = []
    params = validate_section(doc, SimParams, section, ("simulation",), issues)
    if params is None:
        raise ConfigError(issues)
    return params


def load_sim_params(plant_file: str | Path) -> SimParams:
    """Read only the `simulation:` section of a plant file; ConfigError (with lines) when it is wrong."""
    return sim_params_from_doc(load_located(plant_file))
