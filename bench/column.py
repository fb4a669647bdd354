"""Column loading benchmark: the service's steady read of C-301's loading (the settled count since regeneration
kept and extended, api/routers/column.py) against a full recount from the regeneration (baseline), a week in.

The loading integrates the flow (a sample a second at most plants) since the bed was last regenerated, which
may be weeks ago; the overview shows it every 5 s (read at most every 15 s). Loads `--days` of the column's
history (flow every `step` s, inlet and outlet analyser results every 600 s) by binary COPY into a scratch
database of the test TimescaleDB (or --database-url), which it drops; records a regeneration at its start.
Prints progress lines, then ONE JSON object on the last line of stdout. --quick (under 60 s): 2 days, 5 s.

    .venv/bin/python bench/column.py [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg.types.json import Jsonb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.routers.column import ColumnOut, ColumnReader
from plantctl.config.reporting import ReportingConfig
from plantctl.historian.migrate import apply_migrations
from plantctl.reports.column import column_state

REPORTING = ReportingConfig.model_validate({
    "discharge_ph": "AIT-101", "discharge_flow": "FIT-100", "max_hold_s": 60,
    "column": {"name": "C-301", "capacity_kg": 500, "inlet": "AIT-300", "outlet": "AIT-301", "flow": "FIT-100"}})


def log(msg: str) -> None:
    print(msg, flush=True)


def load(url: str, start: datetime, end: datetime, step_s: float) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        ids = {name: conn.execute("INSERT INTO tags (name, unit) VALUES (%s, %s) RETURNING id", (name, unit))
               .fetchone()[0]  # type: ignore[index]
               for name, unit in (("FIT-100", "m3/h"), ("AIT-300", "mg/L"), ("AIT-301", "mg/L"))}
        n = int((end - start).total_seconds() // step_s)
        rows = 0
        copy = "COPY samples (ts, tag_id, value, quality) FROM STDIN (FORMAT BINARY)"
        with conn.cursor() as cur, cur.copy(copy) as cp:
            cp.set_types(["timestamptz", "int4", "float8", "int2"])
            for i in range(n):
                ts = start + timedelta(seconds=i * step_s)
                cp.write_row((ts, ids["FIT-100"], 5.5 + 2 * math.sin(i * step_s / 3600), 192))
                rows += 1
                if i % max(1, int(600 / step_s)) == 0:
                    cp.write_row((ts, ids["AIT-300"], 450 + 50 * math.sin(i * step_s / 7200), 192))
                    cp.write_row((ts, ids["AIT-301"], 20.0, 192))
                    rows += 2
        conn.execute("INSERT INTO audit_log (actor, action, target, new_value) VALUES ('bench', "
                     "'column_regenerated', 'C-301', %s)", (Jsonb({"at": start.isoformat()}),))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="2 days at 5 s instead of 7 days at 1 s: under 60 s")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--database-url", default=None, help="an empty TimescaleDB database (default: a scratch one)")
    args = ap.parse_args()
    days, step = (2, 5.0) if args.quick else (7, 1.0)
    created = None
    url = args.database_url
    if url is None:
        from plantctl.db import LocalDatabase
        db = LocalDatabase(instance="test", port=int(os.environ.get("PLANTCTL_TEST_DB_PORT", "55434"))).up()
        name = f"bench_column_{uuid.uuid4().hex[:8]}"
        url = db.create_database(name)
        created = (db, name)
    col = REPORTING.column
    assert col is not None
    try:
        apply_migrations(url)
        end = datetime.now(UTC)
        t0 = time.monotonic()
        rows = load(url, end - timedelta(days=days), end, step)
        log(f"loaded {rows} rows ({days} days, flow every {step:g} s) in {time.monotonic() - t0:.1f} s")
        full_ms, steady_ms = [], []
        reader = ColumnReader(url, REPORTING, col)
        first = reader.read()  # the first read counts from the regeneration and keeps the settled part
        assert isinstance(first, ColumnOut) and first.loaded_kg is not None and first.loaded_kg > 0, first
        for _ in range(args.runs):
            with psycopg.connect(url, autocommit=True) as conn:
                t0 = time.perf_counter()
                full = column_state(conn, col, REPORTING.max_hold_s, datetime.now(UTC))
                full_ms.append((time.perf_counter() - t0) * 1000)
            t0 = time.perf_counter()
            steady = reader.read()
            steady_ms.append((time.perf_counter() - t0) * 1000)
        assert isinstance(steady, ColumnOut) and full.loaded_kg is not None and steady.loaded_kg is not None
        drift = abs(steady.loaded_kg - full.loaded_kg)
        log(f"full recount p50 {statistics.median(full_ms):.0f} ms, steady read p50 {statistics.median(steady_ms):.0f} "
            f"ms; loaded {steady.loaded_kg:.2f} kg (full recount {full.loaded_kg:.2f} kg)")
    finally:
        if created is not None:
            with contextlib.suppress(Exception):
                created[0].drop_database(created[1])
    result = {"quick": args.quick, "days_since_regeneration": days, "flow_step_s": step, "rows": rows,
              "runs": args.runs, "full_recount_p50_ms": round(statistics.median(full_ms), 1),
              "steady_read_p50_ms": round(statistics.median(steady_ms), 1),
              "steady_over_full": round(statistics.median(steady_ms) / statistics.median(full_ms), 3),
              "loaded_kg_difference": round(drift, 6), "read_every_s": 15}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
