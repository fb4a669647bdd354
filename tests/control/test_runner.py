"""The loop runner's own duties with a stand-in write path: refusals journaled once, state persisted, clean stop."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from control.events import EventLog, LoopEventKind
from control.group import LoopGroup
from control.runner import LoopRunner
from control.state import LoopState
from plantctl.plantfile import load_plant
from plantctl.samples import Sample
from plantctl.writes import WriteOutcome


class MemoryStore:
    def __init__(self, state: LoopState | None = None) -> None:
        self.saved: list[LoopState] = []
        self.initial = state

    def load(self, loop: str) -> LoopState | None:
        return self.initial if self.initial is not None and self.initial.loop == loop else None

    def save(self, state: LoopState) -> None:
        self.saved.append(state)


def test_refused_writes_are_one_event_per_streak_and_state_is_saved_and_restored() -> None:
    plant = load_plant("examples/plant.yaml")
    plant = plant.model_copy(update={"loops": [lp.model_copy(update={"period_s": 0.05}) for lp in plant.loops]})
    writes: list[tuple[str, float]] = []
    refuse = {"P-202.SP": True}

    async def write(tag: str, value: float) -> WriteOutcome:
        writes.append((tag, value))
        if refuse.get(tag):
            return WriteOutcome.device("exception 4: device failure")
        return WriteOutcome.written(value)

    async def main() -> tuple[EventLog, MemoryStore, LoopRunner]:
        log = EventLog()
        saved = LoopState("PHC-101", plant.loops[0].mode, 7.2, 3.0, 2.0, datetime.now(UTC))
        store = MemoryStore(saved)
        runner = LoopRunner(LoopGroup(plant, log), write, log, store)
        await runner.start()
        for _ in range(20):
            now = datetime.now(UTC)
            runner.tap([Sample("AIT-101", now, 7.2), Sample("AIT-104", now, 7.21), Sample("AIT-105", now, 7.19),
                        Sample("FIT-201", now, 20.0), Sample("AIT-100", now, 2.5), Sample("FIT-100", now, 6.0),
                        Sample("LIT-101", now, 80.0), Sample("P-201.FAULT", now, 0.0),
                        Sample("P-202.FAULT", now, 0.0), Sample("P-201.RUNNING", now, 1.0),
                        Sample("P-202.RUNNING", now, 1.0), Sample("CIT-101", now, 5.0)])
            await asyncio.sleep(0.05)
        refuse["P-202.SP"] = False
        await asyncio.sleep(0.2)
        await runner.stop()
        return log, store, runner

    log, store, runner = asyncio.run(main())
    assert log.of(LoopEventKind.RESTORED)
    assert len(log.of(LoopEventKind.OUTPUT_WRITE_FAILED)) == 1
    assert "device failure" in log.of(LoopEventKind.OUTPUT_WRITE_FAILED)[0].reason
    assert log.of(LoopEventKind.OUTPUT_WRITE_RECOVERED)
    assert runner.write_failures > 1
    phc = [st for st in store.saved if st.loop == "PHC-101"]
    assert phc and phc[-1].mode.value == "AUTO"
    assert abs(phc[-1].setpoint - 7.2) < 1e-9
    # PHC-101's acid side directly, its base side through its flow loop FC-201; the diversion valve too
    assert {"P-201.SP", "P-202.SP", "XV-410.CMD"} <= {t for t, _v in writes}
