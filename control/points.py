"""The strategy's states as system points (plantctl.points): electrode votes, diversion, reagent flow.

An electrode leaving the vote, a loop losing its vote, water being diverted or having nowhere to go,
and a reagent flow short of its setpoint are things the operator must see in the alarm list with
the ordinary ISA-18.2 handling — and trend afterwards — not only as entries in the loop journal.
"""

from __future__ import annotations

from datetime import datetime

from control.diversion import DiversionState
from control.flow_law import FlowLaw
from control.group import LoopGroup
from plantctl.config.models import AlarmConfig, AlarmType, LoopKind, PlantConfig, TagConfig
from plantctl.points import PointPublisher, Publish, SystemPoints, system_tag
from plantctl.quality import Quality

SUBSYSTEM = "CONTROL"
ELECTRODE_VOTING, ELECTRODE_DEVIATING, ELECTRODE_OUT = 0.0, 1.0, 2.0
DIVERSION_CODE = {DiversionState.OUTFALL: 0.0, DiversionState.DIVERTING: 1.0, DiversionState.NOWHERE: 2.0}


def electrode_point(electrode: str) -> str:
    return f"SYS.{SUBSYSTEM}.{electrode}.VOTE"


def vote_lost_point(loop: str) -> str:
    return f"SYS.{SUBSYSTEM}.{loop}.VOTE_LOST"


def diversion_point(valve: str) -> str:
    return f"SYS.{SUBSYSTEM}.{valve}.STATE"


def outvoted_point(valve: str) -> str:
    return f"SYS.{SUBSYSTEM}.{valve}.OUTVOTED"


def flow_short_point(loop: str) -> str:
    return f"SYS.{SUBSYSTEM}.{loop}.FLOW_SHORT"


def meter_fallback_point(loop: str) -> str:
    return f"SYS.{SUBSYSTEM}.{loop}.METER_FALLBACK"


def working_setpoint_point(loop: str) -> str:
    return f"SYS.{SUBSYSTEM}.{loop}.WORKING_SP"


def _discrete(name: str, tag: str, value: int, priority: int, message: str, on_delay_s: float = 0.0) -> AlarmConfig:
    return AlarmConfig(name=name, tag=tag, type=AlarmType.DISCRETE, limit=value, priority=priority,
                       on_delay_s=on_delay_s, message=message)


def _flag(tags: list[TagConfig], alarms: list[AlarmConfig], point: str, description: str, priority: int,
          message: str) -> None:
    """A boolean point (1 = the condition holds) and its `.ACTIVE` alarm."""
    t = system_tag(SUBSYSTEM, point, unit="bool", low=0, high=1, decimals=0, description=description)
    tags.append(t)
    alarms.append(_discrete(f"{t.name}.ACTIVE", t.name, 1, priority, message))


def declare(plant: PlantConfig) -> SystemPoints:
    """One point per voted electrode, per voted loop, per diversion valve, per flow loop with a deviation alarm
    and per flow loop with a meter fall-back; the working setpoint of each loop with a setpoint shift."""
    tags: list[TagConfig] = []
    alarms: list[AlarmConfig] = []
    units = {t.name: t.unit for t in plant.tags}
    for lp in plant.loops:
        if lp.setpoint_shift is not None:
            tags.append(system_tag(
                SUBSYSTEM, f"{lp.name}.WORKING_SP", unit=units.get(lp.pv, ""),
                low=min(lp.setpoint_low, lp.setpoint_shift.limit), high=max(lp.setpoint_high, lp.setpoint_shift.limit),
                decimals=2, description=f"{lp.name}'s working setpoint: the operator's, or shifted toward "
                                        f"{lp.setpoint_shift.limit:g} while control is tight (setpoint_shift:)"))
        if lp.voted_with:
            for el in (lp.pv, *lp.voted_with):
                t = system_tag(SUBSYSTEM, f"{el}.VOTE", unit="state", low=0, high=2, decimals=0,
                               description=f"{el} in {lp.name}'s vote: 0 voting, 1 deviating, 2 out of the vote")
                tags.append(t)
                alarms.append(_discrete(f"{t.name}.DEVIATION", t.name, 1, 3,
                                        f"{el} departs from the other two electrodes of {lp.name}: check it"))
                alarms.append(_discrete(f"{t.name}.OUT", t.name, 2, 2,
                                        f"{el} taken out of {lp.name}'s vote (see the loop journal for why): clean, "
                                        "recalibrate or replace it, then return it on the loop's faceplate"))
            _flag(tags, alarms, f"{lp.name}.VOTE_LOST",
                  f"{lp.name} has fewer than two electrodes in its vote (1): fail-safe", 1,
                  f"{lp.name} lost its vote: the loop holds, then goes to its fail-safe; "
                  "dose by hand only with a portable pH meter")
        if lp.kind is LoopKind.FLOW and lp.deviation_alarm is not None:
            _flag(tags, alarms, f"{lp.name}.FLOW_SHORT", f"{lp.name}'s reagent flow short of its setpoint (1)", 2,
                  f"{lp.name} cannot hold its reagent flow: pump wear, air lock, blocked line "
                  "or empty day tank")
        if lp.kind is LoopKind.FLOW and lp.meter_fallback is not None:
            _flag(tags, alarms, f"{lp.name}.METER_FALLBACK",
                  f"{lp.name} dosing on {lp.mv[0]}'s calibration, not on {lp.pv} (1)", 2,
                  f"{lp.pv} Bad, stale or frozen: {lp.name} doses on the pump's calibration "
                  f"({lp.meter_fallback.flow_per_pct:g} per %) — check the flowmeter")
    for div in plant.diversion:
        t = system_tag(SUBSYSTEM, f"{div.name}.STATE", unit="state", low=0, high=2, decimals=0,
                       description=f"{div.name}: 0 to the outfall, 1 diverting, 2 off-spec with nowhere to go")
        tags.append(t)
        alarms.append(_discrete(f"{t.name}.DIVERTING", t.name, 1, 3,
                                f"{div.name} diverting off-spec discharge to the holding tank"))
        alarms.append(_discrete(f"{t.name}.NOWHERE", t.name, 2, 1,
                                f"{div.name}: discharge off-spec and the holding tank is full — stop the feed now"))
        if div.outvote is not None:
            _flag(tags, alarms, f"{div.name}.OUTVOTED",
                  f"{div.name}: a discharge electrode overruled by a vote of three (1)", 2,
                  f"{div.name} judges the discharge without a failed or disagreeing electrode "
                  "(see the journal for which): check it")
    return SystemPoints(tuple(tags), tuple(alarms))


class ControlPoints:
    """Publishes the strategy's points after each period of the loops and diversion blocks."""

    def __init__(self, publish: Publish, plant: PlantConfig) -> None:
        self.publisher = PointPublisher(publish, declare(plant))

    def update(self, group: LoopGroup, now: datetime, block: str | None = None) -> None:
        """Publish the points of one loop or diversion block (the one that just ran), or of all of them."""
        pub = self.publisher
        loops = [group.loops[block]] if block in group.loops else [] if block is not None else group.loops.values()
        for lp in loops:
            voter = lp.voter
            if voter is not None:
                for el in voter.electrodes:
                    state = ELECTRODE_OUT if voter.fault_of(el) is not None else \
                        ELECTRODE_DEVIATING if voter.deviation_alarm(el) else ELECTRODE_VOTING
                    pub.set(electrode_point(el), state, now, Quality.GOOD, voter.fault_reason(el))
                # lost through electrode faults, not merely "no values yet" at start-up (nothing to alarm then)
                lost = lp.vote is not None and lp.vote.quality.is_bad \
                    and any(voter.fault_of(el) is not None for el in voter.electrodes)
                pub.set(vote_lost_point(lp.name), 1.0 if lost else 0.0, now, Quality.GOOD,
                        lp.vote.reason if lp.vote is not None and lost else "")
            if lp.shift is not None:
                pub.set(working_setpoint_point(lp.name), lp.working_setpoint, now, Quality.GOOD,
                        lp.shift.doubt or "")
            law = lp.law
            if isinstance(law, FlowLaw) and flow_short_point(lp.name) in pub.names:
                pub.set(flow_short_point(lp.name), 1.0 if law.deviation_alarm else 0.0, now)
            fallback = group.fallbacks.get(lp.name)
            if fallback is not None and meter_fallback_point(lp.name) in pub.names:
                pub.set(meter_fallback_point(lp.name), 1.0 if fallback.active else 0.0, now, Quality.GOOD,
                        fallback.reason)
        for name, div in group.diversions.items():
            if block is None or block == name:
                pub.set(diversion_point(name), DIVERSION_CODE[div.state], now)
                if outvoted_point(name) in pub.names:
                    pub.set(outvoted_point(name), 1.0 if div.outvoted else 0.0, now, Quality.GOOD,
                            "; ".join(div.outvoted.values()))
