"""The audit trail: who did what to the plant, when, from where — append-only in the database."""

from plantctl.audit.audit import AuditAction, AuditEntry, AuditPage, AuditTrail

__all__ = ["AuditAction", "AuditEntry", "AuditPage", "AuditTrail"]
