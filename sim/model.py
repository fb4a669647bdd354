"""PlantModel: the example plant as a pure, steppable, seeded process model.

influent (+ P-501's return from T-501) → T-101 (neutralisation) → C-301 (Li sorbent, releases H+)
→ T-401 (trim neutralisation) → outfall pipe (AIT-410 at its start) → XV-410 → outfall or T-501 (holding).

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
    conditions,
    ionic_and_conductivity,
    mol_l_to_mg_l,
    solve_log_h,
    speciate_log_h,
)
from sim.column import SorbentColumn
from sim.influent import Influent, InfluentState
from sim.interface import COMMANDS, CommandRejected, Reading
from sim.params import (
    FIRST_SENSOR_TAGS,
    SECOND_SENSOR_TAGS,
    SENSOR_TAGS,
    TRIM_SENSOR_TAGS,
    SimParams,
    load_sim_params,
)
from sim.pumps import DiversionValve, DosingPump, ReturnPump
from sim.sensors import Sensor
from sim.tank import Balance, StirredTank, dosed_to_ph

_WATER_HEAT_KJ_M3_K = 4180.0  # rho * cp of water, kJ/(m3 K)
_MAX_SUBSTEP_S = 5.0  # physics substep: keeps the explicit Euler weir outflow well inside stability
_NOISE_BLOCK = 2048
_N_NOISE = len(FIRST_SENSOR_TAGS) + 3  # one per original sensor + three influent wander processes
_EXTRA_TAGS = SECOND_SENSOR_TAGS  # later instruments draw from their own streams
_PUMP_NAMES = ("P-201", "P-202")  # T-101's
_TRIM_PUMP_NAMES = ("P-401", "P-402")  # T-401's
_N_FIRST = len(FIRST_SENSOR_TAGS)
_PUMP_POINTS = tuple((name, f"{name}.SPEED", f"{name}.RUNNING", f"{name}.FAULT")
                     for name in (*_PUMP_NAMES, *_TRIM_PUMP_NAMES))
_PIPE_PREFILL_S = 5.0  # the outfall pipe starts full of T-401's initial water, in parcels this long
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
    discharge_ph: float = 7.0  # of the water arriving at XV-410 now: T-401's outlet, outfall_pipe_delay_s ago
    trim_ph: float = 7.0  # T-401, true (bulk)
    column_outlet_ph: float = 7.0  # after C-301 (H+ released for the Li taken up): T-401's inlet
    outfall_m3_h: float = 0.0  # XV-410's outfall leg now (T-501's overflow not included)
    diverted_m3_h: float = 0.0  # XV-410's leg to T-501 now
    holding_overflow_m3_h: float = 0.0  # T-501 full: its excess to the outfall now (off-spec when holding_ph is)
    holding_ph: float = 7.0  # T-501, true
    holding_volume_m3: float = 0.0
    return_m3_h: float = 0.0  # P-501, T-501 -> T-101's inlet, really moved (none from an empty tank)
    trim_naoh_pumped_l_h: float = 0.0
    trim_naoh_delivered_l_h: float = 0.0  # arriving in T-401 (after the dosing-line dead time)
    trim_acid_pumped_l_h: float = 0.0
    trim_acid_delivered_l_h: float = 0.0
    trim_level_pct: float = 0.0
    valve_position: float = 0.0  # XV-410: 0 = all to the outfall, 1 = all to T-501


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
        self._rng_trim = np.random.default_rng([self.seed, 15])
        self._noise_trim: list[list[float]] = self._rng_trim.standard_normal(
            (_NOISE_BLOCK, len(TRIM_SENSOR_TAGS))).tolist()
        self._t_s = 0.0
        self._scenario: ScenarioHook | None = None

        self.influent = Influent(p.influent, p.start_time_h)
        inf = self.influent.state
        q0 = inf.flow_m3_h
        chem = p.chemistry
        self._sludge_out_mol = dict.fromkeys(METALS, 0.0)
        self._temp_c = inf.temp_c
        self._discharge_shift = 0.0  # discharge log[H+] − T-101's at the last step
        self.pumps = {"P-201": DosingPump("P-201", p.naoh_pump), "P-202": DosingPump("P-202", p.acid_pump),
                      "P-401": DosingPump("P-401", p.trim_naoh_pump), "P-402": DosingPump("P-402", p.trim_acid_pump)}
        for name, pct in (("P-201", p.initial_naoh_pct), ("P-401", p.initial_trim_naoh_pct)):
            if pct > 0:
                self.pumps[name].set_sp(pct)
                self.pumps[name].set_run(1.0)
        conc = dosed_to_ph(inf.invariants.as_tuple(), p.initial_tank_ph, inf.temp_c, chem.activities)
        self.t101 = StirredTank(p.tank, chem, chem.kla_co2_per_h, self.pumps["P-201"], self.pumps["P-202"],
                                conc, q0, self._temp_c)
        self.watchdog_tripped = False
        self.safe_state_reason = ""
        self.column = SorbentColumn(p.column, conc[1], self.t101.ph)
        self.column_taken_mol = 0.0
        self._column_in_mol = 0.0
        self._column_out_mol = 0.0
        self._column_outlet0 = self.column.outlet_mol_l
        self._log_h_discharge = self.t101.log_h
        self._ph_discharge = self._discharge_ph()
        self._init_trim_and_outfall(conc, q0)

        specs = p.sensors.by_tag()
        truth = self._true_values()
        # in SENSOR_TAGS order: step() pairs them with the noise columns and readings() walks them in order
        self.sensors = {tag: Sensor(tag, specs[tag], truth[tag]) for tag in SENSOR_TAGS}
        self._first_sensors = [self.sensors[tag] for tag in (*FIRST_SENSOR_TAGS, *SECOND_SENSOR_TAGS)]
        self._trim_sensors = [self.sensors[tag] for tag in TRIM_SENSOR_TAGS]
        self._readings_cache: dict[str, Reading] | None = None
        self.attach_scenario(scenario)

    def _init_trim_and_outfall(self, t101_conc: list[float], q0_m3_h: float) -> None:
        """T-401 settled on C-301's outlet water, a full outfall pipe, XV-410, T-501 and P-501 at t = 0."""
        p = self.params
        chem = p.chemistry
        water = list(t101_conc)
        water[1] = self.column.outlet_mol_l
        conc = dosed_to_ph(water, p.initial_trim_ph, self._temp_c, chem.activities)
        self.t401 = StirredTank(p.trim_tank, chem, chem.trim_kla_co2_per_h, self.pumps["P-401"], self.pumps["P-402"],
                                conc, q0_m3_h, self._temp_c)
        trim = self.t401
        # the outfall pipe: parcels (time it left T-401, litres, mol of each invariant, T-401's pH then, m3/h)
        self._pipe: deque[tuple[float, float, tuple[float, ...], float, float]] = deque()
        delay = p.outfall_pipe_delay_s
        q_l_s = trim.weir_m3_h / 3.6
        n = math.ceil(delay / _PIPE_PREFILL_S - 1e-9)
        for k in range(n):
            litres = q_l_s * delay / n
            self._pipe.append((-delay + k * delay / n, litres, tuple(c * litres for c in conc), trim.ph,
                               q_l_s * 3.6))
        self._pipe0 = self._pipe_holdup()
        self._pipe_in = ([0.0] * N_INVARIANTS, [0.0])  # mol per invariant, litres
        self._pipe_out = ([0.0] * N_INVARIANTS, [0.0])
        self._arrival = (trim.ph, q_l_s * 3.6)  # pH and m3/h of the water that last reached XV-410
        self.valve = DiversionValve(p.diversion_valve.stroke_s, p.diversion_valve.initial_divert)
        self.return_pump = ReturnPump("P-501", p.return_pump.capacity_m3_h)
        hold = p.holding_tank
        self._hold_volume_l = hold.initial_volume_m3 * 1000.0
        self._hold_moles = [c * self._hold_volume_l for c in conc]  # a tank kept from yesterday: today's water
        self._hold_moles0 = list(self._hold_moles)
        self._hold_volume0_l = self._hold_volume_l
        self._hold_in = ([0.0] * N_INVARIANTS, [0.0])
        self._hold_out = ([0.0] * N_INVARIANTS, [0.0])
        self._hold_ph = trim.ph
        self._hold_log_h = trim.log_h
        self._hold_ionic = trim.ionic
        self._hold_changed = False
        self._return_in_l = 0.0  # litres into T-101 from P-501 since t = 0
        self.diverted_m3 = 0.0
        self.outfall_total_m3 = 0.0
        self.holding_overflow_total_m3 = 0.0
        self.offspec_discharged_m3 = 0.0  # to the outfall outside pH 6-9, counted parcel by parcel
        self._rates_m3_h = (q_l_s * 3.6 * (1.0 - self.valve.position), q_l_s * 3.6 * self.valve.position, 0.0, 0.0)
        self._return_mol: list[float] = [0.0] * N_INVARIANTS
        self._return_l = 0.0

    def _pipe_holdup(self) -> tuple[list[float], float]:
        mol = [0.0] * N_INVARIANTS
        litres = 0.0
        for _, parcel_l, parcel_mol, _ph, _q in self._pipe:
            litres += parcel_l
            for k, n in enumerate(parcel_mol):
                mol[k] += n
        return mol, litres

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
        for i in range(n_sub):
            self._physics(h, self._t_s + i * h)
        self._t_s += dt_s
        self.t101.equilibrate(self._temp_c)
        self._ph_discharge = self._discharge_ph()
        self.t401.equilibrate(self._temp_c)  # its temperature is taken as T-101's
        if self._hold_changed:
            self._equilibrate_holding()
        self.t101.sense(self._t_s)
        self.t401.sense(self._t_s)

        if self._noise_i >= _NOISE_BLOCK:
            self._noise = self._rng.standard_normal((_NOISE_BLOCK, _N_NOISE)).tolist()
            self._noise_extra = self._rng_extra.standard_normal((_NOISE_BLOCK, len(_EXTRA_TAGS))).tolist()
            self._noise_trim = self._rng_trim.standard_normal((_NOISE_BLOCK, len(TRIM_SENSOR_TAGS))).tolist()
            self._noise_i = 0
        noise = self._noise[self._noise_i]
        extra = self._noise_extra[self._noise_i]
        trim = self._noise_trim[self._noise_i]
        self._noise_i += 1
        self.influent.step(self._t_s, dt_s, (noise[-3], noise[-2], noise[-1]))
        truth = self._true_values()
        sensors = self.sensors
        # each instrument with its draw: the first stream's columns in FIRST_SENSOR_TAGS order, then the
        # second stream's, then the trim stream's (SENSOR_TAGS order throughout)
        for (tag, sensor), n in zip(sensors.items(), (*noise[:_N_FIRST], *extra, *trim), strict=True):
            sensor.step(truth[tag], dt_s, n)
        self._readings_cache = None

    def _discharge_ph(self) -> float:
        """pH after C-301: T-101's water with the Li the column took replaced by the H+ it released."""
        tank = self.t101
        v_l = tank.volume_m3 * 1000.0
        tot = [n / v_l for n in tank.moles]
        tot[1] = self.column.outlet_mol_l  # H+/Li+ exchange: fewer cations, the charge balance adds the H+
        c = tank.cond_c
        # started from T-101's fresh solution plus the column's last shift: it moves slowly
        guess = tank.log_h + self._discharge_shift
        self._log_h_discharge = solve_log_h(tuple(tot), c, guess)
        self._discharge_shift = self._log_h_discharge - tank.log_h
        return self._log_h_discharge - math.log10(c.gamma1)

    def _equilibrate_holding(self) -> None:
        """Solve T-501's pH after diverted water came in (return and overflow leave at its concentration)."""
        self._hold_changed = False
        v_l = self._hold_volume_l
        if v_l <= 1e-6:
            return
        tot = tuple(n / v_l for n in self._hold_moles)
        c = conditions(self._temp_c, self._hold_ionic, self.params.chemistry.activities)
        self._hold_log_h = solve_log_h(tot, c, self._hold_log_h)
        self._hold_ph = self._hold_log_h - math.log10(c.gamma1)
        self._hold_ionic, _ = ionic_and_conductivity(tot, self._hold_log_h, c)

    def _draw_return(self, h: float, interlocked: bool) -> tuple[float, list[float] | None]:
        """P-501 takes what it can from T-501 this substep (litres, mol): nothing from an empty tank."""
        self._return_l = 0.0
        demand_l = self.return_pump.demand_m3_h(interlocked) / 3.6 * h
        vol = self._hold_volume_l
        if demand_l <= 0.0 or vol <= 0.0:
            return 0.0, None
        if demand_l >= vol:  # pumped dry
            taken_l, mol = vol, self._hold_moles
            self._hold_moles = [0.0] * N_INVARIANTS
            self._hold_volume_l = 0.0
        else:
            share = demand_l / vol
            taken_l, mol = demand_l, [n * share for n in self._hold_moles]
            self._hold_moles = [n - m for n, m in zip(self._hold_moles, mol, strict=True)]
            self._hold_volume_l = vol - demand_l
        out_mol, out_l = self._hold_out
        for k, m in enumerate(mol):
            out_mol[k] += m
        out_l[0] += taken_l
        self._return_in_l += taken_l
        self._return_l = taken_l
        return taken_l, mol

    def _physics(self, h: float, t_sub: float) -> None:
        """One explicit-Euler substep of the whole plant from the state at its start (t_sub: its start)."""
        t = self._t_s
        inf = self.influent.state
        interlocked = self.watchdog_tripped
        ret_l, ret_mol = self._draw_return(h, interlocked)
        tank = self.t101
        q_in = inf.flow_m3_h
        qin_l = q_in * 1000.0 / 3600.0 * h  # litres in this substep
        feed = (qin_l, [c * qin_l for c in inf.invariants.as_tuple()])
        # T-501's water joins the influent at T-101's inlet
        out = tank.substep(h, t, interlocked, feed, *(((ret_l, ret_mol),) if ret_mol is not None else ()))
        v_l = out.volume_before_m3 * 1000.0
        before = out.moles_before
        if sum(before[_METAL_IDX[0]:]) > 0.0:  # solids leave suspended, at the tank's share
            sp = speciate_log_h(tuple(n / v_l for n in before), tank.log_h, tank.cond_c)
            frac_out = out.water_out_l / v_l
            for m, k in zip(METALS, _METAL_IDX, strict=True):
                self._sludge_out_mol[m] += max(before[k] / v_l - sp.dissolved[m], 0.0) * v_l * frac_out
        # Temperature: mixing with the influent, loss to ambient (reagent at ambient, small).
        params = tank.params
        heat_cap = out.volume_before_m3 * _WATER_HEAT_KJ_M3_K
        naoh_mol_s = out.naoh_to_bulk_mol / h
        d_temp = (q_in / 3600.0 * _WATER_HEAT_KJ_M3_K * (inf.temp_c - self._temp_c)
                  + naoh_mol_s * params.neutralisation_heat_kj_mol
                  - params.heat_loss_kw_per_k * (self._temp_c - params.ambient_temp_c)) / heat_cap
        self._temp_c += d_temp * h
        # C-301 sees the overflow at T-101's Li and pH (a brim spill does not reach it).
        qout_l = out.weir_l
        li_tank = before[1] / v_l
        self._column_in_mol += qout_l * li_tank
        self._column_out_mol += qout_l * self.column.outlet_mol_l
        to_column = list(out.weir_mol)
        to_column[1] = qout_l * self.column.outlet_mol_l  # C-301 swaps Li+ for H+ (the charge balance adds the H+)
        self.column_taken_mol += self.column.step(h, out.weir_m3_h, li_tank, tank.ph)
        self._trim_physics(h, t_sub, qout_l, to_column)
        self._outfall_physics(h, t_sub)

    def _trim_physics(self, h: float, t_sub: float, qin_l: float, inflow: list[float]) -> None:
        """T-401 this substep: C-301's outlet in, P-401/P-402 through the mixing zone, CO2 to air, weir out
        into the outfall pipe (a brim spill too: it runs into the same outlet)."""
        trim = self.t401
        ph = trim.ph  # the water leaving now carries the pH solved at the substep's start
        out = trim.substep(h, self._t_s, self.watchdog_tripped, (qin_l, inflow))
        parcel = tuple(out.weir_mol) if out.spill_mol is None else tuple(
            o + e for o, e in zip(out.weir_mol, out.spill_mol, strict=True))
        qout_l = out.water_out_l
        self._pipe.append((t_sub, qout_l, parcel, ph, qout_l * 3.6 / h))
        pipe_mol, pipe_l = self._pipe_in
        for k, n in enumerate(parcel):
            pipe_mol[k] += n
        pipe_l[0] += qout_l

    def _outfall_physics(self, h: float, t_sub: float) -> None:
        """The pipe's head reaches XV-410, which splits it by position between outfall and T-501; T-501
        overflows to the outfall when full."""
        pipe = self._pipe
        cutoff = t_sub - self.params.outfall_pipe_delay_s + 1e-9
        arrive_l = 0.0
        arrive: list[float] = [0.0] * N_INVARIANTS
        out_mol, out_l = self._pipe_out
        offspec_l = 0.0
        while pipe and pipe[0][0] <= cutoff:
            _, litres, mol, ph, q = pipe.popleft()
            arrive_l += litres
            for k, n in enumerate(mol):
                arrive[k] += n
                out_mol[k] += n
            self._arrival = (ph, q)
            if not 6.0 <= ph <= 9.0:
                offspec_l += litres
        out_l[0] += arrive_l
        valve = self.valve
        pos = valve.position
        valve.travel(h, self.watchdog_tripped)
        div_l = arrive_l * pos
        to_outfall_l = arrive_l - div_l
        spill_l = 0.0
        if div_l > 0.0:
            div_mol = [n * pos for n in arrive]
            self._hold_moles = [a + b for a, b in zip(self._hold_moles, div_mol, strict=True)]
            self._hold_volume_l += div_l
            in_mol, in_l = self._hold_in
            for k, n in enumerate(div_mol):
                in_mol[k] += n
            in_l[0] += div_l
            self._hold_changed = True
            v_max_l = self.params.holding_tank.volume_m3 * 1000.0
            if self._hold_volume_l > v_max_l:  # full: the excess overflows to the outfall at the tank's water
                spill_l = self._hold_volume_l - v_max_l
                frac = spill_l / self._hold_volume_l
                extra = [m * frac for m in self._hold_moles]
                self._hold_moles = [m - e for m, e in zip(self._hold_moles, extra, strict=True)]
                self._hold_volume_l = v_max_l
                hold_out_mol, hold_out_l = self._hold_out
                for k, n in enumerate(extra):
                    hold_out_mol[k] += n
                hold_out_l[0] += spill_l
        if not 6.0 <= self._hold_ph <= 9.0:
            offspec_l = offspec_l * (1.0 - pos) + spill_l
        else:
            offspec_l *= 1.0 - pos
        self.offspec_discharged_m3 += offspec_l / 1000.0
        self.diverted_m3 += div_l / 1000.0
        self.outfall_total_m3 += to_outfall_l / 1000.0
        self.holding_overflow_total_m3 += spill_l / 1000.0
        per_h = 3.6 / h  # litres this substep -> m3/h
        self._rates_m3_h = (to_outfall_l * per_h, div_l * per_h, spill_l * per_h, self._return_l * per_h)

    def _true_values(self) -> dict[str, float]:
        tank, trim = self.t101, self.t401
        return {
            "FIT-100": self.influent.state.flow_m3_h,
            "AIT-100": self.influent.state.ph,
            "AIT-101": tank.electrode_ph,
            "CIT-101": tank.cond,
            "LIT-101": tank.level_pct,
            "TIT-101": self._temp_c,
            "AIT-301": mol_l_to_mg_l(self.column.outlet_mol_l, LI_G_MOL),
            "AIT-104": tank.electrode_ph,
            "AIT-105": tank.electrode_ph,
            "AIT-302": self._ph_discharge,
            "FIT-201": self.pumps["P-201"].pumped_l_h(self.watchdog_tripped),
            "FIT-202": self.pumps["P-202"].pumped_l_h(self.watchdog_tripped),
            "AIT-401": trim.electrode_ph,
            "AIT-402": trim.electrode_ph,
            "AIT-403": trim.electrode_ph,
            "AIT-410": trim.ph,  # on T-401's outlet line, where the outfall pipe starts
            "FIT-401": self.pumps["P-401"].pumped_l_h(self.watchdog_tripped),
            "FIT-402": self.pumps["P-402"].pumped_l_h(self.watchdog_tripped),
            "FIT-410": self._rates_m3_h[0] + self._rates_m3_h[2],  # downstream of T-501's overflow joining
            "LIT-501": self._hold_volume_l / (self.params.holding_tank.volume_m3 * 10.0),
            "FIT-501": self._rates_m3_h[3],
            "AIT-300": mol_l_to_mg_l(tank.moles[1] / (tank.volume_m3 * 1000.0), LI_G_MOL),
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
            ret = self.return_pump
            out["P-501.SPEED"] = Reading(ret.speed_pct(lock))
            out["P-501.RUNNING"] = _ON_OFF[ret.running(lock)]
            out["XV-410.POS"] = Reading(self.valve.position * 100.0)
            out["FQ-410"] = Reading(self.diverted_m3)
            self._readings_cache = out
        return dict(self._readings_cache)

    def commanded(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for name in (*_PUMP_NAMES, *_TRIM_PUMP_NAMES):
            pump = self.pumps[name]
            out[f"{name}.SP"] = pump.sp_pct
            out[f"{name}.RUN"] = 1.0 if pump.run_cmd else 0.0
            out[f"{name}.RESET"] = 1.0 if pump.reset_cmd else 0.0
        out["XV-410.CMD"] = 1.0 if self.valve.cmd_divert else 0.0
        out["P-501.SP"] = self.return_pump.sp_pct
        out["P-501.RUN"] = 1.0 if self.return_pump.run_cmd else 0.0
        return out

    def command(self, name: str, value: float) -> None:
        if name not in COMMANDS:
            raise CommandRejected(f"unknown command point {name!r}; known: {', '.join(COMMANDS)}")
        try:
            value = float(value)
        except (TypeError, ValueError) as exc:
            raise CommandRejected(f"{name} needs a number, got {value!r}") from exc
        unit, point = name.split(".")
        self._readings_cache = None
        if unit == "XV-410":
            self.valve.set_cmd(value)
            return
        if unit == "P-501":
            if point == "SP":
                self.return_pump.set_sp(value)
            else:
                self.return_pump.set_run(value)
            return
        pump = self.pumps[unit]
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
        """Stop every pump (RUN 0, SP 0 %), command XV-410 to divert (its fail position) and latch
        WATCHDOG.TRIPPED until a RESET; while tripped the valve diverts whatever its command."""
        for pump in self.pumps.values():
            pump.stop()
        self.return_pump.stop()
        self.valve.cmd_divert = True
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
        return self.t101.invariants()

    def trim_invariants(self) -> Invariants:
        return self.t401.invariants()

    @property
    def co2_to_air_mol(self) -> float:
        """Net CO2 stripped from T-101 since t = 0 (negative: recarbonated)."""
        return self.t101.co2_to_air_mol

    @property
    def trim_co2_to_air_mol(self) -> float:
        """Net CO2 stripped from T-401 since t = 0."""
        return self.t401.co2_to_air_mol

    def true_state(self) -> TrueState:
        t101, t401 = self.t101, self.t401
        tank = t101.params
        level_m = t101.volume_m3 / tank.area_m2
        interlocked = self.watchdog_tripped
        naoh, acid = self.pumps["P-201"], self.pumps["P-202"]
        trim_naoh, trim_acid = self.pumps["P-401"], self.pumps["P-402"]
        arriving_ph, arriving_m3_h, overflow_m3_h = self._at_the_valve()
        pos = self.valve.position
        inv = self.tank_invariants()
        sp = speciate_log_h(inv.as_tuple(), t101.log_h, t101.cond_c)
        sludge_kg = sum(max(getattr(inv, m) - sp.dissolved[m], 0.0) * HYDROXIDE_G_MOL[m]
                        for m in METALS) * t101.volume_m3  # mol/L x g/mol x m3 = kg
        return TrueState(
            t_s=self._t_s, ph=t101.ph, conductivity_ms_cm=t101.cond, temp_c=self._temp_c,
            volume_m3=t101.volume_m3, level_m=level_m, level_pct=level_m / tank.height_m * 100.0,
            tank=self.tank_invariants(), influent=self.influent.state,
            outflow_m3_h=t101.weir_m3_h,
            naoh_pumped_l_h=naoh.pumped_l_h(interlocked),
            naoh_delivered_l_h=naoh.line.delivered_l_h(self._t_s),
            acid_pumped_l_h=acid.pumped_l_h(interlocked),
            acid_delivered_l_h=acid.line.delivered_l_h(self._t_s),
            column_outlet_li_mg_l=mol_l_to_mg_l(self.column.outlet_mol_l, LI_G_MOL),
            column_loading_fraction=self.column.loading_fraction,
            ionic_strength=t101.ionic, co2_to_air_mol=t101.co2_to_air_mol,
            dissolved_metals_mg_l={m: mol_l_to_mg_l(sp.dissolved[m], METAL_G_MOL[m]) for m in METALS},
            sludge_kg=sludge_kg, discharge_ph=arriving_ph,
            sludge_out_kg=sum(n * HYDROXIDE_G_MOL[m] for m, n in self._sludge_out_mol.items()) / 1000.0,
            trim_ph=t401.ph, column_outlet_ph=self._ph_discharge,
            outfall_m3_h=arriving_m3_h * (1.0 - pos), diverted_m3_h=arriving_m3_h * pos,
            holding_overflow_m3_h=overflow_m3_h, holding_ph=self._hold_ph,
            holding_volume_m3=self._hold_volume_l / 1000.0, return_m3_h=self._rates_m3_h[3],
            trim_naoh_pumped_l_h=trim_naoh.pumped_l_h(interlocked),
            trim_naoh_delivered_l_h=trim_naoh.line.delivered_l_h(self._t_s),
            trim_acid_pumped_l_h=trim_acid.pumped_l_h(interlocked),
            trim_acid_delivered_l_h=trim_acid.line.delivered_l_h(self._t_s),
            trim_level_pct=t401.level_pct,
            valve_position=self.valve.position,
        )

    def _at_the_valve(self) -> tuple[float, float, float]:
        """pH and flow (m3/h) of the water reaching XV-410 from now on, and T-501's overflow it causes (m3/h):
        what the next step will split, so a forward sum of rate x dt counts exactly what flowed."""
        pipe = self._pipe
        delay = self.params.outfall_pipe_delay_s
        if pipe and pipe[0][0] <= self._t_s - delay + 1e-9:
            ph, q = pipe[0][3], pipe[0][4]
        elif delay <= 0.0:  # no pipe: T-401's outlet is at the valve
            ph, q = self.t401.ph, self.t401.weir_m3_h
        else:
            ph, q = self._arrival
        overflow = 0.0
        if self._hold_volume_l >= self.params.holding_tank.volume_m3 * 1000.0 - 1e-6:  # full
            overflow = max(q * self.valve.position - self.return_pump.demand_m3_h(self.watchdog_tripped), 0.0)
        return ph, q, overflow

    def mass_balance(self) -> dict[str, Balance]:
        """T-101 books per invariant since t = 0 (carbonate's out includes CO2 to air; in includes P-501's
        return), 'water' (litres), 'li_column' for C-301 (in / out / retained), and the same per invariant
        and water for 'T-401.<name>' (out includes its CO2 to air), 'outfall_pipe.<name>' (holdup between
        T-401 and XV-410) and 'T-501.<name>' (in: diverted; out: returned and overflowed)."""
        out = self.t101.balances()
        holdup_change = (self.column.outlet_mol_l - self._column_outlet0) * self.column.void_l
        out["li_column"] = Balance(self._column_in_mol, self._column_out_mol,
                                   self.column_taken_mol + holdup_change)
        pipe_mol, pipe_l = self._pipe_holdup()
        pipe0_mol, pipe0_l = self._pipe0
        out.update({f"T-401.{name}": books for name, books in self.t401.balances().items()})
        units = (
            ("outfall_pipe", self._pipe_in[0], self._pipe_out[0], pipe_mol, pipe0_mol,
             self._pipe_in[1][0], self._pipe_out[1][0], pipe_l - pipe0_l),
            ("T-501", self._hold_in[0], self._hold_out[0], self._hold_moles, self._hold_moles0,
             self._hold_in[1][0], self._hold_out[1][0], self._hold_volume_l - self._hold_volume0_l),
        )
        for unit, in_mol, out_mol, now, start, w_in, w_out, w_acc in units:
            for k, name in enumerate(INVARIANT_NAMES):
                out[f"{unit}.{name}"] = Balance(in_mol[k], out_mol[k], now[k] - start[k])
            out[f"{unit}.water"] = Balance(w_in, w_out, w_acc)
        return out


def _assert_protocol() -> None:
    """Static check that PlantModel satisfies the facade's contract."""
    from sim.interface import ProcessModel

    _m: ProcessModel = PlantModel()
    del _m


__all__ = ["Balance", "PlantModel", "ScenarioHook", "TrueState"]
