"""Each fault of docs/reliability.md run once against a running Stack, returning its measured figures.

Shared by the chaos tests (which assert the bounds) and bench/chaos.py (which reports them).
"""

from __future__ import annotations

import signal
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from pymodbus.client import ModbusTcpClient

from plantctl.plantfile import load_plant
from tests.chaos.measures import (
    Figures,
    figures,
    first_good_stamp_after,
    good_committed_after,
    good_committed_between,
    good_stamped_between,
    tags_with_quality_after,
)
from tests.chaos.stack import BAD_NOT_CONNECTED, PLANT, Stack, wait_for

RECOVERY_BOUND_S = 10.0
LINK_GRACE_S = 0.5  # a reply already in the service's socket buffer when the link is cut is stamped after it
BATCH_AGE_S = load_plant(PLANT).historian.batch_max_age_s
PROBE = "FIT-100"     # Modbus, 1 s scan, no deadband, stamped by the service's clock
UA_PROBE = "AIT-100"  # OPC UA, stamped by the simulated PLC's clock
LEAD_S = 1.0          # undisturbed time measured before each fault
TAIL_S = 2.0          # and after acquisition is back


def source_tags(stack: Stack, kind: str) -> list[str]:
    """The tags of the opcua or modbus source in the plant file the running service was started with."""
    plant = load_plant(stack.workdir / "plant-service.yaml")
    names = {s.name for s in plant.sources if s.kind == kind}
    return [t.name for t in plant.tags if t.source in names]


@dataclass
class FaultResult:
    """What one fault did to the stored record; the fields are defined in docs/reliability.md."""

    fault: str
    outage_s: float
    figures: Figures
    good_while_down: int = 0
    recovery_s: float = 0.0
    bad_marked: bool | None = None   # every tag of the lost link got a BAD_NOT_CONNECTED row
    safe_state: bool | None = None   # pumps stopped and WATCHDOG.TRIPPED set during a heartbeat stall
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("figures")
        return {**d, **self.figures.as_dict(), "recovery_s": round(self.recovery_s, 2)}


def _committed_up_to(stack: Stack, t: float, timeout_s: float = 60) -> None:
    """Wait until the historian has committed the probe's samples up to wall time t."""
    wait_for(f"samples up to {t:.1f} committed", lambda: first_good_stamp_after(stack, PROBE, t), timeout_s)


def _recovery(stack: Stack, t_clear: float) -> float:
    """Wall seconds from the fault clearing to the first Good probe sample (service's clock)."""
    first = wait_for("first Good sample after the fault", lambda: first_good_stamp_after(stack, PROBE, t_clear), 60)
    return float(first) - t_clear


def _ua_recovery(stack: Stack, mark: int, t_clear: float) -> float:
    """Wall seconds from the fault clearing until a Good OPC UA sample is committed (includes batching)."""
    wait_for("first Good OPC UA sample after the fault", lambda: good_committed_after(stack, UA_PROBE, mark), 60,
             every_s=0.1)
    return time.time() - t_clear


def _spool_bytes(stack: Stack) -> int:
    spool = stack.workdir / "state" / "spool"
    return sum(p.stat().st_size for p in spool.glob("seg-*.spool")) if spool.exists() else 0


def writer_counters(stack: Stack) -> dict[str, int]:
    h = stack.health()["historian"]
    return {k: int(h[k]) for k in ("rows_quarantined", "rows_dropped", "rows_duplicate", "spool_pending_rows",
                                   "rows_spooled", "rows_replayed")}


def _start(stack: Stack) -> float:
    _committed_up_to(stack, time.time())
    t0 = time.time()
    time.sleep(LEAD_S)
    return t0


def database_outage(stack: Stack, how: str, outage_s: float) -> FaultResult:
    """The database stopped (pg_ctl -m fast) or SIGKILLed for outage_s, then started again."""
    t0 = _start(stack)
    spool_before = _spool_bytes(stack)
    (stack.db.down if how == "stopped" else stack.db.kill)()
    time.sleep(outage_s)
    spooled = _spool_bytes(stack) - spool_before
    stack.db.start()
    t_up = time.time()
    wait_for("spool replayed", lambda: writer_counters(stack)["spool_pending_rows"] == 0, 60)
    drained_s = time.time() - t_up
    _committed_up_to(stack, t_up + TAIL_S)
    f = figures(stack, t0, t_up + TAIL_S)
    return FaultResult(f"database_{how}", outage_s, f, recovery_s=0.0,
                       detail={"spool_bytes_written": spooled, "spool_drained_s": round(drained_s, 2),
                               **writer_counters(stack)})


def service_sigkill(stack: Stack, dead_s: float) -> FaultResult:
    """plantctl run SIGKILLed, started again dead_s later. Lost by design: its dead time, and the open batch
    and queue it held in memory (≤ batch_max_age_s plus one scan; docs/historian.md, Durability)."""
    assert stack.service is not None
    t0 = _start(stack)
    t_kill = time.time()
    stack.service.send(signal.SIGKILL)
    stack.service.stop()
    time.sleep(dead_s)
    t_restart = stack.start_service()
    recovery = _recovery(stack, t_restart)
    end = t_restart + recovery + TAIL_S
    _committed_up_to(stack, end)
    f = figures(stack, t0, end, excused=[(t_kill - BATCH_AGE_S - 1.0, t_restart + recovery)])
    return FaultResult("service_sigkill", dead_s, f, recovery_s=recovery,
                       detail={"dead_time_lost_s": round(t_restart + recovery - t_kill, 2), **writer_counters(stack)})


def service_sigterm(stack: Stack, dead_s: float) -> FaultResult:
    """plantctl run stopped with SIGTERM (as systemd does), started again dead_s later."""
    assert stack.service is not None
    t0 = _start(stack)
    t_term = time.time()
    rc = stack.service.stop(signal.SIGTERM)
    t_stopped = time.time()
    last = stack.sql("SELECT extract(epoch FROM max(s.ts))::float8 FROM samples s JOIN tags t ON t.id = s.tag_id "
                     "WHERE t.name = %s", PROBE)[0][0]
    stopped_cleanly = "runtime stopped" in stack.service.log_text().rsplit("=== start", 1)[-1]
    time.sleep(dead_s)
    t_restart = stack.start_service()
    recovery = _recovery(stack, t_restart)
    end = t_restart + recovery + TAIL_S
    _committed_up_to(stack, end)
    f = figures(stack, t0, end, excused=[(t_stopped, t_restart + recovery)])
    return FaultResult("service_sigterm", dead_s, f, recovery_s=recovery,
                       detail={"exit_status": rc, "stop_s": round(t_stopped - t_term, 2),
                               "runtime_stopped_logged": stopped_cleanly,
                               "last_sample_before_signal_s": round(t_term - float(last), 3),
                               **writer_counters(stack)})


def link_cut(stack: Stack, which: str, outage_s: float) -> FaultResult:
    """One PLC link partitioned at its proxy (connections reset, new ones refused) for outage_s."""
    proxy = stack.modbus_proxy if which == "modbus" else stack.opcua_proxy
    assert proxy is not None
    tags = source_tags(stack, which)
    t0 = _start(stack)
    mark0 = stack.commit_mark()
    t_cut = proxy.partition()
    time.sleep(BATCH_AGE_S + 1.5)  # what was read before the cut is committed by now
    mark1 = stack.commit_mark()
    time.sleep(max(0.0, outage_s - BATCH_AGE_S - 1.5))
    mark2 = stack.commit_mark()
    t_heal = proxy.heal()
    good_while_down = good_committed_between(stack, tags, mark1, mark2)
    if which == "modbus":
        recovery = _recovery(stack, t_heal)
        good_while_down += good_stamped_between(stack, tags, t_cut + LINK_GRACE_S, t_heal)
        excused = [(t_cut, t_heal + recovery)]
    else:
        recovery = _ua_recovery(stack, mark2, t_heal)
        excused = []  # the Modbus link never broke: its samples have no excuse
    end = max(time.time(), t_heal + recovery) + TAIL_S
    _committed_up_to(stack, end)
    f = figures(stack, t0, end, excused=excused)
    bad = tags_with_quality_after(stack, tags, mark0, BAD_NOT_CONNECTED)
    return FaultResult(f"{which}_link_cut", outage_s, f, good_while_down=good_while_down, recovery_s=recovery,
                       bad_marked=bad == set(tags), detail={"tags_not_marked_bad": sorted(set(tags) - bad)})


def simulator_killed(stack: Stack, outage_s: float) -> FaultResult:
    """plantctl sim SIGKILLed (both PLC servers gone at once), started again outage_s later."""
    assert stack.sim is not None
    modbus = source_tags(stack, "modbus")
    every = modbus + source_tags(stack, "opcua")
    t0 = _start(stack)
    mark0 = stack.commit_mark()
    stack.sim.send(signal.SIGKILL)
    stack.sim.stop()
    t_kill = time.time()
    time.sleep(BATCH_AGE_S + 1.5)
    mark1 = stack.commit_mark()
    time.sleep(max(0.0, outage_s - BATCH_AGE_S - 1.5))
    mark2 = stack.commit_mark()
    t_spawn = time.time()  # down until here; Modbus may answer well before OPC UA listens and start_sim returns
    t_up = stack.start_sim()
    recovery = _recovery(stack, t_up)
    ua_recovery = _ua_recovery(stack, mark2, t_up)
    good_while_down = (good_committed_between(stack, every, mark1, mark2)
                       + good_stamped_between(stack, modbus, t_kill + LINK_GRACE_S, t_spawn))
    end = t_up + recovery + TAIL_S
    _committed_up_to(stack, end)
    f = figures(stack, t0, end, excused=[(t_kill, t_up + recovery)])
    bad = tags_with_quality_after(stack, every, mark0, BAD_NOT_CONNECTED)
    return FaultResult("simulator_killed", outage_s, f, good_while_down=good_while_down,
                       recovery_s=max(recovery, ua_recovery), bad_marked=bad == set(every),
                       detail={"modbus_recovery_s": round(recovery, 2), "opcua_recovery_s": round(ua_recovery, 2),
                               "tags_not_marked_bad": sorted(set(every) - bad)})


def plc_bits(stack: Stack) -> dict[str, bool]:
    """Discrete inputs 0–4 straight from the simulator (not through the proxy): docs/sim-register-map.md."""
    client = ModbusTcpClient("127.0.0.1", port=stack.sim_modbus_port, timeout=3)
    try:
        if not client.connect():  # type: ignore[no-untyped-call]
            raise ConnectionError("simulator's Modbus server refused the test client")
        rr = client.read_discrete_inputs(0, count=5, device_id=1)
        if rr.isError():
            raise ConnectionError(f"reading discrete inputs 0–4: {rr}")
        bits = [bool(b) for b in rr.bits]
    finally:
        client.close()  # type: ignore[no-untyped-call]
    return {"P-201.RUNNING": bits[0], "P-202.RUNNING": bits[2], "WATCHDOG.TRIPPED": bits[4]}


def start_pumps(stack: Stack) -> dict[str, bool]:
    """What the operator does at the MCC: RUN both dosing pumps (coils 0 and 1); waits until they run."""
    client = ModbusTcpClient("127.0.0.1", port=stack.sim_modbus_port, timeout=3)
    try:
        if not client.connect():  # type: ignore[no-untyped-call]
            raise ConnectionError("simulator's Modbus server refused the test client")
        for coil in (0, 1):
            rr = client.write_coil(coil, True, device_id=1)
            if rr.isError():
                raise ConnectionError(f"RUN coil {coil}: {rr}")
    finally:
        client.close()  # type: ignore[no-untyped-call]
    return dict(wait_for("pumps running", lambda: (b := plc_bits(stack))["P-201.RUNNING"] and b["P-202.RUNNING"]
                         and b, 10))


def heartbeat_stall(stack: Stack, watchdog_timeout_s: float = 5.0) -> FaultResult:
    """Pumps started, then plantctl run SIGSTOPped until the PLC watchdog trips, then SIGCONT. Leaves the
    pumps stopped (an operator restarts them after a trip), so run it last."""
    assert stack.service is not None
    before = start_pumps(stack)
    t0 = _start(stack)
    t_stop = time.time()
    stack.service.send(signal.SIGSTOP)
    try:
        wait_for("watchdog trip", lambda: plc_bits(stack)["WATCHDOG.TRIPPED"], watchdog_timeout_s + 7, every_s=0.1)
        t_trip = time.time()
        during = plc_bits(stack)
    finally:
        stack.service.send(signal.SIGCONT)
    t_cont = time.time()
    recovery = _recovery(stack, t_cont)
    end = t_cont + recovery + TAIL_S
    _committed_up_to(stack, end)
    f = figures(stack, t0, end, excused=[(t_stop, t_cont + recovery)])
    safe = during["WATCHDOG.TRIPPED"] and not during["P-201.RUNNING"] and not during["P-202.RUNNING"]
    return FaultResult("heartbeat_stall", t_cont - t_stop, f, recovery_s=recovery, safe_state=safe,
                       detail={"trip_after_stop_s": round(t_trip - t_stop, 2), "before": before, "during": during})
