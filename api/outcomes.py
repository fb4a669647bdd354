"""A write's outcome as HTTP: the one table from WriteStatus (and the gate's policy codes) to status and problem."""

from __future__ import annotations

from api.errors import ApiProblem
from plantctl.audit import AuditNotDurableError
from plantctl.runtime.write_gate import PolicyCode
from plantctl.writes import WriteOutcome, WriteStatus

# policy code -> (HTTP status, title)
POLICY_HTTP: dict[str, tuple[int, str]] = {
    PolicyCode.UNKNOWN_TAG: (404, "Unknown tag"),
    PolicyCode.NOT_WRITABLE: (409, "Tag not writable"),
    PolicyCode.HEARTBEAT: (409, "Heartbeat tag"),
    PolicyCode.LOOP_OWNED: (409, "Tag owned by a loop"),
    PolicyCode.NOT_LOOP_OUTPUT: (409, "Not a loop output"),
    PolicyCode.NOT_FINITE: (422, "Value not a number"),
    PolicyCode.OUT_OF_RANGE: (422, "Value out of range"),
    PolicyCode.ROLE: (403, "Role too low"),
    PolicyCode.AUDIT_UNAVAILABLE: (503, "Audit trail unavailable"),
}
# failure status -> (HTTP status, problem type, title)
FAILURE_HTTP: dict[WriteStatus, tuple[int, str, str]] = {
    WriteStatus.REFUSED_BY_DEVICE: (409, "device-refused", "Write refused by the device"),
    WriteStatus.LINK_DOWN: (502, "link-down", "Device not reachable"),
    WriteStatus.TIMEOUT: (504, "timeout", "Device did not answer in time"),
}


def raise_for_outcome(outcome: WriteOutcome) -> None:
    """Return for an accepted write (written, or written-not-confirmed: 200 with the detail), else raise its problem."""
    if outcome.accepted:
        return
    if outcome.status is WriteStatus.REFUSED_BY_POLICY:
        status, title = POLICY_HTTP.get(outcome.code, (409, "Write refused"))
        raise ApiProblem(status, outcome.code or "policy", title, outcome.reason)
    status, slug, title = FAILURE_HTTP[outcome.status]
    raise ApiProblem(status, slug, title, outcome.reason)


def audit_unavailable(exc: AuditNotDurableError) -> ApiProblem:
    """A change refused (not applied) because its audit record could not be made durable."""
    status, title = POLICY_HTTP[PolicyCode.AUDIT_UNAVAILABLE]
    return ApiProblem(status, PolicyCode.AUDIT_UNAVAILABLE, title, f"not applied: {exc}", {"Retry-After": "5"})
