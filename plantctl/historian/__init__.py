"""The historian: samples into TimescaleDB by binary COPY, with a disk spool for outages, rollups and retention."""

from plantctl.historian.migrate import MigrationError, apply_migrations, chunk_interval_for
from plantctl.historian.quarantine import QuarantinedBatch
from plantctl.historian.queries import Bucket, BucketSeries, LastValue, QueryError, RawSeries, nice_width
from plantctl.historian.service import Historian
from plantctl.historian.writer import HistorianWriter, WriterSettings, WriterStats

__all__ = [
    "Bucket",
    "BucketSeries",
    "Historian",
    "HistorianWriter",
    "LastValue",
    "MigrationError",
    "QuarantinedBatch",
    "QueryError",
    "RawSeries",
    "WriterSettings",
    "WriterStats",
    "apply_migrations",
    "chunk_interval_for",
    "nice_width",
]
