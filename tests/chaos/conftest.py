"""One running plant for the chaos module: simulator, service and a private database as separate processes."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from plantctl.db import LocalDatabase
from tests.chaos.stack import Stack

# PLANTCTL_CHAOS=long holds every fault longer (docs/reliability.md); the default is the short profile.
LONG = os.environ.get("PLANTCTL_CHAOS", "short") == "long"
OUTAGE_S = 60.0 if LONG else 5.0
SPEED = 60.0


@pytest.fixture(scope="module")
def stack(private_db_server: LocalDatabase, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    st = Stack(private_db_server, tmp_path_factory.mktemp("chaos"), speed=SPEED)
    try:
        st.start()
        yield st
    finally:
        st.stop()
