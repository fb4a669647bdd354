"""PlantModel: the example plant (influent → T-101 → C-301) as a pure, steppable, seeded process model.

It satisfies sim.interface.ProcessModel. No network, no wall clock: time advances only in step().
Equations and assumptions: docs/simulator-model.md.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from sim.chemistry import (
    HYDROXIDE_G_MOL,
    INVARIANT_NAMES,
    LI_G_MOL,
    METAL_G_MOL,
    METALS,
    N_INVARIANTS,
    Invariants,
    base_for_ph,
    conditions,
    equilibrate,
    ionic_and_conductivity,
    mol_l_to_mg_l,
    solve_log_h,
    speciate_log_h,
)
from sim.column import SorbentColumn
from sim.influent import Influent, InfluentState
from sim.interface import COMMANDS, CommandRejected, Reading
from sim.params import FIRST_SENSOR_TAGS, SENSOR_TAGS, SimParams, load_sim_params
from sim.pumps import DosingPump
from sim.sensors import Sensor

_WATER_HEAT_KJ_M3_K = 4180.0  # rho * cp of water, kJ/(m3 K)
_MAX_SUBSTEP_S = 5.0  # physics substep: keeps the explicit Euler weir outflow well inside stability
_NOISE_BLOCK = 2048
_N_NOISE = len(FIRST_SENSOR_TAGS) + 3  # one per original sensor + three influent wander processes
_EXTRA_TAGS = SENSOR_TAGS[len(FIRST_SENSOR_TAGS):]  # later instruments draw from their own stream
_PUMP_NAMES = ("P-201", "P-202")
_N_FIRST = len(FIRST_SENSOR_TAGS)
_PUMP_POINTS = tuple((name, f"{name}.SPEED", f"{name}.RUNNING", f"{name}.FAULT") for name in _PUMP_NAMES)
_ON_OFF = (Reading(0.0), Reading(1.0))
_METAL_IDX = tuple(INVARIANT_NAMES.index(m) for m in METALS)
_NA, _S, _C = INVARIANT_NAMES.index("na"), INVARIANT_NAMES.index("sulfate"), INVARIANT_NAMES.index("carbonate")


class ScenarioHook(Protocol):
    """Applies timed events to a model as simulated time passes (sim.scenario.ScenarioPlayer)."""

    def advance(self, model: PlantModel) -> None: ...


@dataclass(frozen=True, slots=True)
class TrueState:
    """The plant as it really is (unmeasured): for tests, tuning and the control engineer."""

    t_s: float
    ph: float
    conductivity_ms_cm: float
    temp_c: float
    volume_m3: float
    level_m: float
    level_pct: float
    tank: Invariants  # mol/L in T-101
    influent: InfluentState
    outflow_m3_h: float
    naoh_pumped_l_h: float
    naoh_delivered_l_h: float  # arriving in T-101 (after the dosing-line dead time)
    acid_pumped_l_h: float
    acid_delivered_l_h: float
    column_outlet_li_mg_l: float
    column_loading_fraction: float
    ionic_strength: float = 0.0  # mol/L in T-101
    co2_to_air_mol: float = 0.0  # net CO2 stripped from T-101 since t = 0 (negative: recarbonated)
    dissolved_metals_mg_l: dict[str, float] | None = None  # in T-101 and so in the discharge
    sludge_kg: float = 0.0  # hydroxide solids suspended in T-101 now
    sludge_out_kg: float = 0.0  # hydroxide solids carried out with the overflow since t = 0
    discharge_ph: float = 7.0  # after C-301 (H+ released for the Li taken up)


@dataclass(frozen=True, slots=True)
class Balance:
    """One invariant over T-101 since t = 0 (mol): what came in, went out, and stayed."""

    in_mol: float
    out_mol: float
    accumulated_mol: float

    @property
    def closure_error(self) -> float:
        """Relative error of in − out = accumulated (0 when the books close)."""
        scale = max(abs(self.in_mol), abs(self.out_mol), abs(self.accumulated_mol), 1e-30)
        return abs(self.in_mol - self.out_mol - self.accumulated_mol) / scale


class PlantModel:
    """The example plant: influent, T-101 CSTR with split-range dosing, C-301 column, instruments."""

    def __init__(self, params: SimParams | None = None, seed: int | None = None,
                 scenario: ScenarioHook | None = None) -> None:
        self.params = params if params is not None else SimParams()
        p = self.params
        self.seed = p.seed if seed is None else seed
        self._rng = np.random.default_rng(self.seed)
        self._noise: list[list[float]] = self._rng.standard_normal((_NOISE_BLOCK, _N_NOISE)).tolist()
        self._noise_i = 0
        self._rng_extra = np.random.default_rng([self.seed, 14])
        self._noise_extra: list[list[float]] = self._rng_extra.standard_normal(
            (_NOISE_BLOCK, len(_EXTRA_TAGS))).tolist()
        self._t_s = 0.0
        self._scenario: ScenarioHook | None = None

        self.influent = Influent(p.influent, p.start_time_h)
        inf = self.influent.state
        tank = p.tank
        q0 = inf.flow_m3_h
        self._volume_m3 = tank.area_m2 * (tank.weir_height_m + (q0 / tank.weir_coeff_m3_h) ** (2.0 / 3.0))
        self._volume_m3 = min(self._volume_m3, tank.tank_volume_m3)
        start = inf.invariants
        chem = p.chemistry
        extra_na = max(base_for_ph(p.initial_tank_ph, start, inf.temp_c, chem.activities), 0.0)
        conc = list(start.as_tuple())
        conc[_NA] += extra_na
        self._moles = [c * self._volume_m3 * 1000.0 for c in conc]
        self._moles0 = list(self._moles)
        self._in_mol = [0.0] * N_INVARIANTS
        self._out_mol = [0.0] * N_INVARIANTS
        self._water_in_l = 0.0
        self._water_out_l = 0.0
        self._volume0_m3 = self._volume_m3
        self.co2_to_air_mol = 0.0
        self._sludge_out_mol = dict.fromkeys(METALS, 0.0)
        self._temp_c = inf.temp_c
        eq = equilibrate(Invariants(*conc), self._temp_c, activities=chem.activities)
        self._ph, self._log_h, self._cond_c = eq.ph, eq.log_h, eq.cond
        self._log_h_before = self._log_h  # the step before: Newton's start is extrapolated from the two
        self._discharge_shift = 0.0  # discharge log[H+] − T-101's at the last step
        self._ionic, self._cond = ionic_and_conductivity(tuple(conc), self._log_h, self._cond_c)
        self._zone_mol = [0.0, 0.0]  # NaOH and H2SO4 in the dosing point's mixing zone, not yet in the bulk
        self._electrode_ph: deque[tuple[float, float]] = deque([(0.0, self._ph)])

        self.pumps = {"P-201": DosingPump("P-201", p.naoh_pump), "P-202": DosingPump("P-202", p.acid_pump)}
        if p.initial_naoh_pct > 0:
            self.pumps["P-201"].set_sp(p.initial_naoh_pct)
            self.pumps["P-201"].set_run(1.0)
        self.watchdog_tripped = False
        self.safe_state_reason = ""
        self.column = SorbentColumn(p.column, conc[1], self._ph)
        self.column_taken_mol = 0.0
        self._column_in_mol = 0.0
        self._column_out_mol = 0.0
        self._column_outlet0 = self.column.outlet_mol_l
        self._log_h_discharge = self._log_h
        self._ph_discharge = self._discharge_ph()

        specs = p.sensors.by_tag()
        truth = self._true_values()
        # in SENSOR_TAGS order: step() pairs them with the noise columns and readings() walks them in order
        self.sensors = {tag: Sensor(tag, specs[tag], truth[tag]) for tag in SENSOR_TAGS}
        self._readings_cache: dict[str, Reading] | None = None
        self.attach_scenario(scenario)

    @classmethod
    def from_plant_file(cls, path: str | Path, seed: int | None = None) -> PlantModel:
        """Build the model from a plant file's `simulation:` section (ConfigError with lines if wrong)."""
        return cls(load_sim_params(path), seed)

    # --- ProcessModel ------------------------------------------------------------------------

    @property
    def t_s(self) -> float:
        return self._t_s

    def attach_scenario(self, scenario: ScenarioHook | None) -> None:
        """Play a scenario's process events from now on (None detaches); events due now apply at once."""
        self._scenario = scenario
        if scenario is not None:
            scenario.advance(self)
            self._readings_cache = None

    def step(self, dt_s: float) -> None:
        """Advance the plant by dt_s simulated seconds."""
        if not dt_s > 0.0 or math.isinf(dt_s):
            raise ValueError(f"step needs a positive finite dt_s, got {dt_s}")
        if self._scenario is not None:
            self._scenario.advance(self)
        n_sub = max(1, math.ceil(dt_s / _MAX_SUBSTEP_S - 1e-9))
        h = dt_s / n_sub
        for _ in range(n_sub):
            self._physics(h)
        self._t_s += dt_s
        self._equilibrate()
        self._ph_discharge = self._discharge_ph()
        delay = self.params.tank.electrode_delay_s
        self._electrode_ph.append((self._t_s, self._ph))
        while len(self._electrode_ph) > 1 and self._electrode_ph[1][0] <= self._t_s - delay + 1e-9:
            self._electrode_ph.popleft()

        if self._noise_i >= _NOISE_BLOCK:
            self._noise = self._rng.standard_normal((_NOISE_BLOCK, _N_NOISE)).tolist()
            self._noise_extra = self._rng_extra.standard_normal((_NOISE_BLOCK, len(_EXTRA_TAGS))).tolist()
            self._noise_i = 0
        noise = self._noise[self._noise_i]
        extra = self._noise_extra[self._noise_i]
        self._noise_i += 1
        self.influent.step(self._t_s, dt_s, (noise[-3], noise[-2], noise[-1]))
        truth = self._true_values()
        sensors = self.sensors
        # each instrument with its draw: the first streams' columns in FIRST_SENSOR_TAGS order, then the extra
        for (tag, sensor), n in zip(sensors.items(), (*noise[:_N_FIRST], *extra), strict=True):
            sensor.step(truth[tag], dt_s, n)
        self._readings_cache = None

    def _equilibrate(self) -> None:
        """Solve T-101's pH at the end of a step: activities from the last step's ionic strength."""
        v_l = self._volume_m3 * 1000.0
        tot = tuple(n / v_l for n in self._moles)
        c = conditions(self._temp_c, self._ionic, self.params.chemistry.activities)
        # Newton starts from the last two steps' trend: two charge balances a solve instead of three
        last = self._log_h
        self._log_h = solve_log_h(tot, c, 2.0 * last - self._log_h_before)
        self._log_h_before = last
        self._ph = self._log_h - math.log10(c.gamma1)
        self._cond_c = c
        self._ionic, self._cond = ionic_and_conductivity(tot, self._log_h, c)

    def _discharge_ph(self) -> float:
        """pH after C-301: T-101's water with the Li the column took replaced by the H+ it released."""
        v_l = self._volume_m3 * 1000.0
        tot = [n / v_l for n in self._moles]
        tot[1] = self.column.outlet_mol_l  # H+/Li+ exchange: fewer cations, the charge balance adds the H+
        c = self._cond_c
        # started from T-101's fresh solution plus the column's last shift: it moves slowly
        guess = self._log_h + self._discharge_shift
        self._log_h_discharge = solve_log_h(tuple(tot), c, guess)
        self._discharge_shift = self._log_h_discharge - self._log_h
        return self._log_h_discharge - math.log10(c.gamma1)

    def _physics(self, h: float) -> None:
        """One explicit-Euler substep of T-101 and C-301 from the state at its start."""
        t = self._t_s
        inf = self.influent.state
        interlocked = self.watchdog_tripped
        pumps = self.pumps
        flows_l_h = []
        for name in _PUMP_NAMES:
            pump = pumps[name]
            pump.line.push(t, pump.pumped_l_h(interlocked))
            flows_l_h.append(pump.line.delivered_l_h(t))
        naoh_l_h, acid_l_h = flows_l_h
        v = self._volume_m3
        q_out = self._weir_outflow(v)
        q_in = inf.flow_m3_h
        qin_l = q_in * 1000.0 / 3600.0 * h  # litres in this substep
        qout_l = q_out * 1000.0 / 3600.0 * h
        inflow = [c * qin_l for c in inf.invariants.as_tuple()]
        zone = self._zone_mol
        zone[0] += pumps["P-201"].reagent_mol_l * naoh_l_h / 3600.0 * h
        zone[1] += pumps["P-202"].reagent_mol_l * acid_l_h / 3600.0 * h
        tau_mix = self.params.tank.mixing_time_s
        share = 1.0 - math.exp(-h / tau_mix) if tau_mix > 0.0 else 1.0  # reaching the bulk this substep
        to_bulk = (zone[0] * share, zone[1] * share)
        zone[0] -= to_bulk[0]
        zone[1] -= to_bulk[1]
        inflow[_NA] += to_bulk[0]
        inflow[_S] += to_bulk[1]
        v_l = v * 1000.0
        outflow = [n / v_l * qout_l for n in self._moles]
        # CO2 exchange with the air: kLa·V·([CO2(aq)] − KH·pCO2), CO2(aq) from the last solved pH.
        chem = self.params.chemistry
        stripped = 0.0
        if chem.kla_co2_per_h > 0.0:
            c = self._cond_c
            hh = math.pow(10.0, -self._log_h)
            co2_aq = self._moles[_C] / v_l * hh * hh / (hh * hh + c.k1 * hh + c.k1 * c.k2)
            stripped = chem.kla_co2_per_h / 3600.0 * h * v_l * (co2_aq - c.kh * chem.pco2_atm)
            outflow[_C] += stripped
        reagent_l = (naoh_l_h + acid_l_h) / 3600.0 * h
        water_in_l = qin_l + reagent_l
        water_out_l = qout_l
        v_new = v + (water_in_l - qout_l) / 1000.0
        moles = [n + i - o for n, i, o in zip(self._moles, inflow, outflow, strict=True)]
        v_max = self.params.tank.tank_volume_m3
        if v_new > v_max:  # brim-full: the excess spills at tank concentration
            spill = (v_new - v_max) / v_new
            extra = [m * spill for m in moles]
            moles = [m - e for m, e in zip(moles, extra, strict=True)]
            outflow = [o + e for o, e in zip(outflow, extra, strict=True)]
            water_out_l += (v_new - v_max) * 1000.0
            v_new = v_max
        self._in_mol = [a + b for a, b in zip(self._in_mol, inflow, strict=True)]
        self._out_mol = [a + b for a, b in zip(self._out_mol, outflow, strict=True)]
        self._water_in_l += water_in_l
        self._water_out_l += water_out_l
        self.co2_to_air_mol += stripped
        if sum(self._moles[_METAL_IDX[0]:]) > 0.0:  # solids leave suspended, at the tank's share
            sp = speciate_log_h(tuple(n / v_l for n in self._moles), self._log_h, self._cond_c)
            frac_out = water_out_l / v_l
            for m, k in zip(METALS, _METAL_IDX, strict=True):
                self._sludge_out_mol[m] += max(self._moles[k] / v_l - sp.dissolved[m], 0.0) * v_l * frac_out
        # Temperature: mixing with the influent, loss to ambient (reagent at ambient, small).
        tank = self.params.tank
        heat_cap = v * _WATER_HEAT_KJ_M3_K
        naoh_mol_s = to_bulk[0] / h
        d_temp = (q_in / 3600.0 * _WATER_HEAT_KJ_M3_K * (inf.temp_c - self._temp_c)
                  + naoh_mol_s * tank.neutralisation_heat_kj_mol
                  - tank.heat_loss_kw_per_k * (self._temp_c - tank.ambient_temp_c)) / heat_cap
        self._temp_c += d_temp * h
        # C-301 sees the overflow at T-101's Li and pH.
        li_tank = self._moles[1] / v_l
        self._column_in_mol += qout_l * li_tank
        self._column_out_mol += qout_l * self.column.outlet_mol_l
        self.column_taken_mol += self.column.step(h, q_out, li_tank, self._ph)
        self._moles = moles
        self._volume_m3 = v_new

    def _weir_outflow(self, volume_m3: float) -> float:
        tank = self.params.tank
        head = volume_m3 / tank.area_m2 - tank.weir_height_m
        return tank.weir_coeff_m3_h * head**1.5 if head > 0.0 else 0.0

    def _true_values(self) -> dict[str, float]:
        tank = self.params.tank
        return {
            "FIT-100": self.influent.state.flow_m3_h,
            "AIT-100": self.influent.state.ph,
            "AIT-101": self._electrode_ph[0][1],
            "CIT-101": self._cond,
            "LIT-101": self._volume_m3 / tank.area_m2 / tank.height_m * 100.0,
            "TIT-101": self._temp_c,
            "AIT-301": mol_l_to_mg_l(self.column.outlet_mol_l, LI_G_MOL),
            "AIT-104": self._electrode_ph[0][1],
            "AIT-105": self._electrode_ph[0][1],
            "AIT-302": self._ph_discharge,
            "FIT-201": self.pumps["P-201"].pumped_l_h(self.watchdog_tripped),
            "FIT-202": self.pumps["P-202"].pumped_l_h(self.watchdog_tripped),
        }

    def readings(self) -> dict[str, Reading]:
        if self._readings_cache is None:
            out = {tag: sensor.reading() for tag, sensor in self.sensors.items()}
            lock = self.watchdog_tripped
            for name, speed, running, fault in _PUMP_POINTS:
                pump = self.pumps[name]
                on = pump.running(lock)
                out[speed] = Reading(pump.sp_pct if on else 0.0)  # = pump.speed_pct(lock)
                out[running] = _ON_OFF[on]
                out[fault] = _ON_OFF[pump.tripped]
            out["WATCHDOG.TRIPPED"] = _ON_OFF[lock]
            self._readings_cache = out
        return dict(self._readings_cache)

    def commanded(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name in _PUMP_NAMES:
            pump = self.pumps[name]
            out[f"{name}.SP"] = pump.sp_pct
            out[f"{name}.RUN"] = 1.0 if pump.run_cmd else 0.0
            out[f"{name}.RESET"] = 1.0 if pump.reset_cmd else 0.0
        return out

    def command(self, name: str, value: float) -> None:
        if name not in COMMANDS:
            raise CommandRejected(f"unknown command point {name!r}; known: {', '.join(COMMANDS)}")
        try:
            value = float(value)
        except (TypeError, ValueError) as exc:
            raise CommandRejected(f"{name} needs a number, got {value!r}") from exc
        pump_name, point = name.split(".")
        pump = self.pumps[pump_name]
        if point == "SP":
            pump.set_sp(value)
        elif point == "RUN":
            pump.set_run(value)
        else:
            pump.set_reset(value)
            if pump.reset_cmd:  # a reset also acknowledges a latched watchdog trip
                self.watchdog_tripped = False
                self.safe_state_reason = ""
        self._readings_cache = None

    def safe_state(self, reason: str) -> None:
        """Stop both pumps (RUN 0, SP 0 %) and latch WATCHDOG.TRIPPED until a RESET."""
        for pump in self.pumps.values():
            pump.stop()
        self.watchdog_tripped = True
        self.safe_state_reason = reason
        self._readings_cache = None

    # --- events (scenarios, tests) ------------------------------------------------------------

    def trip_pump(self, name: str) -> None:
        self.pumps[name].trip()
        self._readings_cache = None

    def reset_pump(self, name: str) -> None:
        """Local reset at the pump (an operator at the MCC), without touching the remote RESET bit."""
        self.pumps[name].tripped = False
        self._readings_cache = None

    # --- the truth ----------------------------------------------------------------------------

    def tank_invariants(self) -> Invariants:
        v_l = self._volume_m3 * 1000.0
        return Invariants(*(n / v_l for n in self._moles))

    def true_state(self) -> TrueState:
        tank = self.params.tank
        level_m = self._volume_m3 / tank.area_m2
        interlocked = self.watchdog_tripped
        naoh, acid = self.pumps["P-201"], self.pumps["P-202"]
        inv = self.tank_invariants()
        sp = speciate_log_h(inv.as_tuple(), self._log_h, self._cond_c)
        sludge_kg = sum(max(getattr(inv, m) - sp.dissolved[m], 0.0) * HYDROXIDE_G_MOL[m]
                        for m in METALS) * self._volume_m3  # mol/L x g/mol x m3 = kg
        return TrueState(
            t_s=self._t_s, ph=self._ph, conductivity_ms_cm=self._cond, temp_c=self._temp_c,
            volume_m3=self._volume_m3, level_m=level_m, level_pct=level_m / tank.height_m * 100.0,
            tank=self.tank_invariants(), influent=self.influent.state,
            outflow_m3_h=self._weir_outflow(self._volume_m3),
            naoh_pumped_l_h=naoh.pumped_l_h(interlocked),
            naoh_delivered_l_h=naoh.line.delivered_l_h(self._t_s),
            acid_pumped_l_h=acid.pumped_l_h(interlocked),
            acid_delivered_l_h=acid.line.delivered_l_h(self._t_s),
            column_outlet_li_mg_l=mol_l_to_mg_l(self.column.outlet_mol_l, LI_G_MOL),
            column_loading_fraction=self.column.loading_fraction,
            ionic_strength=self._ionic, co2_to_air_mol=self.co2_to_air_mol,
            dissolved_metals_mg_l={m: mol_l_to_mg_l(sp.dissolved[m], METAL_G_MOL[m]) for m in METALS},
            sludge_kg=sludge_kg, discharge_ph=self._ph_discharge,
            sludge_out_kg=sum(n * HYDROXIDE_G_MOL[m] for m, n in self._sludge_out_mol.items()) / 1000.0,
        )

    def mass_balance(self) -> dict[str, Balance]:
        """T-101 books per invariant since t = 0 (carbonate's out includes CO2 to air), 'water' (litres),
        and 'li_column' for C-301 (in / out / retained)."""
        out = {
            name: Balance(self._in_mol[k], self._out_mol[k], self._moles[k] - self._moles0[k])
            for k, name in enumerate(INVARIANT_NAMES)
        }
        out["water"] = Balance(self._water_in_l, self._water_out_l, (self._volume_m3 - self._volume0_m3) * 1000.0)
        holdup_change = (self.column.outlet_mol_l - self._column_outlet0) * self.column.void_l
        out["li_column"] = Balance(self._column_in_mol, self._column_out_mol,
                                   self.column_taken_mol + holdup_change)
        return out


def _assert_protocol() -> None:
    """Static check that PlantModel satisfies the facade's contract."""
    from sim.interface import ProcessModel

    _m: ProcessModel = PlantModel()
    del _m


__all__ = ["Balance", "PlantModel", "ScenarioHook", "TrueState"]
