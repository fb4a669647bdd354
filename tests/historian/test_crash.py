"""SIGKILL of a writer process mid-ingest, then a restart: nothing acknowledged is lost, nothing doubled."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from plantctl.historian.writer import HistorianWriter
from tests.historian.conftest import FAST_RECONNECT, fast_config, tag_configs, unreachable_url
from tests.historian.writer_child import TAGS, batch

pytestmark = [pytest.mark.anyio, pytest.mark.db, pytest.mark.slow]
REPO = Path(__file__).resolve().parents[2]


def _acked(path: Path) -> int:
    lines = path.read_text().split("\n") if path.exists() else []
    done = [int(x) for x in lines[:-1] if x]  # the last piece may be a torn line
    assert done == sorted(done)
    return done[-1] if done else 0


def _run_and_kill(url: str, state: Path, ack: Path, min_acked: int) -> int:
    child = subprocess.Popen([sys.executable, "-m", "tests.historian.writer_child", url, str(state), str(ack)],
                             cwd=REPO, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    try:
        while _acked(ack) < min_acked:
            assert child.poll() is None, child.stderr.read().decode() if child.stderr else ""
            assert time.monotonic() < deadline, "the writer process acknowledged too little"
            time.sleep(0.05)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    return _acked(ack)


@pytest.mark.parametrize("database", ["reachable", "unreachable (all spooled)"])
async def test_sigkill_mid_ingest_then_restart(historian_db: str, tmp_path: Path, database: str) -> None:
    ack = tmp_path / "acked"
    url = historian_db if database == "reachable" else unreachable_url()
    acked = _run_and_kill(url, tmp_path / "state", ack, min_acked=400)

    restarted = HistorianWriter(historian_db, fast_config(), state_dir=tmp_path / "state", tags=tag_configs(5),
                                settings=FAST_RECONNECT)
    await restarted.start()
    await restarted.flush(30)
    await restarted.stop()

    with psycopg.connect(historian_db) as conn:
        rows = conn.execute("SELECT t.name, s.ts, s.value FROM samples s JOIN tags t ON t.id = s.tag_id").fetchall()
    stored = {(tag, ts): value for tag, ts, value in rows}
    assert len(stored) == len(rows)  # no (tag, ts) twice
    for k in range(1, acked + 1):  # every acknowledged sample is there, with its value
        for s in batch(k):
            assert stored.get((s.tag, s.ts)) == s.value, f"acknowledged submit {k} lost ({s.tag})"
    generated = {(s.tag, s.ts): s.value for k in range(1, len(rows) // len(TAGS) + 200) for s in batch(k)}
    assert all(generated.get(key) == value for key, value in stored.items())  # nothing invented
    assert restarted.stats().rows_quarantined == 0
    if database != "reachable":
        assert restarted.stats().batches_replayed > 0 and restarted.stats().spool_pending_batches == 0
