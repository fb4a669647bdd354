-- 0001_core: tags, the samples hypertable, rollup tables and the rollup watermarks.
-- Applied once, inside one transaction, by plantctl.historian.migrate (recorded in schema_migrations).
-- Later migrations by other parts (alarm journal, audit, ...) take the next free number: 0002_<what>.sql.

CREATE EXTENSION IF NOT EXISTS timescaledb;

CREATE TABLE tags (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text        NOT NULL UNIQUE,
    unit        text        NOT NULL,
    description text        NOT NULL DEFAULT '',
    range_low   float8,
    range_high  float8,
    created     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tags_range_ordered CHECK (range_low IS NULL OR range_high IS NULL OR range_low < range_high)
);

-- One row per measured value. quality is the OPC DA quality byte (plantctl/quality.py).
-- No foreign key to tags: the writer maps names to ids itself, and a per-row FK check would
-- cost ingest speed; tags are never deleted.
CREATE TABLE samples (
    ts      timestamptz NOT NULL,
    tag_id  integer     NOT NULL,
    value   float8      NOT NULL,
    quality smallint    NOT NULL CONSTRAINT samples_quality_byte CHECK (quality BETWEEN 0 AND 255)
);

-- 1 day is the starting interval; plantctl.historian.migrate.tune_chunk_interval resizes it for
-- the plant's tag count and scan rates at start-up (docs/historian.md, "Chunk interval").
SELECT create_hypertable('samples', by_range('ts', INTERVAL '1 day'));

-- One unique index serves both jobs: the per-tag range/last-value index (tag_id, ts DESC) and
-- the exactly-once key for replays (a unique index on a hypertable must contain the time column).
CREATE UNIQUE INDEX samples_tag_ts ON samples (tag_id, ts DESC);

-- Rollups keep sum and good_count, so avg = sum / good_count refolds exactly into coarser
-- buckets. min/max/sum/first/last are over Good-quality samples only; count is all samples.
CREATE TABLE samples_1m (
    tag_id     integer     NOT NULL,
    bucket     timestamptz NOT NULL,
    min        float8,
    max        float8,
    sum        float8,
    first      float8,
    last       float8,
    count      integer     NOT NULL,
    good_count integer     NOT NULL,
    PRIMARY KEY (tag_id, bucket)
);
SELECT create_hypertable('samples_1m', by_range('bucket', INTERVAL '7 days'));

CREATE TABLE samples_1h (
    tag_id     integer     NOT NULL,
    bucket     timestamptz NOT NULL,
    min        float8,
    max        float8,
    sum        float8,
    first      float8,
    last       float8,
    count      integer     NOT NULL,
    good_count integer     NOT NULL,
    PRIMARY KEY (tag_id, bucket)
);
SELECT create_hypertable('samples_1h', by_range('bucket', INTERVAL '90 days'));

-- Our own incremental rollup job (the Apache edition has no continuous aggregates):
-- buckets before watermark are folded; dirty_from marks the oldest late row that arrived
-- below the watermark since (set by the writer for 1m, by the 1m job for 1h).
CREATE TABLE historian_rollup_state (
    resolution text        PRIMARY KEY CHECK (resolution IN ('1m', '1h')),
    watermark  timestamptz NOT NULL DEFAULT '-infinity',
    dirty_from timestamptz,
    updated    timestamptz NOT NULL DEFAULT now()
);
INSERT INTO historian_rollup_state (resolution) VALUES ('1m'), ('1h');
