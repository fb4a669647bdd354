"""A real Mosquitto per test on a free loopback port, persistence in the test's temp dir."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from plantctl.uplink.mosquitto import MosquittoBroker
from tests.support import free_port


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    b = MosquittoBroker(tmp_path / "broker", free_port())
    b.start()
    try:
        yield b
    finally:
        b.stop()
