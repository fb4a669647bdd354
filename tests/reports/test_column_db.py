"""C-301 loading and time to breakthrough from a real TimescaleDB, against figures worked out by hand here.

Six hours after a regeneration at T0, with sample-and-hold analysers (a result every 600 s, held up to
900 s) and a flowmeter sampled every minute (held 120 s):
  0:00-3:00  flow 5 m3/h, inlet 400, outlet 20 mg/L       -> 5 × 380 = 1900 g/h
  2:00-2:30  flow 0 (known): nothing passes the bed, the analysers need not be known
  3:00-6:00  inlet 500 mg/L                               -> 5 × 480 = 2400 g/h
  4:00-4:30  the outlet analyser reports Bad               -> 30 min unknown
  5:00-5:30  the inlet analyser is silent; its 4:50 result holds to 5:05 -> 25 min unknown
"""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg.types.json import Jsonb

from plantctl.config import PlantConfig
from plantctl.historian.migrate import apply_migrations
from plantctl.reports.column import column_state, uptake
from plantctl.reports.generate import make
from plantctl.reports.render import to_csv, to_pdf

pytestmark = [pytest.mark.db]

T0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
H = timedelta(hours=1)
CAPACITY = 50.0


def plant() -> PlantConfig:
    return PlantConfig.model_validate({
        "plant": {"name": "Column test plant", "site": "lab", "timezone": "UTC"},
        "reporting": {
            "discharge_ph": "AIT-101", "discharge_flow": "FIT-100", "max_hold_s": 120,
            "column": {"name": "C-301", "capacity_kg": CAPACITY, "inlet": "AIT-300", "outlet": "AIT-301",
                       "flow": "FIT-100", "breakthrough_ratio": 0.1, "uptake_window_h": 2,
                       "analyser_hold_s": 900}}})


def samples() -> list[tuple[datetime, str, float, int]]:
    rows: list[tuple[datetime, str, float, int]] = []
    for m in range(-1, 6 * 60):
        flow = 0.0 if 120 <= m < 150 else 5.0
        rows.append((T0 + timedelta(minutes=m), "FIT-100", flow, 192))
    for k in range(-1, 36):  # analyser results at T0 + k × 600 s
        t = T0 + timedelta(seconds=600 * k)
        if not 30 <= k < 33:
            rows.append((t, "AIT-300", 400.0 if k < 18 else 500.0, 192))
        rows.append((t, "AIT-301", 20.0, 0 if 24 <= k < 27 else 192))
    return rows


def record_regeneration(conn: psycopg.Connection[object], at: datetime, actor: str = "olga") -> None:
    conn.execute("INSERT INTO audit_log (actor, action, target, new_value) VALUES (%s, %s, %s, %s)",
                 (actor, "column_regenerated", "C-301", Jsonb({"at": at.isoformat()})))


@pytest.fixture
def column_db(fresh_database: str) -> Iterator[str]:
    apply_migrations(fresh_database)
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        ids = {}
        for name, unit in {"AIT-101": "pH", "FIT-100": "m3/h", "AIT-300": "mg/L", "AIT-301": "mg/L"}.items():
            ids[name] = conn.execute("INSERT INTO tags (name, unit) VALUES (%s, %s) RETURNING id",
                                     (name, unit)).fetchone()[0]  # type: ignore[index]
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO samples (ts, tag_id, value, quality) VALUES (%s, %s, %s, %s)",
                            [(t, ids[n], v, q) for t, n, v, q in samples()])
    yield fresh_database


# worked out from the construction above (grams, then kg)
MEASURED_KG = (2 * 1900 + 0.5 * 1900 + 1 * 2400 + 35 / 60 * 2400 + 0.5 * 2400) / 1000  # 9.75
UNKNOWN_H = 30 / 60 + 25 / 60
KNOWN_H = 6 - UNKNOWN_H
ESTIMATED_KG = UNKNOWN_H * MEASURED_KG / KNOWN_H
LOADED_KG = MEASURED_KG + ESTIMATED_KG
WINDOW_KG = (35 / 60 * 2400 + 0.5 * 2400) / 1000  # 4:00-6:00
WINDOW_RATE = WINDOW_KG / (65 / 60)  # = 2.4 kg/h, 5 m3/h × 480 g/m3
HOURS_LEFT = (CAPACITY - LOADED_KG) / WINDOW_RATE


def test_loading_integrates_held_results_and_estimates_unknown_time(column_db: str) -> None:
    col = plant().reporting.column  # type: ignore[union-attr]
    assert col is not None
    with psycopg.connect(column_db, autocommit=True) as conn:
        record_regeneration(conn, T0 - 3 * H, "ivan")  # an older one: only the latest counts
        record_regeneration(conn, T0)
        s = column_state(conn, col, 120, T0 + 6 * H)
    assert s.regeneration is not None and s.regeneration.at == T0 and s.regeneration.by == "olga"
    assert s.since is not None and s.window is not None
    assert s.since.kg == pytest.approx(MEASURED_KG)
    assert pytest.approx(9.75) == MEASURED_KG  # the construction, checked by hand
    assert s.since.unknown_h == pytest.approx(UNKNOWN_H) and s.since.known_h == pytest.approx(KNOWN_H)
    assert s.estimated_kg == pytest.approx(ESTIMATED_KG)
    assert s.loaded_kg == pytest.approx(LOADED_KG)
    assert s.loading_pct == pytest.approx(100 * LOADED_KG / CAPACITY)
    assert s.window.kg == pytest.approx(WINDOW_KG) and s.window.rate_kg_h == pytest.approx(2.4)
    assert s.hours_to_breakthrough == pytest.approx(HOURS_LEFT)
    assert s.outlet_ratio == pytest.approx(20 / 500) and not s.broken_through and s.note == ""


def test_held_results_step_rather_than_interpolate(column_db: str) -> None:
    """Across the inlet's step 400 → 500 at 3:00 the 2:50 result holds: 2:30-3:30 is 30 min at each value."""
    col = plant().reporting.column  # type: ignore[union-attr]
    assert col is not None
    with psycopg.connect(column_db, autocommit=True) as conn:
        u = uptake(conn, col, 120, T0 + 2.5 * H, T0 + 3.5 * H)
    assert u.kg == pytest.approx((0.5 * 1900 + 0.5 * 2400) / 1000)
    assert u.unknown_h == 0 and u.known_h == pytest.approx(1.0)


def test_bad_and_silent_stretches_are_unknown_not_zero(column_db: str) -> None:
    col = plant().reporting.column  # type: ignore[union-attr]
    assert col is not None
    with psycopg.connect(column_db, autocommit=True) as conn:
        bad = uptake(conn, col, 120, T0 + 4 * H, T0 + 4.5 * H)
        silent = uptake(conn, col, 120, T0 + 5 * H, T0 + 5.5 * H)
        no_flow = uptake(conn, col, 120, T0 + 2 * H, T0 + 2.5 * H)
    assert (bad.kg, bad.known_h) == (0, 0) and bad.unknown_h == pytest.approx(0.5)
    assert silent.kg == pytest.approx(5 / 60 * 2400 / 1000) and silent.unknown_h == pytest.approx(25 / 60)
    assert no_flow.kg == 0 and no_flow.known_h == pytest.approx(0.5) and no_flow.unknown_h == 0


def test_extending_a_base_gives_the_same_loading_as_recomputing(column_db: str) -> None:
    col = plant().reporting.column  # type: ignore[union-attr]
    assert col is not None
    with psycopg.connect(column_db, autocommit=True) as conn:
        record_regeneration(conn, T0)
        early = column_state(conn, col, 120, T0 + 4.25 * H)
        assert early.since is not None
        extended = column_state(conn, col, 120, T0 + 6 * H, base=early.since)
    assert extended.since is not None and extended.since.kg == pytest.approx(MEASURED_KG)
    assert extended.loaded_kg == pytest.approx(LOADED_KG)


def test_outlet_above_the_ratio_is_breakthrough(column_db: str) -> None:
    col = plant().reporting.column  # type: ignore[union-attr]
    assert col is not None
    with psycopg.connect(column_db, autocommit=True) as conn:
        record_regeneration(conn, T0)
        ids = dict(conn.execute("SELECT name, id FROM tags").fetchall())
        for tag, value in (("AIT-300", 500.0), ("AIT-301", 60.0)):  # 60 / 500 = 0.12 > 0.1
            conn.execute("INSERT INTO samples (ts, tag_id, value, quality) VALUES (%s, %s, %s, 192)",
                         (T0 + 6 * H, ids[tag], value))
        s = column_state(conn, col, 120, T0 + 6 * H + timedelta(minutes=5))
    assert s.outlet_ratio == pytest.approx(0.12) and s.broken_through and s.hours_to_breakthrough == 0


def test_without_a_recorded_regeneration_loading_is_unknown_and_says_why(column_db: str) -> None:
    col = plant().reporting.column  # type: ignore[union-attr]
    assert col is not None
    with psycopg.connect(column_db, autocommit=True) as conn:
        record_regeneration(conn, T0 + 7 * H)  # after the moment asked about: not yet
        s = column_state(conn, col, 120, T0 + 6 * H)
    assert s.loaded_kg is None and s.loading_pct is None and s.hours_to_breakthrough is None
    assert "no regeneration of C-301 recorded" in s.note


def test_daily_report_carries_uptake_and_loading_at_day_end(column_db: str, tmp_path: Path) -> None:
    # the day 2026-03-02 (UTC plant): data end at 6:00; the flow's 5:59 sample holds to 6:01, the analysers'
    # 5:50 results to 6:05, so 6:00-6:01 adds one more minute at 2400 g/h and the rest of the day is unknown
    with psycopg.connect(column_db, autocommit=True) as conn:
        record_regeneration(conn, T0)
        r = make(conn, plant(), "daily", "2026-03-02")
    taken = MEASURED_KG + 1 / 60 * 2400 / 1000
    known = KNOWN_H + 1 / 60
    loaded = taken + (24 - known) * taken / known
    c = r.column
    assert c is not None and c.column == "C-301" and c.regenerated_by == "olga"
    assert c.taken_up_kg == pytest.approx(taken) and c.unknown_h == pytest.approx(24 - known)
    assert c.loaded_kg_end == pytest.approx(loaded) and c.loading_pct_end == pytest.approx(100 * loaded / CAPACITY)
    summary = {row[0]: row[1] for row in csv.reader(io.StringIO(to_csv(r).decode())) if len(row) == 2}
    assert summary["C-301 lithium taken up kg"] == f"{taken:.3f}"
    assert summary["C-301 loading at end kg"] == f"{loaded:.3f}"
    assert summary["C-301 last regenerated (UTC)"] == "2026-03-02T00:00:00Z by olga"
    if shutil.which("pdftotext") is None:
        pytest.fail("poppler-utils not installed (./dev test installs it)")
    pdf = tmp_path / "daily-2026-03-02.pdf"
    pdf.write_bytes(to_pdf(r))
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    for line in (f"C-301 lithium taken up kg +{taken:.3f}", f"C-301 loading at end kg +{loaded:.3f}",
                 f"C-301 loading at end % of 50 kg +{100 * loaded / CAPACITY:.1f}"):
        assert re.search(line, text), line


def test_report_lithium_holds_analyser_results_for_their_own_hold(column_db: str) -> None:
    """reporting.lithium streams with hold_s: 900 integrate each 600 s result as held, not for max_hold_s (120 s)."""
    cfg = plant().model_dump()
    cfg["reporting"]["lithium"] = {"inlet": {"concentration": "AIT-300", "flow": "FIT-100", "hold_s": 900},
                                   "outlet": {"concentration": "AIT-301", "flow": "FIT-100", "hold_s": 900}}
    with psycopg.connect(column_db, autocommit=True) as conn:
        r = make(conn, PlantConfig.model_validate(cfg), "daily", "2026-03-02")
    # the flow is known to 6:01 (its 5:59 sample held 120 s); zero 2:00-2:30
    li_in = (2 * 5 * 400 + 0.5 * 5 * 400 + 125 / 60 * 5 * 500 + 31 / 60 * 5 * 500) / 1000  # inlet silent 5:05-5:30
    li_out = (2 * 5 * 20 + 1.5 * 5 * 20 + 91 / 60 * 5 * 20) / 1000  # outlet Bad 4:00-4:30
    assert r.total.li_in_kg == pytest.approx(li_in) and li_in == pytest.approx(11.5)
    assert r.total.li_out_kg == pytest.approx(li_out)
    assert r.total.li_recovered_kg == pytest.approx(li_in - li_out)


def test_a_list_of_flows_is_summed_and_known_only_where_every_one_is(column_db: str) -> None:
    """flow: [FIT-100, FIT-501]: a return of 1 m3/h to 0:59 (held to 1:01) joins the 5 m3/h through the bed."""
    cfg = plant().model_dump()
    cfg["reporting"]["column"]["flow"] = ["FIT-100", "FIT-501"]
    col = PlantConfig.model_validate(cfg).reporting.column  # type: ignore[union-attr]
    assert col is not None and col.flows == ["FIT-100", "FIT-501"]
    with psycopg.connect(column_db, autocommit=True) as conn:
        tag = conn.execute("INSERT INTO tags (name, unit) VALUES ('FIT-501', 'm3/h') RETURNING id").fetchone()
        assert tag is not None
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO samples (ts, tag_id, value, quality) VALUES (%s, %s, 1.0, 192)",
                            [(T0 + timedelta(minutes=m), tag[0]) for m in range(-1, 60)])
        first = uptake(conn, col, 120, T0, T0 + H)
        after = uptake(conn, col, 120, T0 + H, T0 + 1.5 * H)
    assert first.kg == pytest.approx(6 * 380 / 1000) and first.unknown_h == 0
    assert after.kg == pytest.approx(6 * 380 / 60 / 1000) and after.unknown_h == pytest.approx(29 / 60)
