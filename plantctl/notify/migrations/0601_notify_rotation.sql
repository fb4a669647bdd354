-- On-call rotations edited in the panel by an engineer: the newest row in force for a rotation replaces the
-- plant file's rotation of that name until it is cleared (removed_at set), then the plant file's holds again.
CREATE TABLE notify_rotation (
    id             bigserial   PRIMARY KEY,
    rotation       text        NOT NULL,
    people         text[]      NOT NULL CHECK (cardinality(people) >= 1),
    start_date     date        NOT NULL,
    handover_time  time        NOT NULL,
    period_days    integer     NOT NULL CHECK (period_days BETWEEN 1 AND 56),
    created_by     text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    removed_by     text,
    removed_at     timestamptz
);
CREATE UNIQUE INDEX notify_rotation_one_in_force ON notify_rotation (rotation) WHERE removed_at IS NULL;
