"""OPC UA status codes → our quality byte, keeping the server's reason.

OPC UA Part 4 §7.39 (StatusCode): the top two bits give the severity (00 Good, 01 Uncertain,
10 Bad); the sub-code says why. OPC UA Part 8 §A.3.3 lists how OPC DA qualities map onto UA
status codes; this is that table read backwards, for the codes a PLC or sensor actually sends.
"""

from __future__ import annotations

from asyncua.ua import status_codes
from asyncua.ua.status_codes import StatusCodes as S

from plantctl.quality import Quality

_EXACT: dict[int, Quality] = {
    S.Good: Quality.GOOD,
    S.GoodLocalOverride: Quality.GOOD_LOCAL_OVERRIDE,
    S.UncertainLastUsableValue: Quality.UNCERTAIN_LAST_USABLE,
    S.UncertainSensorNotAccurate: Quality.UNCERTAIN_SENSOR_NOT_ACCURATE,
    S.UncertainEngineeringUnitsExceeded: Quality.UNCERTAIN_EU_EXCEEDED,
    S.UncertainSubNormal: Quality.UNCERTAIN_SUB_NORMAL,
    S.BadSensorFailure: Quality.BAD_SENSOR_FAILURE,
    S.BadDeviceFailure: Quality.BAD_DEVICE_FAILURE,
    S.BadConfigurationError: Quality.BAD_CONFIG_ERROR,
    S.BadOutOfService: Quality.BAD_OUT_OF_SERVICE,
    S.BadNotConnected: Quality.BAD_COMM_FAILURE,
    S.BadCommunicationError: Quality.BAD_COMM_FAILURE,
    S.BadNoCommunication: Quality.BAD_COMM_FAILURE,
    S.BadServerNotConnected: Quality.BAD_COMM_FAILURE,
    S.BadConnectionClosed: Quality.BAD_COMM_FAILURE,
    S.BadTimeout: Quality.BAD_COMM_FAILURE,
    S.BadShutdown: Quality.BAD_COMM_FAILURE,
    S.BadNodeIdUnknown: Quality.BAD_CONFIG_ERROR,
    S.BadNodeIdInvalid: Quality.BAD_CONFIG_ERROR,
    S.BadAttributeIdInvalid: Quality.BAD_CONFIG_ERROR,
    S.BadTypeMismatch: Quality.BAD_CONFIG_ERROR,
}


def status_name(code: int) -> str:
    """The spec's symbolic name, e.g. 'BadSensorFailure'."""
    return status_codes.get_name_and_doc(code)[0]


def map_status(code: int) -> tuple[Quality, str]:
    """Our quality for a UA status code, and the reason text ('' when Good)."""
    # Part 4 §7.39: the low 16 bits are info bits (e.g. overflow); the sub-code is the high 16.
    base = code & 0xFFFF0000
    severity = base >> 30
    quality = _EXACT.get(base)
    if quality is None:
        quality = {0: Quality.GOOD, 1: Quality.UNCERTAIN}.get(severity, Quality.BAD)
    if quality.is_good and base == S.Good:
        return quality, ""
    name, doc = status_codes.get_name_and_doc(base)
    return quality, f"{name}: {doc}" if doc else name
