-- 0102_alarm_journal_batches: exactly-once journal batches. The writer inserts its batch id in the
-- same transaction as the batch's rows; a retry after a commit whose acknowledgement was lost
-- finds the id and writes nothing. Ids older than a day are pruned by the writer.
CREATE TABLE alarm_journal_batches (
    batch_id uuid        PRIMARY KEY,
    rows     integer     NOT NULL,
    written  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alarm_journal_batches_written ON alarm_journal_batches (written);
