-- 0300_control: what the control loops must keep across a restart (mode, setpoint, output, integral)
-- and their event journal (mode changes, interlocks, fail-safe steps, each with its reason).
-- Owned by plantctl/runtime (control_journal.py); numbers 0300-0399 are the control part's.

CREATE TABLE loop_state (
    loop     text        PRIMARY KEY,
    state    jsonb       NOT NULL,
    updated  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE loop_events (
    ts      timestamptz NOT NULL,
    id      bigint      GENERATED ALWAYS AS IDENTITY,
    loop    text        NOT NULL,
    kind    text        NOT NULL,
    reason  text        NOT NULL,
    actor   text        NOT NULL,
    data    jsonb       NOT NULL DEFAULT '{}'
);
SELECT create_hypertable('loop_events', by_range('ts', INTERVAL '7 days'));
CREATE INDEX loop_events_loop_ts ON loop_events (loop, ts DESC);
