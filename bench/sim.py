"""Simulator benchmark: how fast the process model runs (and, later, how fast the facade serves it).

Prints figures as it goes; the last line of stdout is one JSON object. `--quick` runs a shorter span.
Each measurement is a function returning a dict; main merges them (the facade adds its own).

    .venv/bin/python bench/sim.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sim.chemistry import Invariants, conditions, equilibrate, solve_log_h
from sim.headless import run_scenario
from sim.interface import Reading
from sim.model import PlantModel
from sim.params import ChemistryParams, InfluentParams, SimParams
from sim.scenario import load_scenario

ROOT = Path(__file__).resolve().parents[1]
DAY_S = 86400.0


def _model_rate(params: SimParams, span_s: float) -> tuple[float, float, float]:
    """Simulated seconds per wall second, per CPU second, and wall microseconds per 1 s step of one plant
    configuration (on a shared machine the CPU-time rate is the steadier figure)."""
    model = PlantModel(params, seed=42)
    model.command("P-201.RUN", 1.0)
    model.command("P-201.SP", 6.0)
    steps = int(span_s)
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        model.step(1.0)
        model.readings()
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    print(f"  {span_s / wall:,.0f} simulated s per wall s, {span_s / cpu:,.0f} per CPU s")
    return span_s / wall, span_s / cpu, wall / steps * 1e6


def model_speed(quick: bool) -> dict[str, float]:
    """Full model (influent, T-101, pumps, C-301, instruments) at 1 s steps, no controller.

    Baseline in the same run: the same model with the chemistry reduced to the old ideal closed tank
    (no activities, kLa = 0, no metals); the difference is what the richer chemistry costs per step.
    """
    span_s = 2 * 3600.0 if quick else DAY_S
    ideal = SimParams(chemistry=ChemistryParams(activities=False, kla_co2_per_h=0.0))
    laden = SimParams(influent=InfluentParams(ni_mg_l=120.0, co_mg_l=60.0, mn_mg_l=80.0, cu_mg_l=5.0,
                                              fe_mg_l=10.0, al_mg_l=15.0, fluoride_mg_l=40.0,
                                              phosphate_mg_l=30.0))
    load_1min = os.getloadavg()[0]
    base_rate, base_cpu, base_us = _model_rate(ideal, span_s)
    rate, cpu_rate, step_us = _model_rate(SimParams(), span_s)
    laden_rate, laden_cpu, laden_us = _model_rate(laden, span_s)
    print(f"model: {span_s / 3600:.1f} simulated h at 1 s steps: default plant {rate:,.0f} simulated s per wall s "
          f"({step_us:.1f} us/step; target >= 10,000), metal-laden influent {laden_rate:,.0f} ({laden_us:.1f} us), "
          f"ideal closed-tank baseline {base_rate:,.0f} ({base_us:.1f} us); per CPU s: {cpu_rate:,.0f}, "
          f"{laden_cpu:,.0f}, baseline {base_cpu:,.0f}; load average {load_1min:.2f} at the start")
    return {"sim_seconds_per_wall_second": round(rate, 1), "sim_day_wall_s": round(DAY_S / rate, 2),
            "sim_seconds_per_cpu_second": round(cpu_rate, 1),
            "metal_laden_sim_seconds_per_cpu_second": round(laden_cpu, 1),
            "ideal_baseline_sim_seconds_per_cpu_second": round(base_cpu, 1),
            "cpu_speed_ratio_to_ideal_baseline": round(cpu_rate / base_cpu, 3),
            "load_average_1min": round(load_1min, 2),
            "model_step_us": round(step_us, 2), "metal_laden_sim_seconds_per_wall_second": round(laden_rate, 1),
            "metal_laden_step_us": round(laden_us, 2),
            "ideal_baseline_sim_seconds_per_wall_second": round(base_rate, 1),
            "chemistry_cost_us_per_step": round(step_us - base_us, 2),
            "speed_ratio_to_ideal_baseline": round(rate / base_rate, 3)}


def closed_loop_speed(quick: bool) -> dict[str, float]:
    """The upset-day scenario with a proportional controller through the headless runner."""
    scenario = load_scenario(ROOT / "examples" / "scenarios" / "upset-day.yaml")

    def controller(t_s: float, readings: dict[str, Reading]) -> dict[str, float]:
        pv = readings["AIT-101"]
        return {"P-201.RUN": 1.0, "P-201.SP": min(max((7.5 - pv.value) * 8.0, 0.0), 100.0)}

    if quick:
        from dataclasses import replace

        scenario = replace(scenario, duration_s=2 * 3600.0)
    traj = run_scenario(scenario, controller=controller)
    rate = scenario.duration_s / traj.wall_s
    print(f"headless closed loop ({scenario.name}, {scenario.duration_s / 3600:.1f} h): "
          f"{traj.wall_s:.2f} s wall = {rate:,.0f} simulated s per wall s; "
          f"true pH in 6-9 for {traj.time_in_band('ph', 6.0, 9.0):.1%} of the time")
    return {"headless_sim_seconds_per_wall_second": round(rate, 1)}


def ph_solver_speed(quick: bool) -> dict[str, float]:
    """The chemistry alone: warm-started safeguarded Newton on log[H+] and a cold bracketed solve."""
    n = 20000 if quick else 100000
    water = Invariants(na=0.0757, li=0.0648, sulfate=0.0448, carbonate=0.002, chloride=0.005)
    eq = equilibrate(water, 22.0)
    cond = conditions(22.0, eq.species.ionic_strength)
    totals = [(0.0757 + 0.0757 * (i % 100) / 5000.0, *water.as_tuple()[1:]) for i in range(100)]
    t0 = time.perf_counter()
    log_h = eq.log_h
    for i in range(n):
        log_h = solve_log_h(totals[i % 100], cond, log_h)
    warm = (time.perf_counter() - t0) / n
    t0 = time.perf_counter()
    for i in range(n // 10):
        solve_log_h(totals[i % 100], cond, None)
    cold = (time.perf_counter() - t0) / (n // 10)
    print(f"pH solve: warm {warm * 1e6:.1f} us, cold {cold * 1e6:.1f} us")
    return {"ph_solve_warm_us": round(warm * 1e6, 2), "ph_solve_cold_us": round(cold * 1e6, 2)}


MEASUREMENTS: list[Callable[[bool], dict[str, float]]] = [ph_solver_speed, model_speed, closed_loop_speed]


def facade_read_rates(quick: bool) -> dict[str, float]:
    """The PLC façade: whole-map reads per second by one Modbus and one OPC UA client over loopback,
    with the model running at ×60 behind them (one read of the whole map counts as one)."""
    import asyncio
    import tempfile

    from asyncua import Client
    from pymodbus.client import AsyncModbusTcpClient

    from sim.facade import SimulatedPlc
    from sim.facade.points import POINTS

    span_s = 3.0 if quick else 10.0

    async def modbus_loop(plc: SimulatedPlc) -> tuple[int, int]:
        client = AsyncModbusTcpClient(plc.modbus_host, port=plc.modbus_port, timeout=5, retries=0)
        await client.connect()
        reads = values = 0
        end = time.perf_counter() + span_s
        while time.perf_counter() < end:
            rs = [await client.read_input_registers(0, count=18, device_id=1),
                  await client.read_input_registers(100, count=9, device_id=1),
                  await client.read_holding_registers(0, count=4, device_id=1),
                  await client.read_holding_registers(10, count=1, device_id=1),
                  await client.read_coils(0, count=4, device_id=1),
                  await client.read_discrete_inputs(0, count=5, device_id=1)]
            if any(r.isError() for r in rs):
                raise RuntimeError(f"Modbus read failed: {rs}")
            reads += 1
            values += 9 + 9 + 2 + 1 + 4 + 5
        client.close()
        return reads, values

    async def opcua_loop(plc: SimulatedPlc) -> tuple[int, int]:
        async with Client(plc.opcua_endpoint, timeout=5) as client:
            nodes = [client.get_node(p.node_id) for p in POINTS]
            reads = 0
            end = time.perf_counter() + span_s
            while time.perf_counter() < end:
                await client.read_values(nodes)
                reads += 1
        return reads, reads * len(nodes)

    async def run() -> dict[str, float]:
        with tempfile.TemporaryDirectory() as state:
            async with SimulatedPlc(ROOT / "examples" / "plant.yaml", speed=60, opcua_port=0, modbus_port=0,
                                    state_dir=state) as plc:
                mb_reads, mb_values = await modbus_loop(plc)
                ua_reads, ua_values = await opcua_loop(plc)
                behind = plc.behind_ticks
        return {"modbus_reads_per_s": round(mb_reads / span_s, 1),
                "modbus_values_per_s": round(mb_values / span_s, 1),
                "opcua_reads_per_s": round(ua_reads / span_s, 1),
                "opcua_values_per_s": round(ua_values / span_s, 1),
                "facade_behind_ticks": behind}

    result = asyncio.run(run())
    print(f"façade: whole map over Modbus TCP {result['modbus_reads_per_s']:,.0f}/s "
          f"({result['modbus_values_per_s']:,.0f} values/s, 6 requests a map), over OPC UA "
          f"{result['opcua_reads_per_s']:,.0f}/s ({result['opcua_values_per_s']:,.0f} values/s, one Read a map); "
          f"model at ×60 behind them, {result['facade_behind_ticks']} ticks behind real time")
    return result


MEASUREMENTS.append(facade_read_rates)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="shorter spans (about 10 s in all)")
    args = parser.parse_args(argv)
    result: dict[str, float | bool] = {"quick": args.quick}
    for measure in MEASUREMENTS:
        result.update(measure(args.quick))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
