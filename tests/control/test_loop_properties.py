"""Property tests of the loop's state machine: any sequence of samples and operator commands keeps its promises."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from control.events import EventLog, LoopEventKind
from control.loop import Loop, ModeRefused
from plantctl.config.models import LoopMode
from plantctl.quality import Quality
from plantctl.samples import Sample
from tests.control.test_loop import cfg

T0 = datetime(2026, 3, 1, tzinfo=UTC)
SAFETY = {LoopEventKind.INTERLOCK_TRIP, LoopEventKind.FAIL_SAFE_SUBSTITUTE}

step = st.fixed_dictionaries({
    "ph": st.floats(2.0, 12.0),
    "quality": st.sampled_from([Quality.GOOD, Quality.GOOD, Quality.GOOD, Quality.UNCERTAIN,
                                Quality.BAD_SENSOR_FAILURE, Quality.BAD_COMM_FAILURE]),
    "age_s": st.sampled_from([0.0, 0.0, 0.0, 6.0]),
    "level": st.sampled_from([50.0, 50.0, 5.0]),
    "fault": st.sampled_from([0.0, 0.0, 0.0, 1.0]),
    "command": st.sampled_from([None, None, "AUTO", "MAN", "SP", "OUT"]),
    "value": st.floats(-30.0, 110.0),
})


@settings(max_examples=150, deadline=None)
@given(st.lists(step, min_size=1, max_size=60))
def test_any_history_keeps_output_limits_rate_limit_and_no_auto_on_bad_pv(history: list[dict[str, object]]) -> None:
    log = EventLog()
    config = cfg(compensation="titration",
                 titration_curve={"points": [[2.0, -10.0], [4.0, 5.0], [7.0, 9.0], [9.0, 9.5], [12.0, 20.0]]})
    loop = Loop(config, log, "pH")
    prev = loop.output
    for k, h in enumerate(history):
        now = T0 + timedelta(seconds=k + 1)
        q = h["quality"]
        assert isinstance(q, Quality)
        loop.on_sample(Sample("AIT-1", now - timedelta(seconds=float(h["age_s"])), float(h["ph"]), q))  # type: ignore[arg-type]
        loop.on_sample(Sample("LIT-1", now, float(h["level"])))  # type: ignore[arg-type]
        loop.on_sample(Sample("P-1.FAULT", now, float(h["fault"])))  # type: ignore[arg-type]
        cmd, value = h["command"], float(h["value"])  # type: ignore[arg-type]
        try:
            if cmd in ("AUTO", "MAN"):
                loop.set_mode(LoopMode(cmd), "op", now)
            elif cmd == "SP":
                loop.set_setpoint(min(max(value / 10.0, 6.0), 8.0), "op", now)
            elif cmd == "OUT" and loop.mode is LoopMode.MAN:
                loop.set_output(min(max(value, -20.0), 100.0), "op", now)
        except ModeRefused:
            assert cmd == "AUTO" or cmd == "OUT"
        n_events = len(log.events)
        reqs = loop.execute(now, 1.0)
        new_events = {e.kind for e in log.events[n_events:]}
        assert config.output_low <= loop.output <= config.output_high
        assert all(0.0 <= r.value <= 100.0 for r in reqs)
        stopped = bool(loop.active_interlocks)
        if not (new_events & SAFETY) and not stopped:
            assert abs(loop.output - prev) <= 1.0 + 1e-6, (k, h, new_events)
        if not loop.pv_usable:
            assert loop.mode is LoopMode.MAN or loop.fail_safe.value == "hold"
        prev = loop.output
    for e in log.of(LoopEventKind.MODE_CHANGE):
        assert e.reason  # every mode change says why
