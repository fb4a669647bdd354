"""Work-arounds for asyncua 2.1 server defects that would make the simulated PLC lie to its clients."""

from __future__ import annotations

from typing import Any

from asyncua.server.monitored_item_service import MonitoredItemService

_MARK = "_plantctl_null_safe"


def null_safe_deadband() -> None:
    """A Bad value is null on the wire (OPC UA Part 4 §7.7.1), and asyncua's absolute-deadband check then
    subtracts None from a float, raises, and drops the notification: a client subscribed with a deadband
    (OPC UA Part 4 §7.22.2) never learns of a sensor failure. A null on either side counts as a change."""
    original = MonitoredItemService._is_deadband_exceeded
    if getattr(original, _MARK, False):
        return

    def is_deadband_exceeded(self: MonitoredItemService, values: Any, flt: Any) -> bool:
        cur, old = values.get_current_datavalue(), values.get_old_datavalue()
        if cur is not None and old is not None and (
                cur.Value is None or old.Value is None or cur.Value.Value is None or old.Value.Value is None):
            return True
        return bool(original(self, values, flt))

    setattr(is_deadband_exceeded, _MARK, True)
    MonitoredItemService._is_deadband_exceeded = is_deadband_exceeded  # type: ignore[method-assign]
