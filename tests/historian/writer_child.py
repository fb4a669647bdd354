"""A writer process fed by a deterministic generator; it appends each acknowledged submit number to a file.

Run by test_crash.py: python -m tests.historian.writer_child URL STATE_DIR ACK_FILE
Submit k (k = 1, 2, …) carries one sample per tag at T0 + k × 10 ms with value k + i/10.
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import timedelta
from pathlib import Path

from plantctl.historian.writer import HistorianWriter, WriterSettings
from plantctl.samples import Sample
from tests.historian.conftest import T0, fast_config, tag_configs

TAGS = [f"AIT-{100 + i}" for i in range(5)]


def batch(k: int) -> list[Sample]:
    return [Sample(tag, T0 + k * timedelta(milliseconds=10), k + i / 10) for i, tag in enumerate(TAGS)]


async def main(url: str, state: Path, ack_path: Path) -> None:
    ack = ack_path.open("a")

    def on_durable(seq: int) -> None:
        ack.write(f"{seq}\n")
        ack.flush()
        os.fsync(ack.fileno())

    w = HistorianWriter(url, fast_config(batch_max_rows=50, batch_max_age_s=0.02), state_dir=state,
                        tags=tag_configs(5), on_durable=on_durable,
                        settings=WriterSettings(queue_max_batches=4, reconnect_min_delay_s=0.05))
    await w.start()
    k = 0
    while True:  # until SIGKILL
        k += 1
        assert w.submit(batch(k)) == k
        if k % 10 == 0:
            await asyncio.sleep(0.005)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])))
