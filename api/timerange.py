"""Date-times the API accepts: ISO 8601 text with a time zone, inside the range the service supports.

Pydantic alone takes `263` as a Unix time and any year 1-9999, where bucket arithmetic near the edges overflows
(a 500); here both are a 422 that names what is accepted.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BeforeValidator

EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2500, 1, 1, tzinfo=UTC)
RANGE_TEXT = f"{EARLIEST:%Y-%m-%dT%H:%M:%SZ} to {LATEST:%Y-%m-%dT%H:%M:%SZ}"
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _iso_text(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _ISO.match(value):
        raise ValueError("must be an ISO 8601 date-time with a time zone, e.g. 2026-11-26T00:00:00Z")
    return value


def _supported(value: datetime) -> datetime:
    if not EARLIEST <= value < LATEST:
        raise ValueError(f"is outside the supported range {RANGE_TEXT}")
    return value


ApiDateTime = Annotated[AwareDatetime, BeforeValidator(_iso_text), AfterValidator(_supported)]
"""Use for every date-time a client sends (query or body)."""
