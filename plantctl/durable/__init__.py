"""Durable queues: fsync'd, bounded, replayed in order; shared by the historian, the journals and the audit."""

from plantctl.durable.queue import (
    DurableQueue,
    Overflow,
    QueueCounters,
    QueueFullError,
    QueueRecord,
    max_bytes_for,
)

__all__ = ["DurableQueue", "Overflow", "QueueCounters", "QueueFullError", "QueueRecord", "max_bytes_for"]
