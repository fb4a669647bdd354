"""The simulated PLC's point table: one source of truth for the OPC UA server, the Modbus server and the docs.

Every point of sim/interface.py (MEASUREMENTS, FEEDBACK, COMMANDS) plus the supervisory heartbeat
appears here once, with its engineering unit and range, its OPC UA node and its Modbus address.
docs/sim-register-map.md is written from this table; tests check it against examples/plant.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntFlag, StrEnum

from connectors.modbus.config import ModbusTable, ModbusType
from sim.interface import COMMANDS, FEEDBACK, MEASUREMENTS

NAMESPACE_URI = "urn:plantctl:sim:plant"
NAMESPACE_INDEX = 2  # the first namespace a fresh server registers (0 = OPC UA, 1 = the server's own)
HEARTBEAT = "HEARTBEAT"  # not a model point: the PLC's own supervisory heartbeat register/node
STATUS_WORD_BASE = 100  # input register of the first instrument status word


class PointKind(StrEnum):
    MEASUREMENT = "measurement"  # float32 input register / Float AnalogItem, read-only
    FEEDBACK = "feedback"  # discrete input / Boolean, read-only
    SETPOINT = "setpoint"  # float32 holding register / Float AnalogItem, writable
    SWITCH = "switch"  # coil / Boolean, writable
    HEARTBEAT = "heartbeat"  # uint16 holding register / UInt16, writable


class StatusBit(IntFlag):
    """Bits of an instrument status word (input registers 100…); 0 means healthy and in range."""

    SENSOR_FAILED = 0x0001  # value not valid (served as NaN); OPC UA Bad_SensorFailure
    UNCERTAIN = 0x0002  # sensor reports doubtful data (drift, calibration); OPC UA Uncertain
    RANGE_EXCEEDED = 0x0004  # value outside the engineering range; OPC UA Uncertain_EngineeringUnitsExceeded


@dataclass(frozen=True, slots=True)
class Unit:
    """An engineering unit with its UNECE Rec. 20 common code (None when the unit has none, e.g. pH)."""

    symbol: str
    unece: str | None
    description: str

    @property
    def unit_id(self) -> int:
        """OPC UA EUInformation.UnitId: the common code's characters packed big-endian (Part 8 §5.6.3); -1 if none."""
        if self.unece is None:
            return -1
        uid = 0
        for ch in self.unece:
            uid = (uid << 8) | ord(ch)
        return uid


UNITS: dict[str, Unit] = {
    "m3/h": Unit("m³/h", "MQH", "cubic metre per hour"),
    "pH": Unit("pH", None, "pH (no UNECE code)"),
    "mS/cm": Unit("mS/cm", "H61", "millisiemens per centimetre"),
    "%": Unit("%", "P1", "percent"),
    "degC": Unit("°C", "CEL", "degree Celsius"),
    "mg/L": Unit("mg/L", "M1", "milligram per litre"),
    "L/h": Unit("L/h", "E32", "litre per hour"),
    "m3": Unit("m³", "MTQ", "cubic metre"),
    "bool": Unit("", None, "boolean"),
    "count": Unit("", "C62", "one (counter)"),
}


@dataclass(frozen=True, slots=True)
class Point:
    name: str  # model point name (sim/interface.py) or HEARTBEAT
    description: str
    unit: str  # key of UNITS, as the plant file spells it
    low: float
    high: float
    kind: PointKind
    folder: str  # OPC UA object under Objects/Plant
    browse_name: str
    table: ModbusTable
    address: int
    type: ModbusType

    @property
    def node_id(self) -> str:
        return f"ns={NAMESPACE_INDEX};s=Plant.{self.folder}.{self.browse_name}"

    @property
    def browse_path(self) -> str:
        return f"Objects/Plant/{self.folder}/{self.browse_name}"

    @property
    def writable(self) -> bool:
        return self.kind in (PointKind.SETPOINT, PointKind.SWITCH, PointKind.HEARTBEAT)

    @property
    def registers(self) -> range:
        return range(self.address, self.address + self.type.registers)

    def in_range(self, value: float) -> bool:
        return self.low <= value <= self.high


_IR, _HR, _CO, _DI = (ModbusTable.INPUT_REGISTER, ModbusTable.HOLDING_REGISTER,
                      ModbusTable.COIL, ModbusTable.DISCRETE_INPUT)
_F32, _U16, _BOOL = ModbusType.FLOAT32, ModbusType.UINT16, ModbusType.BOOL
_M, _FB, _SP, _SW = PointKind.MEASUREMENT, PointKind.FEEDBACK, PointKind.SETPOINT, PointKind.SWITCH

POINTS: tuple[Point, ...] = (
    Point("FIT-100", "Influent flow", "m3/h", 0, 15, _M, "Influent", "FIT-100", _IR, 0, _F32),
    Point("AIT-100", "Influent pH", "pH", 0, 14, _M, "Influent", "AIT-100", _IR, 2, _F32),
    Point("AIT-101", "T-101 pH (discharge)", "pH", 0, 14, _M, "T101", "AIT-101", _IR, 4, _F32),
    Point("CIT-101", "T-101 conductivity", "mS/cm", 0, 200, _M, "T101", "CIT-101", _IR, 6, _F32),
    Point("LIT-101", "T-101 level", "%", 0, 100, _M, "T101", "LIT-101", _IR, 8, _F32),
    Point("TIT-101", "T-101 temperature", "degC", 0, 60, _M, "T101", "TIT-101", _IR, 10, _F32),
    Point("AIT-301", "C-301 outlet lithium", "mg/L", 0, 1500, _M, "C301", "AIT-301", _IR, 12, _F32),
    Point("P-201.SPEED", "NaOH pump speed feedback", "%", 0, 100, _M, "P201", "SPEED", _IR, 14, _F32),
    Point("P-202.SPEED", "H2SO4 pump speed feedback", "%", 0, 100, _M, "P202", "SPEED", _IR, 16, _F32),
    Point("AIT-104", "T-101 pH, electrode B", "pH", 0, 14, _M, "T101", "AIT-104", _IR, 18, _F32),
    Point("AIT-105", "T-101 pH, electrode C", "pH", 0, 14, _M, "T101", "AIT-105", _IR, 20, _F32),
    Point("AIT-302", "C-301 outlet pH (T-401 inlet)", "pH", 0, 14, _M, "C301", "AIT-302", _IR, 22, _F32),
    Point("FIT-201", "NaOH line flow (magnetic flowmeter)", "L/h", 0, 300, _M, "P201", "FIT-201", _IR, 24, _F32),
    Point("FIT-202", "H2SO4 line flow (magnetic flowmeter)", "L/h", 0, 40, _M, "P202", "FIT-202", _IR, 26, _F32),
    # the trim stage T-401, the outfall and the holding tank T-501 (issue 15): appended, old addresses unmoved
    Point("P-401.SPEED", "T-401 NaOH pump speed feedback", "%", 0, 100, _M, "P401", "SPEED", _IR, 28, _F32),
    Point("P-402.SPEED", "T-401 H2SO4 pump speed feedback", "%", 0, 100, _M, "P402", "SPEED", _IR, 30, _F32),
    Point("AIT-401", "T-401 pH, electrode A", "pH", 0, 14, _M, "T401", "AIT-401", _IR, 32, _F32),
    Point("AIT-402", "T-401 pH, electrode B", "pH", 0, 14, _M, "T401", "AIT-402", _IR, 34, _F32),
    Point("AIT-403", "T-401 pH, electrode C", "pH", 0, 14, _M, "T401", "AIT-403", _IR, 36, _F32),
    Point("AIT-410", "Discharge pH (T-401 outlet, upstream of XV-410)", "pH", 0, 14, _M, "Outfall", "AIT-410",
          _IR, 38, _F32),
    Point("FIT-401", "T-401 NaOH line flow (magnetic flowmeter)", "L/h", 0, 300, _M, "P401", "FIT-401", _IR, 40,
          _F32),
    Point("FIT-402", "T-401 H2SO4 line flow (magnetic flowmeter)", "L/h", 0, 40, _M, "P402", "FIT-402", _IR, 42,
          _F32),
    Point("FIT-410", "Outfall flow (XV-410 outfall leg + T-501 overflow)", "m3/h", 0, 20, _M, "Outfall", "FIT-410",
          _IR, 44, _F32),
    Point("XV-410.POS", "Diversion valve position (100 = to T-501)", "%", 0, 100, _M, "XV410", "POS", _IR, 46,
          _F32),
    Point("LIT-501", "T-501 holding tank level", "%", 0, 100, _M, "T501", "LIT-501", _IR, 48, _F32),
    Point("P-501.SPEED", "Return pump speed feedback", "%", 0, 100, _M, "P501", "SPEED", _IR, 50, _F32),
    Point("FIT-501", "Return flow T-501 to T-101", "m3/h", 0, 5, _M, "P501", "FIT-501", _IR, 52, _F32),
    Point("AIT-300", "C-301 inlet lithium", "mg/L", 0, 1500, _M, "C301", "AIT-300", _IR, 54, _F32),
    Point("FQ-410", "Diverted volume since start (totaliser)", "m3", 0, 1e6, _M, "Outfall", "FQ-410", _IR, 56,
          _F32),
    Point("P-201.SP", "NaOH pump speed setpoint", "%", 0, 100, _SP, "P201", "SP", _HR, 0, _F32),
    Point("P-202.SP", "H2SO4 pump speed setpoint", "%", 0, 100, _SP, "P202", "SP", _HR, 2, _F32),
    Point(HEARTBEAT, "Supervisory heartbeat counter", "count", 0, 65535, PointKind.HEARTBEAT,
          "Supervisor", "Heartbeat", _HR, 10, _U16),
    Point("P-201.RUN", "NaOH pump run command", "bool", 0, 1, _SW, "P201", "RUN", _CO, 0, _BOOL),
    Point("P-202.RUN", "H2SO4 pump run command", "bool", 0, 1, _SW, "P202", "RUN", _CO, 1, _BOOL),
    Point("P-201.RESET", "NaOH pump fault reset", "bool", 0, 1, _SW, "P201", "RESET", _CO, 2, _BOOL),
    Point("P-202.RESET", "H2SO4 pump fault reset", "bool", 0, 1, _SW, "P202", "RESET", _CO, 3, _BOOL),
    Point("P-201.RUNNING", "NaOH pump running", "bool", 0, 1, _FB, "P201", "RUNNING", _DI, 0, _BOOL),
    Point("P-201.FAULT", "NaOH pump fault", "bool", 0, 1, _FB, "P201", "FAULT", _DI, 1, _BOOL),
    Point("P-202.RUNNING", "H2SO4 pump running", "bool", 0, 1, _FB, "P202", "RUNNING", _DI, 2, _BOOL),
    Point("P-202.FAULT", "H2SO4 pump fault", "bool", 0, 1, _FB, "P202", "FAULT", _DI, 3, _BOOL),
    Point("WATCHDOG.TRIPPED", "Heartbeat watchdog tripped (pumps in safe state)", "bool", 0, 1, _FB,
          "Supervisor", "WatchdogTripped", _DI, 4, _BOOL),
    Point("P-401.SP", "T-401 NaOH pump speed setpoint", "%", 0, 100, _SP, "P401", "SP", _HR, 12, _F32),
    Point("P-402.SP", "T-401 H2SO4 pump speed setpoint", "%", 0, 100, _SP, "P402", "SP", _HR, 14, _F32),
    Point("P-501.SP", "Return pump speed setpoint", "%", 0, 100, _SP, "P501", "SP", _HR, 16, _F32),
    Point("P-401.RUN", "T-401 NaOH pump run command", "bool", 0, 1, _SW, "P401", "RUN", _CO, 4, _BOOL),
    Point("P-402.RUN", "T-401 H2SO4 pump run command", "bool", 0, 1, _SW, "P402", "RUN", _CO, 5, _BOOL),
    Point("P-401.RESET", "T-401 NaOH pump fault reset", "bool", 0, 1, _SW, "P401", "RESET", _CO, 6, _BOOL),
    Point("P-402.RESET", "T-401 H2SO4 pump fault reset", "bool", 0, 1, _SW, "P402", "RESET", _CO, 7, _BOOL),
    Point("XV-410.CMD", "Diversion valve command (1 = divert to T-501; fails to divert)", "bool", 0, 1, _SW,
          "XV410", "CMD", _CO, 8, _BOOL),
    Point("P-501.RUN", "Return pump run command", "bool", 0, 1, _SW, "P501", "RUN", _CO, 9, _BOOL),
    Point("P-401.RUNNING", "T-401 NaOH pump running", "bool", 0, 1, _FB, "P401", "RUNNING", _DI, 5, _BOOL),
    Point("P-401.FAULT", "T-401 NaOH pump fault", "bool", 0, 1, _FB, "P401", "FAULT", _DI, 6, _BOOL),
    Point("P-402.RUNNING", "T-401 H2SO4 pump running", "bool", 0, 1, _FB, "P402", "RUNNING", _DI, 7, _BOOL),
    Point("P-402.FAULT", "T-401 H2SO4 pump fault", "bool", 0, 1, _FB, "P402", "FAULT", _DI, 8, _BOOL),
    Point("P-501.RUNNING", "Return pump running", "bool", 0, 1, _FB, "P501", "RUNNING", _DI, 9, _BOOL),
)

BY_NAME: dict[str, Point] = {p.name: p for p in POINTS}
BY_NODE_ID: dict[str, Point] = {p.node_id: p for p in POINTS}
MEASURED: tuple[Point, ...] = tuple(BY_NAME[n] for n in MEASUREMENTS)


def status_word_address(name: str) -> int:
    """Input register of an instrument's status word: 100 + its index in MEASUREMENTS."""
    return STATUS_WORD_BASE + MEASUREMENTS.index(name)


def in_table(table: ModbusTable) -> tuple[Point, ...]:
    return tuple(sorted((p for p in POINTS if p.table is table), key=lambda p: p.address))


def _check_table() -> None:
    """Fail at import if the table and the model contract drift apart (a typo here would be a silent wire bug)."""
    names = {p.name for p in POINTS}
    expected = set(MEASUREMENTS) | set(FEEDBACK) | set(COMMANDS) | {HEARTBEAT}
    if names != expected or len(names) != len(POINTS):
        raise RuntimeError(f"point table out of step with sim/interface.py: {sorted(names ^ expected)}")
    for table in ModbusTable:
        used: set[int] = set()
        for p in in_table(table):
            if used & set(p.registers):
                raise RuntimeError(f"{p.name} overlaps another point in {table.value}")
            used |= set(p.registers)


_check_table()


def markdown_tables() -> str:
    """The register map and address space as Markdown (docs/sim-register-map.md embeds this verbatim)."""
    def rng(p: Point) -> str:
        return "0 / 1" if p.unit == "bool" else f"{p.low:g} … {p.high:g}"

    def unit(p: Point) -> str:
        u = UNITS[p.unit]
        return "—" if p.unit == "bool" else f"{p.unit}" + (f" ({u.unece})" if u.unece else " (no code)")

    lines = ["| Point | Description | Unit (UNECE) | Range | Modbus table | Address | Type | Access |",
             "|---|---|---|---|---|---|---|---|"]
    for table in (ModbusTable.INPUT_REGISTER, ModbusTable.HOLDING_REGISTER, ModbusTable.COIL,
                  ModbusTable.DISCRETE_INPUT):
        for p in in_table(table):
            lines.append(f"| {p.name} | {p.description} | {unit(p)} | {rng(p)} | {table.value} | {p.address}"
                         f"{'–' + str(p.address + 1) if p.type.registers == 2 else ''} | {p.type.value} | "
                         f"{'read/write' if p.writable else 'read'} |")
    for p in MEASURED:
        a = status_word_address(p.name)
        lines.append(f"| {p.name}.STATUS | Status word of {p.name} (bits below) | — | 0 … 7 | input_register | {a} | "
                     "uint16 | read |")
    lines += ["", "| Browse path (Objects/…) | Node id | Type | DataType | Access |", "|---|---|---|---|---|"]
    for p in POINTS:
        analog = p.kind in (PointKind.MEASUREMENT, PointKind.SETPOINT)
        dtype = {ModbusType.FLOAT32: "Float", ModbusType.BOOL: "Boolean", ModbusType.UINT16: "UInt16"}[p.type]
        lines.append(f"| {p.browse_path.removeprefix('Objects/')} | `{p.node_id}` | "
                     f"{'AnalogItemType' if analog else 'BaseDataVariableType'} | {dtype} | "
                     f"{'read/write' if p.writable else 'read'} |")
    return "\n".join(lines) + "\n"
