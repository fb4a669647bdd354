-- 0500_reports: discharge reports as filed, immutable. Owned by plantctl/reports.
-- A report is never changed: late data that changes a period's figures adds a new revision beside
-- the first, so what was handed to a regulator stays retrievable byte for byte with its hash.

CREATE TABLE discharge_reports (
    kind         text        NOT NULL CHECK (kind IN ('daily', 'monthly')),
    period       text        NOT NULL,
    format       text        NOT NULL CHECK (format IN ('pdf', 'csv')),
    revision     integer     NOT NULL CHECK (revision >= 1),
    sha256       text        NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    content      bytea       NOT NULL,
    generated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    generated_by text        NOT NULL DEFAULT '',
    PRIMARY KEY (kind, period, format, revision),
    UNIQUE (kind, period, format, sha256)
);

CREATE FUNCTION discharge_reports_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'discharge_reports is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'a filed report is never changed; regenerating adds a revision when the data changed';
END;
$$;
CREATE TRIGGER discharge_reports_no_update_delete BEFORE UPDATE OR DELETE ON discharge_reports
    FOR EACH STATEMENT EXECUTE FUNCTION discharge_reports_refuse_change();
CREATE TRIGGER discharge_reports_no_truncate BEFORE TRUNCATE ON discharge_reports
    FOR EACH STATEMENT EXECUTE FUNCTION discharge_reports_refuse_change();
