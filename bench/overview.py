"""Overview benchmark: the level-1 overview's historian reads (today's figures; the last hour's with the
2-hour sparklines) at the end of a plant day of data, against the daily report of the same day (baseline),
and today's once-a-minute refresh (KeptSeries: only the samples since the last read) against its full read.

The overview's first-paint target is 1 s in the browser (tests/panel/test_operator_day.py); this is its
server side at the worst time of day, just before local midnight, when "today" holds a whole day. Only a
service's first overview call waits for these reads; later ones are served from api/routers/overview.py's
cache while it refreshes in the background.
Loads one day of samples for the example plant's reporting tags through the historian writer into a
scratch database of the test TimescaleDB (or --database-url), which it drops. Prints progress lines,
then ONE JSON object on the last line of stdout. --quick (under 60 s) samples every 5 s instead of 1 s.

    .venv/bin/python bench/overview.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.routers import overview
from plantctl.config.models import PlantConfig
from plantctl.historian.migrate import apply_migrations
from plantctl.historian.writer import HistorianWriter
from plantctl.plantfile import load_plant
from plantctl.quality import Quality
from plantctl.reports.compute import KeptSeries, compute
from plantctl.reports.period import daily
from plantctl.samples import Sample

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "plant.yaml"
# the example's reporting tags (discharge after T-401, both tanks' reagents, lithium in and out)
TAGS = {"AIT-410": (7.3, 1.2), "FIT-410": (5.5, 2.0), "FIT-100": (5.6, 2.0), "P-201.SPEED": (40.0, 20.0),
        "P-202.SPEED": (5.0, 4.0), "P-401.SPEED": (20.0, 10.0), "P-402.SPEED": (3.0, 2.0), "AIT-300": (400.0, 150.0),
        "AIT-301": (40.0, 15.0)}


def log(msg: str) -> None:
    print(msg, flush=True)


async def load_day(url: str, plant: PlantConfig, start: datetime, end: datetime, step_s: float) -> int:
    tags = [t for t in plant.tags if t.name in TAGS]
    with tempfile.TemporaryDirectory() as state:
        writer = HistorianWriter(url, plant.historian, state_dir=Path(state), tags=tags)
        await writer.start()
        n = int((end - start).total_seconds() // step_s)
        rows = 0
        chunk: list[Sample] = []
        for i in range(n):
            ts = start + timedelta(seconds=i * step_s)
            phase = 2 * math.pi * i * step_s / 86400
            for k, (name, (mid, amp)) in enumerate(TAGS.items()):
                chunk.append(Sample(name, ts, mid + amp * math.sin(phase * 7 + k), Quality.GOOD))
            if len(chunk) >= 50_000:
                writer.submit(chunk)
                rows += len(chunk)
                chunk = []
                await writer.flush(120)
        writer.submit(chunk)
        rows += len(chunk)
        await writer.flush(120)
        await writer.stop()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="5 s samples instead of 1 s: whole run under 60 s")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--database-url", default=None, help="an empty TimescaleDB database (default: a scratch one)")
    args = ap.parse_args()
    step = 5.0 if args.quick else 1.0
    plant = load_plant(EXAMPLE)
    zone = plant.plant.timezone
    # the plant-local day that ended at the last local midnight; "now" is one second before its end
    from zoneinfo import ZoneInfo
    local_today = datetime.now(UTC).astimezone(ZoneInfo(zone)).date()
    period = daily(local_today - timedelta(days=1), zone)
    now = period.end - timedelta(seconds=1)

    created = None
    url = args.database_url
    if url is None:
        from plantctl.db import LocalDatabase
        db = LocalDatabase(instance="test", port=int(os.environ.get("PLANTCTL_TEST_DB_PORT", "55434"))).up()
        name = f"bench_overview_{uuid.uuid4().hex[:8]}"
        url = db.create_database(name)
        created = (db, name)
    try:
        apply_migrations(url)
        t0 = time.monotonic()
        rows = asyncio.run(load_day(url, plant, period.start - timedelta(minutes=5), period.end, step))
        log(f"loaded {rows} rows ({len(TAGS)} tags, one local day at {step:g} s) in {time.monotonic() - t0:.1f} s")
        over_ms, recent_ms, report_ms = [], [], []
        for _ in range(args.runs):
            with mock.patch.object(overview, "utcnow", return_value=now):
                t0 = time.perf_counter()
                h = overview._read_today(url, plant)
                over_ms.append((time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()
                r = overview._read_recent(url, plant)
                recent_ms.append((time.perf_counter() - t0) * 1000)
            with psycopg.connect(url, autocommit=True) as conn:
                t0 = time.perf_counter()
                compute(conn, plant, period)
                report_ms.append((time.perf_counter() - t0) * 1000)
        assert h.figures is not None and h.figures.volume_discharged_m3 > 0 and r.figures is not None, (h, r)
        # the overview's refreshes once a minute: the whole day read once, then only what came since (KeptSeries)
        kept = KeptSeries()
        refresh_ms = []
        for k in range(args.runs + 1):
            with mock.patch.object(overview, "utcnow", return_value=now - timedelta(minutes=args.runs - k)):
                t0 = time.perf_counter()
                kept_today = overview._read_today(url, plant, kept)
                if k:  # the first read is the full one
                    refresh_ms.append((time.perf_counter() - t0) * 1000)
        assert kept_today.figures == h.figures, "a refreshed 'today' differs from the full read"
        log(f"overview today refresh (only the new samples) p50 {statistics.median(refresh_ms):.0f} ms")
        log(f"overview today read p50 {statistics.median(over_ms):.0f} ms, last hour + sparklines p50 "
            f"{statistics.median(recent_ms):.0f} ms; daily report compute p50 {statistics.median(report_ms):.0f} ms")
    finally:
        if created is not None:
            with contextlib.suppress(Exception):
                created[0].drop_database(created[1])
    result = {"quick": args.quick, "sample_step_s": step, "rows": rows, "runs": args.runs,
              "today_read_p50_ms": round(statistics.median(over_ms), 1),
              "today_read_max_ms": round(max(over_ms), 1),
              "today_refresh_p50_ms": round(statistics.median(refresh_ms), 1),
              "today_refresh_over_full_read": round(statistics.median(refresh_ms) / statistics.median(over_ms), 3),
              "last_hour_and_sparklines_p50_ms": round(statistics.median(recent_ms), 1),
              "daily_report_p50_ms": round(statistics.median(report_ms), 1),
              "today_over_daily_report": round(statistics.median(over_ms) / statistics.median(report_ms), 2),
              "target_first_paint_ms": 1000}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
