-- 0103_audit_durable: audit records that waited in the service's durable queue while the database
-- was away. record_id is the service's id of each record, so a replay after a commit whose
-- acknowledgement was lost inserts nothing (exactly once); occurred is the service's clock when
-- the action was taken (ts stays the server's clock at insert, which for a replayed record is later).
ALTER TABLE audit_log ADD COLUMN record_id uuid;
ALTER TABLE audit_log ADD COLUMN occurred timestamptz;
CREATE UNIQUE INDEX audit_log_record_id ON audit_log (record_id);
