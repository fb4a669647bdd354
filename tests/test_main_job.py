"""The README's main job, as a user runs it: `plantctl run --simulate` brings up a service that answers and stores."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.support import free_port

pytestmark = pytest.mark.db

def test_run_with_simulator_serves_health_and_stores_both_protocols(
        tmp_path: Path, fresh_database: str, plant_on_free_ports: Path) -> None:
    plant = plant_on_free_ports
    api_port = free_port()
    env = {**os.environ, "PLANTCTL_DATABASE_URL": fresh_database, "PLANTCTL_STATE_DIR": str(tmp_path / "state"),
           "PLANTCTL_MODE": "demo"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "plantctl.cli", "run", "--simulate", "--config", str(plant), "--port", str(api_port)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 90
        health = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                health = httpx.get(f"http://127.0.0.1:{api_port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                time.sleep(0.5)
        assert health is not None and health.status_code == 200, "service did not answer /healthz"
        assert health.json() == {"status": "ok"}
        ready = None
        while time.monotonic() < deadline:
            ready = httpx.get(f"http://127.0.0.1:{api_port}/readyz", timeout=2)
            if ready.status_code == 200:
                break
            time.sleep(0.5)
        assert ready is not None and ready.status_code == 200, ready.text if ready else "no answer"
        stored: dict[str, int] = {}
        while time.monotonic() < deadline:
            with psycopg.connect(fresh_database) as conn:
                rows = conn.execute(
                    "SELECT t.name, count(*) FROM samples s JOIN tags t ON t.id = s.tag_id "
                    "WHERE t.name IN ('AIT-101', 'FIT-100') AND s.quality = 192 GROUP BY t.name").fetchall()
            stored = {name: n for name, n in rows}
            if len(stored) == 2:
                break
            time.sleep(1)
        assert set(stored) == {"AIT-101", "FIT-100"}, f"Good samples stored per protocol: {stored}"
        # The pH loop comes up in its configured AUTO once its inputs have arrived (a pump-fault bit
        # that arrives a second after the pH must not latch it in MAN), holding the stopped pumps at 0.
        events: list[tuple[str, str]] = []
        while time.monotonic() < deadline:
            with psycopg.connect(fresh_database) as conn:
                events = [(k, r) for k, r in conn.execute(
                    "SELECT kind, reason FROM loop_events WHERE loop = 'PHC-101' ORDER BY ts, id").fetchall()]
            if any("pump not running" in r for _k, r in events) and any("→ AUTO" in r for _k, r in events):
                break
            time.sleep(1)
        assert any(k == "mode_change" and "MAN → AUTO: configured start mode" in r for k, r in events), events
        assert not any("FAULT" in r for _k, r in events), events
        assert any(k == "interlock_trip" and "NaOH pump not running" in r for k, r in events), events
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    assert proc.returncode == 0, out[-3000:]
    assert "DEMO MODE" in out and "Traceback" not in out, out[-3000:]
