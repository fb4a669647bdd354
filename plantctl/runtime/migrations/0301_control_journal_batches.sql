-- 0301_control_journal_batches: exactly-once control journal batches. The writer inserts its batch id
-- in the same transaction as the batch's loop events and states; a replay after a commit whose
-- acknowledgement was lost finds the id and writes nothing. Ids older than a day are pruned.
CREATE TABLE control_journal_batches (
    batch_id uuid        PRIMARY KEY,
    items    integer     NOT NULL,
    written  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX control_journal_batches_written ON control_journal_batches (written);
