"""Chaos and soak benchmark: the plant as separate processes (`plantctl sim`, `plantctl run`, a private
TimescaleDB), every fault of docs/reliability.md once, then a soak of the upset day at an accelerated
simulator speed while the service's RSS, queues and spool are sampled.

Prints figures as it goes; the last line of stdout is one JSON object. `--quick` (under a minute): the
database stop and the Modbus link cut (3 s each) and a 10 s soak. The full run: every fault (10 s
outages) and 24 simulated hours at ×1000 (86 s wall). Needs the local TimescaleDB runtime (`plantctl db
up` works) and makes a throwaway server instance of its own.

    .venv/bin/python bench/chaos.py [--quick] [--soak-speed 1000] [--soak-sim-hours 24] [--outage-s 10]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from plantctl.db import LocalDatabase
from tests.chaos import faults
from tests.chaos.faults import FaultResult
from tests.chaos.stack import ApiRefused, Stack, free_port, rss_kib

FAULT_SPEED = 60.0


def say(msg: str) -> None:
    print(msg, flush=True)


def run_faults(stack: Stack, outage_s: float, quick: bool) -> list[FaultResult]:
    plan: list[tuple[str, Callable[[], FaultResult]]] = [
        ("database stopped", lambda: faults.database_outage(stack, "stopped", outage_s)),
        ("Modbus link cut", lambda: faults.link_cut(stack, "modbus", outage_s)),
    ]
    if not quick:
        plan += [
            ("database SIGKILLed", lambda: faults.database_outage(stack, "sigkilled", outage_s)),
            ("service SIGKILLed", lambda: faults.service_sigkill(stack, dead_s=outage_s)),
            ("service SIGTERMed", lambda: faults.service_sigterm(stack, dead_s=outage_s)),
            ("OPC UA link cut", lambda: faults.link_cut(stack, "opcua", outage_s)),
            ("simulator SIGKILLed", lambda: faults.simulator_killed(stack, outage_s)),
            ("heartbeat stall", lambda: faults.heartbeat_stall(stack)),
        ]
    results = []
    for name, run in plan:
        r = run()
        results.append(r)
        say(f"{name}: {json.dumps(r.as_dict())}")
    return results


def _loop_to_auto(stack: Stack) -> str | None:
    """PHC-101 to AUTO as the operator, retried for 20 s while the loop refuses; the last refusal or None."""
    refusal: str | None = None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            stack.api("PUT", "/api/v1/loops/PHC-101/mode", {"mode": "AUTO", "reason": "chaos soak"}, user="operator")
            return None
        except ApiRefused as exc:
            refusal = str(exc)
            time.sleep(1)
    return refusal


def soak(db: LocalDatabase, workdir: Path, speed: float, sim_hours: float) -> dict[str, Any]:
    """The upset day at ×speed; the service's VmRSS every second, its health every 5 s."""
    stack = Stack(db, workdir, speed=speed, dbname="soak")
    wall_s = sim_hours * 3600.0 / speed
    try:
        stack.start()
        assert stack.service is not None
        pid = stack.service.pid
        # Control active: the operator runs both dosing pumps and puts the pH loop in AUTO.
        faults.start_pumps(stack)
        auto_refused = _loop_to_auto(stack)
        t_start = time.time()
        rss: list[tuple[float, float]] = []
        max_queue = 0
        max_spool = 0
        next_health = t_start
        while (now := time.time()) < t_start + wall_s:
            rss.append((now - t_start, rss_kib(pid) / 1024.0))
            if now >= next_health:
                h = stack.health()
                max_queue = max([max_queue, *(q["depth"] for q in h["queues"])])
                max_spool = max(max_spool, int(h["historian"]["spool_bytes"]))
                next_health = now + 5.0
            time.sleep(1.0)
        h = stack.health()
        t_end = time.time()
        warm = [(t, m) for t, m in rss if t >= min(60.0, 0.25 * wall_s)]
        slope_per_s = float(np.polyfit([t for t, _ in warm], [m for _, m in warm], 1)[0]) if len(warm) > 2 else 0.0
        stamps = stack.sql("SELECT extract(epoch FROM s.ts)::float8 FROM samples s JOIN tags t ON t.id = s.tag_id "
                           "WHERE t.name = 'FIT-100' AND s.quality >= 192 ORDER BY s.ts")
        intervals = np.diff(np.array([float(r[0]) for r in stamps]))
        ua_last = stack.sql("SELECT extract(epoch FROM max(s.ts))::float8 FROM samples s JOIN tags t "
                            "ON t.id = s.tag_id WHERE t.name = %s", faults.UA_PROBE)[0][0]
        alarms = stack.sql("SELECT count(*) FROM alarm_journal")[0][0]
        setpoints = stack.sql("SELECT count(DISTINCT s.value) FROM samples s JOIN tags t ON t.id = s.tag_id "
                              "WHERE t.name = 'P-201.SP'")[0][0]
        loop_events = stack.sql("SELECT count(*) FROM loop_events")[0][0]
        behind = len(re.findall(r"falls behind", stack.sim.log_text() if stack.sim else ""))
        return {
            "speed": speed, "wall_s": round(t_end - t_start, 1),
            "simulated_h": round((float(ua_last) - t_start) / 3600.0, 2) if ua_last else None,
            "rss_start_mb": round(rss[0][1], 1), "rss_end_mb": round(rss[-1][1], 1),
            "rss_slope_mb_per_h": round(slope_per_s * 3600.0, 2),
            "rss_slope_mb_per_sim_day": round(slope_per_s * 86400.0 / speed, 3),
            "rss_slope_mb_per_day_extrapolated": round(slope_per_s * 86400.0, 1),
            "max_queue_depth_batches": max_queue, "max_spool_bytes": max_spool,
            "rows_written": int(h["historian"]["rows_written"]),
            "rows_quarantined": int(h["historian"]["rows_quarantined"]),
            "scan_interval_p50_s": round(float(np.percentile(intervals, 50)), 4) if len(intervals) else None,
            "scan_interval_p99_s": round(float(np.percentile(intervals, 99)), 4) if len(intervals) else None,
            "scan_interval_max_s": round(float(intervals.max()), 4) if len(intervals) else None,
            "alarm_journal_rows": int(alarms), "p201_sp_distinct_values": int(setpoints),
            "loop_events": int(loop_events), "loop_mode_at_end": h["loops"].get("PHC-101"),
            "sim_behind_warnings": behind, "auto_refused": auto_refused,
        }
    finally:
        stack.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="two faults and a 10 s soak, under a minute")
    ap.add_argument("--outage-s", type=float, default=None, help="wall seconds each fault lasts (10; quick 3)")
    ap.add_argument("--soak-speed", type=float, default=1000.0, help="simulator speed of the soak (≤ 1000)")
    ap.add_argument("--soak-sim-hours", type=float, default=None, help="simulated hours of the soak (24)")
    args = ap.parse_args()
    outage_s = args.outage_s if args.outage_s is not None else (3.0 if args.quick else 10.0)
    sim_hours = args.soak_sim_hours if args.soak_sim_hours is not None else (
        10 * args.soak_speed / 3600.0 if args.quick else 24.0)

    db = LocalDatabase(instance=f"chaos-bench-{uuid.uuid4().hex[:8]}", port=free_port()).up()
    t0 = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="plantctl-chaos-") as tmp:
            stack = Stack(db, Path(tmp) / "faults", speed=FAULT_SPEED)
            try:
                stack.start()
                say(f"stack up: sim ×{FAULT_SPEED:g}, service on :{stack.api_port}, database on :{db.port}")
                results = run_faults(stack, outage_s, args.quick)
            finally:
                stack.stop()
            say(f"soak: {sim_hours:g} simulated h at ×{args.soak_speed:g} …")
            soaked = soak(db, Path(tmp) / "soak", args.soak_speed, sim_hours)
            say(f"soak: {json.dumps(soaked)}")
    finally:
        db.down()
        db.destroy()
    f = [r.figures for r in results]
    out: dict[str, Any] = {
        "quick": args.quick, "outage_s": outage_s, "fault_speed": FAULT_SPEED,
        "samples_lost": sum(x.samples_lost for x in f), "duplicates": max(x.duplicates for x in f),
        "out_of_order": max(x.out_of_order for x in f), "quarantined": max(x.quarantined for x in f),
        "good_while_down": sum(r.good_while_down for r in results),
        "max_recovery_s": round(max(r.recovery_s for r in results), 2),
        "bad_marked_on_link_loss": all(r.bad_marked for r in results if r.bad_marked is not None),
        "safe_state_on_stall": next((r.safe_state for r in results if r.safe_state is not None), None),
        "rss_slope_mb_per_h": soaked["rss_slope_mb_per_h"],
        "rss_slope_mb_per_sim_day": soaked["rss_slope_mb_per_sim_day"],
        "soak": soaked, "faults": {r.fault: r.as_dict() for r in results},
        "wall_s": round(time.monotonic() - t0, 1),
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
