"""Issue 17 problem 8: the libraries' retry and connect warnings are folded (kept under PLANTCTL_DEBUG=1)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from connectors.opcua.browse import browse
from plantctl.logs import quiet_libraries
from tests.connectors.opcua_server import opcua_server

pytestmark = pytest.mark.anyio


@pytest.fixture
def library_levels() -> Iterator[None]:
    """Leave the library loggers as the test found them."""
    saved = {n: logging.getLogger(n).level for n in ("asyncua", "pymodbus")}
    yield
    for name, level in saved.items():
        logging.getLogger(name).setLevel(level)


def _client_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name.startswith("asyncua.client") and r.levelno >= logging.WARNING]


async def test_a_connect_adds_no_library_warning(
    caplog: pytest.LogCaptureFixture, library_levels: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PLANTCTL_DEBUG", raising=False)
    caplog.set_level(logging.DEBUG)
    quiet_libraries()
    async with opcua_server() as plc:
        await browse(plc.endpoint, timeout_s=5)
    assert _client_warnings(caplog) == []


async def test_plantctl_debug_keeps_the_library_chatter(
    caplog: pytest.LogCaptureFixture, library_levels: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLANTCTL_DEBUG", "1")
    for name in ("asyncua", "pymodbus"):
        logging.getLogger(name).setLevel(logging.NOTSET)
    caplog.set_level(logging.DEBUG)
    quiet_libraries()
    async with opcua_server() as plc:
        await browse(plc.endpoint, timeout_s=5)
    assert any("session timeout" in m for m in _client_warnings(caplog))
