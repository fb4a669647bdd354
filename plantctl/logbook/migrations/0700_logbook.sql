-- 0700_logbook: the operators' shift logbook, append-only like the audit trail (each note is audited too).
-- Owned by plantctl/logbook. A note is never edited or removed: a correction is a new note.

CREATE TABLE logbook_note (
    id        bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ts        timestamptz NOT NULL DEFAULT clock_timestamp(),
    author    text        NOT NULL CHECK (author <> ''),
    body      text        NOT NULL CHECK (body <> ''),
    audit_id  uuid        NOT NULL
);
CREATE INDEX logbook_note_ts ON logbook_note (ts DESC, id DESC);

CREATE FUNCTION logbook_note_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'logbook_note is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege', HINT = 'write a correcting note instead';
END;
$$;
CREATE TRIGGER logbook_note_no_update_delete BEFORE UPDATE OR DELETE ON logbook_note
    FOR EACH STATEMENT EXECUTE FUNCTION logbook_note_refuse_change();
CREATE TRIGGER logbook_note_no_truncate BEFORE TRUNCATE ON logbook_note
    FOR EACH STATEMENT EXECUTE FUNCTION logbook_note_refuse_change();

CREATE FUNCTION logbook_note_server_time() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.ts := clock_timestamp();
    RETURN NEW;
END;
$$;
CREATE TRIGGER logbook_note_stamp BEFORE INSERT ON logbook_note
    FOR EACH ROW EXECUTE FUNCTION logbook_note_server_time();
