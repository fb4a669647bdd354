"""The audit trail: who did what to the plant, when, from where — append-only, durable across outages."""

from plantctl.audit.audit import (
    AuditAction,
    AuditEntry,
    AuditNotDurableError,
    AuditPage,
    AuditReceipt,
    AuditRecord,
    AuditTrail,
)

__all__ = ["AuditAction", "AuditEntry", "AuditNotDurableError", "AuditPage", "AuditReceipt", "AuditRecord",
           "AuditTrail"]
