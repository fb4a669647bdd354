-- 0101_audit: the audit trail of operator and engineer actions, append-only.
-- Owned by plantctl/audit. The application role owns this table, so grants cannot stop it from
-- changing rows: statement triggers refuse UPDATE, DELETE and TRUNCATE for every role, and the
-- time of each row is the server's clock, not the caller's.

CREATE TABLE audit_log (
    id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ts             timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor          text        NOT NULL CHECK (actor <> ''),
    action         text        NOT NULL CHECK (action <> ''),
    target         text        NOT NULL DEFAULT '',
    old_value      jsonb,
    new_value      jsonb,
    source_address text        NOT NULL DEFAULT '',
    detail         jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_ts ON audit_log (ts DESC, id DESC);
CREATE INDEX audit_log_actor ON audit_log (actor, ts DESC);
CREATE INDEX audit_log_target ON audit_log (target, ts DESC);

CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'audit entries are never changed or removed; record a correcting entry instead';
END;
$$;

-- Statement level, so an UPDATE or DELETE that matches no row is refused too.
CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();

CREATE FUNCTION audit_log_server_time() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.ts := clock_timestamp();
    RETURN NEW;
END;
$$;
CREATE TRIGGER audit_log_stamp BEFORE INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_server_time();

REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM PUBLIC;
