"""A real Mosquitto on a loopback port with a config that loses nothing, for tests, the bench and the fleet demo.

Mosquitto's defaults lose data (docs/fleet.md): at most 1000 queued messages per session, QoS 0 not
queued for an offline persistent session, and the persistence file written only on a clean stop or
every 1800 s, so a SIGKILL loses queued messages and sessions. This config turns all three off.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

MOSQUITTO = "/usr/sbin/mosquitto"

_CONFIG = """\
listener {port} 127.0.0.1
allow_anonymous true
persistence true
persistence_location {data}/
autosave_on_changes true
autosave_interval 1
max_queued_messages 0
max_inflight_messages 0
queue_qos0_messages true
log_dest stderr
log_type error
log_type warning
log_type notice
"""


class MosquittoBroker:
    """One broker process whose data dir survives restarts (a restart keeps sessions and queued messages)."""

    def __init__(self, directory: Path, port: int) -> None:
        self.directory = directory
        self.port = port
        self.data = directory / "data"
        self.config = directory / "mosquitto.conf"
        self.log = directory / "mosquitto.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 5.0) -> None:
        """Start the broker and wait until our own process accepts connections."""
        binary = shutil.which("mosquitto") or MOSQUITTO
        if not Path(binary).exists():
            raise RuntimeError("mosquitto is not installed (Debian package `mosquitto`; ./dev test installs it)")
        self.data.mkdir(parents=True, exist_ok=True)
        self.config.write_text(_CONFIG.format(port=self.port, data=self.data))
        if os.geteuid() == 0:  # started as root it drops to the mosquitto user, which must own its data
            shutil.chown(self.data, user="mosquitto")
        with self.log.open("ab") as err:
            self.proc = subprocess.Popen([binary, "-c", str(self.config)], stdout=err, stderr=err)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited with {self.proc.returncode}: {self.log.read_text()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"mosquitto did not listen on 127.0.0.1:{self.port} within {timeout_s} s")

    def kill(self) -> None:
        """SIGKILL, as a crash: only what autosave wrote survives."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def stop(self) -> None:
        """A clean stop (SIGTERM): the broker saves its database."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None
