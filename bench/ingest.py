"""Sustained ingest into the samples hypertable: our writer beside psql \\copy and executemany, same rows.

Runs in a scratch schema of the database (dropped afterwards), so it is safe on a shared server.
Prints one JSON object on the last line. Usage:
  .venv/bin/python bench/ingest.py [--quick] [--database-url URL] [--tags 50]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg

from plantctl.config.models import HistorianConfig, TagConfig
from plantctl.durable.queue import FRAME_OVERHEAD
from plantctl.historian.codec import encode_batch
from plantctl.historian.migrate import MIGRATIONS_DIR, apply_migrations
from plantctl.historian.writer import HistorianWriter, WriterSettings
from plantctl.plantfile import tag_config
from plantctl.quality import Quality
from plantctl.samples import Sample

T0 = datetime(2026, 1, 5, tzinfo=UTC)


def with_search_path(url: str, schema: str) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query["options"] = f"-csearch_path={schema},public"
    return urlunsplit(parts._replace(query=urlencode(query)))


def make_samples(n_rows: int, n_tags: int) -> list[Sample]:
    """One scan of every tag per second, values of a pH-like signal, 1 in 50 Uncertain."""
    out = []
    for k in range(n_rows):
        scan, tag = divmod(k, n_tags)
        q = Quality.UNCERTAIN if k % 50 == 49 else Quality.GOOD
        out.append(Sample(f"AIT-{tag:04d}", T0 + timedelta(seconds=scan), 7.0 + (k * 7919 % 1000) / 1000, q))
    return out


def tag_configs(n_tags: int) -> list[TagConfig]:
    return [tag_config({"name": f"AIT-{i:04d}", "unit": "pH", "range": {"low": 0, "high": 14},
                                      "source": "PLC", "opcua": {"node_id": f"ns=2;s=AIT-{i:04d}"}})
            for i in range(n_tags)]


def truncate(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE samples")


async def run_writer(url: str, samples: list[Sample], n_tags: int, state: Path) -> tuple[float, int]:
    """Sustained ingest: the source waits while half the writer's queue is full, so nothing spills to disk."""
    settings = WriterSettings()
    w = HistorianWriter(url, HistorianConfig(), state_dir=state, tags=tag_configs(n_tags), settings=settings)
    await w.start()
    start = time.perf_counter()  # includes connecting and registering the tags (milliseconds)
    for k in range(0, len(samples), 1000):  # sources hand over scans, not whole batches
        w.submit(samples[k:k + 1000])
        while w.stats().queue_batches >= settings.queue_max_batches // 2:  # noqa: ASYNC110 - polls public stats
            await asyncio.sleep(0.001)
    await w.flush(600)
    elapsed = time.perf_counter() - start
    st = w.stats()
    await w.stop()
    assert st.rows_spooled == 0, "the writer spilled to its spool: not a sustained-rate measurement"
    return elapsed, st.rows_written


async def run_replay(url: str, samples: list[Sample], n_tags: int, state: Path) -> float:
    """Outage recovery: spool every sample while the database is away, then time the replay."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"postgresql://nobody:x@127.0.0.1:{sock.getsockname()[1]}/none"
    away = HistorianWriter(dead, HistorianConfig(), state_dir=state, tags=tag_configs(n_tags))
    for k in range(0, len(samples), 1000):
        away.submit(samples[k:k + 1000])
    await away.start()
    await away.stop(drain_timeout_s=0)
    back = HistorianWriter(url, HistorianConfig(), state_dir=state, tags=tag_configs(n_tags))
    start = time.perf_counter()
    await back.start()
    await back.flush(600)
    elapsed = time.perf_counter() - start
    st = back.stats()
    await back.stop()
    assert st.rows_replayed == len(samples) and st.rows_written == len(samples), st
    return len(samples) / elapsed


def write_csv(samples: list[Sample], ids: dict[str, int], csv_path: Path) -> None:
    with csv_path.open("w") as fh:
        for s in samples:
            fh.write(f"{s.ts.isoformat()},{ids[s.tag]},{s.value!r},{int(s.quality)}\n")


def run_psql_copy(url: str, csv_path: Path) -> float:
    psql = shutil.which("psql") or "/usr/bin/psql"
    start = time.perf_counter()
    subprocess.run([psql, url, "-q", "-v", "ON_ERROR_STOP=1", "-c",
                    f"\\copy samples (ts, tag_id, value, quality) FROM '{csv_path}' WITH (FORMAT csv)"],
                   check=True)
    return time.perf_counter() - start


def run_executemany(url: str, samples: list[Sample], ids: dict[str, int]) -> float:
    rows = [(s.ts, ids[s.tag], s.value, int(s.quality)) for s in samples]
    with psycopg.connect(url) as conn:
        start = time.perf_counter()
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO samples (ts, tag_id, value, quality) VALUES (%s, %s, %s, %s)", rows)
        conn.commit()
        return time.perf_counter() - start


def count(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM samples").fetchone()
        return int(row[0]) if row else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="fewer rows: whole run under 60 s")
    ap.add_argument("--database-url", help="default: plantctl.db.database_url()")
    ap.add_argument("--tags", type=int, default=50)
    ap.add_argument("--rows", type=int, help="rows for the writer and psql runs")
    ap.add_argument("--rounds", type=int, help="interleaved rounds; the best of each method is reported")
    args = ap.parse_args()
    base_url = args.database_url
    if not base_url:
        from plantctl.db import database_url
        base_url = database_url()
    n_rows = args.rows or (200_000 if args.quick else 1_000_000)
    args.rounds = args.rounds or 3
    n_exec = max(1, n_rows // 5)  # executemany is slow; the rate is what counts
    schema = f"bench_ingest_{os.getpid()}"
    with psycopg.connect(base_url, autocommit=True, connect_timeout=10) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"'.encode())
    url = with_search_path(base_url, schema)
    tmp = Path(tempfile.mkdtemp(prefix="plantctl-bench-"))
    try:
        mig = tmp / "migrations"
        mig.mkdir()
        shutil.copy(MIGRATIONS_DIR / "0001_core.sql", mig / "0001_core.sql")
        apply_migrations(url, mig)
        samples = make_samples(n_rows, args.tags)
        csv_path = tmp / "rows.csv"
        runs: dict[str, list[float]] = {"writer": [], "psql_copy": [], "executemany": []}
        ids: dict[str, int] = {}
        for _ in range(args.rounds):  # interleaved rounds: a busy machine disturbs every method alike
            truncate(url)
            writer_s, written = asyncio.run(run_writer(url, samples, args.tags, tmp / "state"))
            assert written == n_rows == count(url), (written, n_rows)
            runs["writer"].append(n_rows / writer_s)
            if not ids:
                with psycopg.connect(url) as conn:
                    ids = {str(n): int(i) for n, i in conn.execute("SELECT name, id FROM tags")}
                write_csv(samples, ids, csv_path)
            truncate(url)
            runs["psql_copy"].append(n_rows / run_psql_copy(url, csv_path))
            assert count(url) == n_rows
            truncate(url)
            runs["executemany"].append(n_exec / run_executemany(url, samples[:n_exec], ids))
            assert count(url) == n_exec
        truncate(url)
        replay_rate = asyncio.run(run_replay(url, samples, args.tags, tmp / "replay"))
        batch = samples[:5000]
        spool_bytes_per_row = (len(encode_batch(batch)) + FRAME_OVERHEAD) / len(batch)
    finally:
        with psycopg.connect(base_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE'.encode())
        shutil.rmtree(tmp, ignore_errors=True)
    # Best of the rounds for each method (like timeit): the least disturbed run of each.
    writer_rate, psql_rate, exec_rate = (max(runs[k]) for k in ("writer", "psql_copy", "executemany"))
    result = {
        "rows": n_rows, "tags": args.tags, "executemany_rows": n_exec, "rounds": args.rounds,
        "writer_rows_per_s": round(writer_rate), "psql_copy_rows_per_s": round(psql_rate),
        "executemany_rows_per_s": round(exec_rate),
        "writer_vs_psql_copy": round(writer_rate / psql_rate, 3),
        "writer_vs_executemany": round(writer_rate / exec_rate, 2),
        "writer_vs_psql_copy_median": round(median(runs["writer"]) / median(runs["psql_copy"]), 3),
        "writer_vs_executemany_median": round(median(runs["writer"]) / median(runs["executemany"]), 2),
        "spool_bytes_per_row": round(spool_bytes_per_row, 2),
        "spool_replay_rows_per_s": round(replay_rate),
        "runs_rows_per_s": {k: [round(x) for x in v] for k, v in runs.items()},
    }
    print(f"writer {writer_rate:,.0f} rows/s, psql \\copy {psql_rate:,.0f} rows/s, "
          f"executemany {exec_rate:,.0f} rows/s", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
