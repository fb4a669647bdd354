"""What became of a write to the plant, as a type: every layer decides from the status, never from the text.

Kernel module: imports nothing from plantctl's sibling packages (connectors, control, api, sim), so the
write gate, every connector and the API's HTTP mapping share one vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class WriteStatus(StrEnum):
    """The outcome classes an operator and a loop must tell apart."""

    WRITTEN = "written"
    """Accepted by the device and read back."""
    WRITTEN_NOT_CONFIRMED = "written-not-confirmed"
    """Accepted by the device, but the read-back failed or was not possible."""
    REFUSED_BY_POLICY = "refused-by-policy"
    """Refused inside the service before anything left it (writable, range, finite, ownership, role)."""
    REFUSED_BY_DEVICE = "refused-by-device"
    """The device answered and refused (Modbus exception, OPC UA Bad status on the write)."""
    LINK_DOWN = "link-down"
    """No link to the device: not connected, the link dropped during the call, or the source is not running."""
    TIMEOUT = "timeout"
    """The device did not answer within the write's time bound; the value may or may not have been applied."""


ACCEPTED = frozenset({WriteStatus.WRITTEN, WriteStatus.WRITTEN_NOT_CONFIRMED})


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    """A write's status, the value the device reads back (None when unread), and words for the operator.

    `code` is machine-readable for refusals by policy (e.g. "loop-owned", "out-of-range"): the API maps it to HTTP.
    """

    status: WriteStatus
    value_read_back: float | None = None
    reason: str = ""
    code: str = ""

    @property
    def accepted(self) -> bool:
        """The device took the value (confirmed or not)."""
        return self.status in ACCEPTED

    @classmethod
    def written(cls, value_read_back: float | None, reason: str = "written and read back") -> WriteOutcome:
        return cls(WriteStatus.WRITTEN, value_read_back, reason)

    @classmethod
    def not_confirmed(cls, reason: str) -> WriteOutcome:
        return cls(WriteStatus.WRITTEN_NOT_CONFIRMED, None, reason)

    @classmethod
    def policy(cls, reason: str, code: str = "policy") -> WriteOutcome:
        return cls(WriteStatus.REFUSED_BY_POLICY, None, reason, code)

    @classmethod
    def device(cls, reason: str) -> WriteOutcome:
        return cls(WriteStatus.REFUSED_BY_DEVICE, None, reason)

    @classmethod
    def link_down(cls, reason: str) -> WriteOutcome:
        return cls(WriteStatus.LINK_DOWN, None, reason)

    @classmethod
    def timeout(cls, reason: str) -> WriteOutcome:
        return cls(WriteStatus.TIMEOUT, None, reason)
