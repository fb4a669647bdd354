-- 0100_alarms: the alarm journal (every ISA-18.2 transition and operator action) and the current
-- state of each alarm, from which the engine restores active and shelved alarms at start.
-- Owned by plantctl/alarms (journal.py); numbers 0100-0199 are the alarm and audit parts'.

-- One row per transition. The snapshot columns (active … acked_at) are the alarm's full state
-- after the row, so any row restores the alarm; id orders rows that share a timestamp.
CREATE TABLE alarm_journal (
    ts             timestamptz NOT NULL,
    id             bigint      GENERATED ALWAYS AS IDENTITY,
    alarm          text        NOT NULL,
    event          text        NOT NULL,
    old_state      text        NOT NULL,
    new_state      text        NOT NULL,
    priority       smallint    NOT NULL CHECK (priority BETWEEN 1 AND 4),
    value          float8,
    unit           text        NOT NULL DEFAULT '',
    quality        smallint    CHECK (quality BETWEEN 0 AND 255),
    user_name      text        NOT NULL DEFAULT '',
    comment        text        NOT NULL DEFAULT '',
    active         boolean     NOT NULL,
    acked          boolean     NOT NULL,
    latched        boolean     NOT NULL,
    shelve         text        CHECK (shelve IN ('one_shot', 'timed')),
    shelved_until  timestamptz,
    shelve_reason  text        NOT NULL DEFAULT '',
    suppressed     boolean     NOT NULL,
    out_of_service boolean     NOT NULL,
    active_since   timestamptz,
    acked_at       timestamptz,
    CONSTRAINT alarm_journal_states CHECK (
        old_state IN ('NORM', 'UNACK', 'ACKED', 'RTNUN', 'SHLVD', 'DSUPR', 'OOSRV') AND
        new_state IN ('NORM', 'UNACK', 'ACKED', 'RTNUN', 'SHLVD', 'DSUPR', 'OOSRV'))
);
SELECT create_hypertable('alarm_journal', by_range('ts', INTERVAL '7 days'));
CREATE INDEX alarm_journal_alarm_ts ON alarm_journal (alarm, ts DESC);

-- The last snapshot of each alarm, upserted in the same transaction as its journal rows.
CREATE TABLE alarm_state (
    alarm          text        PRIMARY KEY,
    ts             timestamptz NOT NULL,
    state          text        NOT NULL,
    active         boolean     NOT NULL,
    acked          boolean     NOT NULL,
    latched        boolean     NOT NULL,
    shelve         text        CHECK (shelve IN ('one_shot', 'timed')),
    shelved_until  timestamptz,
    shelve_reason  text        NOT NULL DEFAULT '',
    suppressed     boolean     NOT NULL,
    out_of_service boolean     NOT NULL,
    active_since   timestamptz,
    acked_at       timestamptz
);
