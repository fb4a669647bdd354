"""Instrument status → Modbus status word bits and OPC UA status codes (pure logic over a stand-in model)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from asyncua import ua

from sim.facade.core import CommandOutcome, PlcCore
from sim.facade.opcua_server import status_code
from sim.facade.pki import UsersError, parse_users
from sim.facade.points import BY_NAME, StatusBit
from sim.interface import SensorStatus

if TYPE_CHECKING:
    from conftest import StandInModel


@pytest.mark.parametrize(("value", "status", "bits", "code"), [
    (7.0, SensorStatus.GOOD, 0, ua.StatusCodes.Good),
    (7.0, SensorStatus.UNCERTAIN, 0x2, ua.StatusCodes.Uncertain),
    (15.0, SensorStatus.GOOD, 0x4, ua.StatusCodes.UncertainEngineeringUnitsExceeded),
    (-0.1, SensorStatus.UNCERTAIN, 0x6, ua.StatusCodes.UncertainEngineeringUnitsExceeded),
    (7.0, SensorStatus.FAILED, 0x1, ua.StatusCodes.BadSensorFailure),
    (99.0, SensorStatus.FAILED, 0x1, ua.StatusCodes.BadSensorFailure),
    (float("nan"), SensorStatus.GOOD, 0x1, ua.StatusCodes.BadSensorFailure),
])
def test_status_word_and_status_code(standin_model: StandInModel, value: float, status: SensorStatus, bits: int,
                                     code: int) -> None:
    model = standin_model
    model.values["AIT-101"], model.status["AIT-101"] = value, status
    core = PlcCore(model)
    got = core.status_bits(BY_NAME["AIT-101"])
    assert int(got) == bits
    assert status_code(StatusBit(got)).value == code


@pytest.mark.parametrize(("name", "value", "outcome"), [
    ("P-201.SP", 100.0, CommandOutcome.ACCEPTED),
    ("P-201.SP", 100.0001, CommandOutcome.OUT_OF_RANGE),
    ("P-201.RUN", 0.5, CommandOutcome.OUT_OF_RANGE),
    ("AIT-101", 7.0, CommandOutcome.NOT_WRITABLE),
    ("NO-SUCH", 1.0, CommandOutcome.NOT_WRITABLE),
    ("HEARTBEAT", 65536.0, CommandOutcome.OUT_OF_RANGE),
])
def test_command_verdicts(standin_model: StandInModel, name: str, value: float, outcome: CommandOutcome) -> None:
    assert PlcCore(standin_model).command(name, value) is outcome


def test_users_parse_and_bad_entries_name_the_entry() -> None:
    assert parse_users("op:pw, eng:p:w:x,") == {"op": "pw", "eng": "p:w:x"}
    assert parse_users("") == {}
    with pytest.raises(UsersError, match="entry 2"):
        parse_users("op:pw,nopassword")
