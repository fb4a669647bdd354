"""The four roles, ordered so that each one can do everything the roles below it can."""

from __future__ import annotations

from enum import IntEnum


class Role(IntEnum):
    """viewer < operator < engineer < admin (least privilege: IEC 62443-3-3 SR 2.1)."""

    VIEWER = 1  # reads values, trends, alarms, the audit trail
    OPERATOR = 2  # acknowledges, shelves and resets alarms, changes loop modes, setpoints, manual outputs
    ENGINEER = 3  # changes what shapes the process configuration: alarms out of / back in service, tuning
    ADMIN = 4  # manages users and integration tokens

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown role {text!r}: use viewer, operator, engineer or admin") from None
