-- On-call notification: escalation state per alarm, the durable outbox, and single-use acknowledge links.

-- One row per time an alarm needed someone (raised unacknowledged) and which escalation step it is on.
CREATE TABLE notify_incident (
    id            bigserial   PRIMARY KEY,
    alarm         text        NOT NULL,
    pipeline      text        NOT NULL,
    priority      int2        NOT NULL,
    raised_at     timestamptz NOT NULL,
    step          int4        NOT NULL DEFAULT 0,
    next_step_at  timestamptz,            -- NULL: every step done, waiting for ack or return to normal
    notified      text[]      NOT NULL DEFAULT '{}',
    closed_at     timestamptz,
    close_reason  text,
    acked_by      text,
    acked_via     text
);
CREATE UNIQUE INDEX notify_incident_open ON notify_incident (alarm) WHERE closed_at IS NULL;
CREATE INDEX notify_incident_due ON notify_incident (next_step_at) WHERE closed_at IS NULL;
CREATE INDEX notify_incident_alarm ON notify_incident (alarm, raised_at DESC);

-- A page waiting for its recipient's gather window (several pages at once become one message or a digest).
CREATE TABLE notify_pending (
    id        bigserial   PRIMARY KEY,
    person    text        NOT NULL,
    incident  bigint      NOT NULL REFERENCES notify_incident (id),
    via       text[]      NOT NULL,
    created   timestamptz NOT NULL
);
CREATE INDEX notify_pending_person ON notify_pending (person, created);

-- The outbox: every message to send, retried with backoff until delivered or expired.
CREATE TABLE notify_message (
    id               bigserial   PRIMARY KEY,
    created          timestamptz NOT NULL,
    recipient        text        NOT NULL,
    channel          text        NOT NULL,
    address          text        NOT NULL,
    kind             text        NOT NULL,   -- page, digest, rtn, test
    subject          text        NOT NULL,
    body             text        NOT NULL,
    alarms           text[]      NOT NULL DEFAULT '{}',
    incidents        bigint[]    NOT NULL DEFAULT '{}',
    status           text        NOT NULL DEFAULT 'pending',  -- pending, sent, expired
    attempts         int4        NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    escalated        boolean     NOT NULL DEFAULT false,
    last_error       text        NOT NULL DEFAULT '',
    sent_at          timestamptz
);
CREATE INDEX notify_message_due ON notify_message (next_attempt_at) WHERE status = 'pending';
CREATE INDEX notify_message_alarms ON notify_message USING gin (alarms);
CREATE INDEX notify_message_recipient ON notify_message (recipient, created);
CREATE INDEX notify_message_kind ON notify_message (kind, created);

-- Acknowledge links: only the SHA-256 of the token is stored; used once, expire.
CREATE TABLE notify_ack_link (
    digest      text        PRIMARY KEY,
    alarm       text        NOT NULL,
    recipient   text        NOT NULL,
    channel     text        NOT NULL,
    message_id  bigint,
    created     timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    used_from   text
);

-- On-call overrides made in the panel by an engineer (the plant file's overrides stay in the file).
CREATE TABLE notify_override (
    id          bigserial   PRIMARY KEY,
    rotation    text        NOT NULL,
    person      text        NOT NULL,
    start_at    timestamptz NOT NULL,
    end_at      timestamptz NOT NULL CHECK (start_at < end_at),
    reason      text        NOT NULL DEFAULT '',
    created_by  text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    removed_by  text,
    removed_at  timestamptz
);
