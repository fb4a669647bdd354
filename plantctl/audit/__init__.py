"""The audit trail: who did what to the plant, when, from where — append-only in the database."""

from plantctl.audit.audit import AuditAction, AuditEntry, AuditNotDurableError, AuditPage, AuditRecord, AuditTrail

__all__ = ["AuditAction", "AuditEntry", "AuditNotDurableError", "AuditPage", "AuditRecord", "AuditTrail"]
