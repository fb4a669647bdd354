"""Alarm benchmark: engine evaluations per second, journal rows per second (batched COPY vs executemany), flood loss.

Prints figures as it goes; the last line of stdout is one JSON object. `--quick` keeps the run under a minute.
The journal figures need a TimescaleDB: by default a throwaway database on the local test server
(created and dropped here); `--database-url` names another throwaway database (its tables are written).

    .venv/bin/python bench/alarms.py [--quick] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg

from plantctl.alarms.engine import AlarmEngine
from plantctl.alarms.journal import AlarmJournal, write_batch, write_batch_executemany
from plantctl.alarms.states import AlarmRecord, Transition
from plantctl.config.models import AlarmConfig
from plantctl.historian.migrate import apply_migrations
from plantctl.quality import Quality
from plantctl.samples import Sample

T0 = datetime(2026, 11, 27, tzinfo=UTC)
N_TAGS = 100
KINDS = (("HH", 95.0), ("H", 85.0), ("L", 15.0), ("LL", 5.0), ("bad_quality", None))  # 5 × 100 = 500 alarms


def _definitions() -> list[AlarmConfig]:
    return [AlarmConfig.model_validate({"name": f"LT-{i:03d}.{k}", "tag": f"LT-{i:03d}", "type": k, "limit": lim,
                                        "deadband": 1.0, "on_delay_s": 2.0})
            for i in range(N_TAGS) for k, lim in KINDS]


def engine_speed(quick: bool) -> dict[str, float]:
    """500 alarm definitions (100 level tags × HH/H/L/LL/bad quality), random walks that cross the limits."""
    rng = random.Random(42)
    engine = AlarmEngine(_definitions())
    n_batches = 200 if quick else 1000
    batch_size = 1000
    values = [50.0] * N_TAGS
    batches: list[list[Sample]] = []
    for b in range(n_batches):
        batch = []
        for j in range(batch_size):
            i = j % N_TAGS
            values[i] = min(100.0, max(0.0, values[i] + rng.gauss(0, 3.0)))
            q = Quality.BAD_COMM_FAILURE if rng.random() < 0.001 else Quality.GOOD
            batch.append(Sample(f"LT-{i:03d}", T0 + timedelta(seconds=b * 10 + j // N_TAGS), values[i], q))
        batches.append(batch)
    t0 = time.perf_counter()
    for b, batch in enumerate(batches):
        engine.process(batch, T0 + timedelta(seconds=b * 10 + 10))
    wall = time.perf_counter() - t0
    st = engine.stats
    print(f"engine: {st.samples:,} samples, {st.evaluations:,} evaluations of 500 alarms, "
          f"{st.transitions:,} transitions in {wall:.2f} s = {st.evaluations / wall:,.0f} evaluations/s")
    return {"evaluations_per_s": round(st.evaluations / wall), "samples_per_s": round(st.samples / wall),
            "engine_transitions": st.transitions}


def _transitions(n: int) -> list[Transition]:
    recs = [AlarmRecord(f"LT-{i:03d}.H", 1 + i % 4, unit="%") for i in range(500)]
    out: list[Transition] = []
    k = 0
    while len(out) < n:
        rec = recs[k % len(recs)]
        t = rec.set_condition(not rec.active, T0 + timedelta(milliseconds=k), 90.0 + k % 10, Quality.GOOD)
        assert t is not None
        out.append(t)
        k += 1
    return out


async def journal_speed(url: str, quick: bool) -> dict[str, float]:
    """The batched binary-COPY writer against executemany INSERTs of the same batches (the baseline)."""
    n = 50_000 if quick else 300_000
    rows = _transitions(n)
    journal = AlarmJournal(url, batch_max_rows=5_000, queue_max=n)
    await journal.start()
    t0 = time.perf_counter()
    for k in range(0, n, 1000):
        journal.submit(rows[k:k + 1000])
        await asyncio.sleep(0)
    await journal.flush(120)
    copy_wall = time.perf_counter() - t0
    await journal.stop()

    n_base = n // 5  # the baseline is slow; a fifth of the rows gives a stable rate
    async with await psycopg.AsyncConnection.connect(url) as conn:
        t0 = time.perf_counter()
        for k in range(0, n_base, 5000):
            await write_batch_executemany(conn, rows[k:k + 5000])
        base_wall = time.perf_counter() - t0
        # the same batches through the COPY path on a plain connection, for a like-for-like ratio
        t0 = time.perf_counter()
        for k in range(0, n_base, 5000):
            await write_batch(conn, rows[k:k + 5000])
        copy_direct_wall = time.perf_counter() - t0
    rate, base = n / copy_wall, n_base / base_wall
    direct = n_base / copy_direct_wall
    print(f"journal: {n:,} rows through AlarmJournal in {copy_wall:.2f} s = {rate:,.0f} rows/s; "
          f"same batches: COPY {direct:,.0f} rows/s vs executemany {base:,.0f} rows/s (×{direct / base:.1f})")
    return {"journal_rows_per_s": round(rate), "journal_executemany_rows_per_s": round(base),
            "journal_copy_vs_executemany": round(direct / base, 2)}


async def flood(url: str, quick: bool) -> dict[str, float]:
    """1,000 transitions/s for 30 s of simulated time (100 alarms flipping every 100 ms): rows stored == produced."""
    with psycopg.connect(url) as conn:
        before_row = conn.execute("SELECT count(*) FROM alarm_journal").fetchone()
    before = int(before_row[0]) if before_row else 0
    journal = AlarmJournal(url)
    await journal.start()
    engine = AlarmEngine([AlarmConfig.model_validate({"name": f"F{i:03d}.H", "tag": f"F{i:03d}", "type": "H",
                                                      "limit": 10.0}) for i in range(100)], sink=journal.submit)
    t0 = time.perf_counter()
    for k in range(300):
        ts = T0 + timedelta(days=1, milliseconds=100 * k)
        engine.process([Sample(f"F{i:03d}", ts, 20.0 if k % 2 == 0 else 0.0) for i in range(100)], ts)
        await asyncio.sleep(0)
    await journal.flush(120)
    wall = time.perf_counter() - t0
    await journal.stop()
    with psycopg.connect(url) as conn:
        after_row = conn.execute("SELECT count(*) FROM alarm_journal").fetchone()
    stored = (int(after_row[0]) if after_row else 0) - before
    produced = engine.stats.transitions
    print(f"flood: {produced:,} transitions (30 simulated s at 1,000/s) stored {stored:,} in {wall:.2f} s wall; "
          f"dropped {journal.stats.dropped}")
    return {"flood_transitions": produced, "flood_lost": produced - stored, "flood_wall_s": round(wall, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a shorter run (under a minute)")
    parser.add_argument("--database-url", help="a throwaway database (default: one created on the local test server)")
    args = parser.parse_args()
    result: dict[str, Any] = {"bench": "alarms", "quick": args.quick}
    result |= engine_speed(args.quick)

    created: tuple[Any, str] | None = None
    url = args.database_url
    if url is None:
        from plantctl.db import LocalDatabase
        server = LocalDatabase(instance="test", port=int(os.environ.get("PLANTCTL_TEST_DB_PORT", "55434"))).up()
        name = f"bench_alarms_{uuid.uuid4().hex[:8]}"
        url = server.create_database(name)
        created = (server, name)
    try:
        apply_migrations(url)
        result |= asyncio.run(journal_speed(url, args.quick))
        result |= asyncio.run(flood(url, args.quick))
    finally:
        if created is not None:
            created[0].drop_database(created[1])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
