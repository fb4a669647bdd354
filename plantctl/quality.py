"""Sample quality as the OPC DA quality byte, so it fits an int2 column and every SCADA engineer can read it.

The top two bits give the class (bad 0b00, uncertain 0b01, good 0b11) and the substatus bits
the reason, exactly as OPC DA 2.05 §6.8 defines them; OPC UA status codes map onto these.
"""

from __future__ import annotations

from enum import IntEnum


class Quality(IntEnum):
    BAD = 0x00
    BAD_CONFIG_ERROR = 0x04
    BAD_NOT_CONNECTED = 0x08
    BAD_DEVICE_FAILURE = 0x0C
    BAD_SENSOR_FAILURE = 0x10
    BAD_LAST_KNOWN = 0x14
    BAD_COMM_FAILURE = 0x18
    BAD_OUT_OF_SERVICE = 0x1C
    UNCERTAIN = 0x40
    UNCERTAIN_LAST_USABLE = 0x44
    UNCERTAIN_SENSOR_NOT_ACCURATE = 0x50
    UNCERTAIN_EU_EXCEEDED = 0x54
    UNCERTAIN_SUB_NORMAL = 0x58
    GOOD = 0xC0
    GOOD_LOCAL_OVERRIDE = 0xD8

    @property
    def is_good(self) -> bool:
        return (self & 0xC0) == 0xC0

    @property
    def is_bad(self) -> bool:
        return (self & 0xC0) == 0x00

    @property
    def is_uncertain(self) -> bool:
        return (self & 0xC0) == 0x40

    @property
    def reason(self) -> str:
        """Plain-language reason an operator can read on a faceplate."""
        return _REASONS.get(self, self.name.replace("_", " ").lower())


_REASONS: dict[Quality, str] = {
    Quality.BAD: "bad",
    Quality.BAD_CONFIG_ERROR: "bad: configuration error",
    Quality.BAD_NOT_CONNECTED: "bad: source not connected",
    Quality.BAD_DEVICE_FAILURE: "bad: device failure",
    Quality.BAD_SENSOR_FAILURE: "bad: sensor failure",
    Quality.BAD_LAST_KNOWN: "bad: last known value",
    Quality.BAD_COMM_FAILURE: "bad: communication failure",
    Quality.BAD_OUT_OF_SERVICE: "bad: out of service",
    Quality.UNCERTAIN: "uncertain",
    Quality.UNCERTAIN_LAST_USABLE: "uncertain: last usable value",
    Quality.UNCERTAIN_SENSOR_NOT_ACCURATE: "uncertain: sensor not accurate",
    Quality.UNCERTAIN_EU_EXCEEDED: "uncertain: engineering range exceeded",
    Quality.UNCERTAIN_SUB_NORMAL: "uncertain: sub-normal",
    Quality.GOOD: "good",
    Quality.GOOD_LOCAL_OVERRIDE: "good: local override",
}


def quality_from_code(code: int) -> Quality:
    """Map any stored int2 code to the nearest known quality, keeping the class."""
    try:
        return Quality(code)
    except ValueError:
        return Quality(code & 0xC0) if (code & 0xC0) in (0x00, 0x40, 0xC0) else Quality.BAD
