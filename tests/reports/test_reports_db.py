"""Discharge reports from a real TimescaleDB, on the autumn DST day, checked against figures worked out here.

The day is built minute by minute with known excursions, gaps and a no-flow hour; every expected figure
below is arithmetic on that construction, not output of the code under test.
"""

from __future__ import annotations

import csv
import hashlib
import io
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg
import pytest

from plantctl.config import PlantConfig
from plantctl.historian.migrate import apply_migrations
from plantctl.reports.compute import KeptSeries, compute
from plantctl.reports.figures import Report
from plantctl.reports.generate import make, make_and_file
from plantctl.reports.period import LocalSlot, Period
from plantctl.reports.render import to_csv
from plantctl.reports.store import read_report

pytestmark = [pytest.mark.db]

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "reports"
DAY_START = datetime(2026, 10, 24, 22, tzinfo=UTC)  # 2026-10-25 00:00 +02:00 in Berlin
HOURS = 25  # the day the clocks go back
MIN = timedelta(minutes=1)

TAGS = {"AIT-101": "pH", "FIT-100": "m3/h", "P-201.SPEED": "%", "P-202.SPEED": "%", "AIT-301": "mg/L"}


def plant() -> PlantConfig:
    return PlantConfig.model_validate({
        "plant": {"name": "Report test plant", "site": "lab", "timezone": "Europe/Berlin"},
        "reporting": {
            "permit": {"ph_low": 6.0, "ph_high": 9.0}, "discharge_ph": "AIT-101", "discharge_flow": "FIT-100",
            "reagents": [{"name": "NaOH", "pump_speed": "P-201.SPEED", "capacity_l_h": 250},
                         {"name": "H2SO4", "pump_speed": "P-202.SPEED", "capacity_l_h": 30}],
            "lithium": {"outlet": {"concentration": "AIT-301", "flow": "FIT-100"}},
            "max_hold_s": 120}})


def ph_at(h: int, m: int) -> float | None:
    """UTC hour index from the day's start, minute; None: no sample; nan: a Bad sample."""
    if h == 1 and 10 <= m < 25:
        return 5.5  # 15 min below the permit while discharging
    if h == 2 and m < 5:
        return 9.5  # 5 min above, first 02:00 (+02:00)
    if h == 3 and 30 <= m < 40:
        return 9.2  # 10 min above, the repeated 02:00 (+01:00)
    if h == 4 and m < 20:
        return 4.0  # below, but nothing flows in this hour: not an excursion of the discharge
    if h == 6 and m < 10:
        return float("nan")  # electrode Bad for 10 min while discharging: unknown, not in permit
    if h == 8 and m < 30:
        return None  # silent; the 07:59 sample holds 2 min, then 29 min unknown
    return 7.0


def samples() -> list[tuple[datetime, str, float, int]]:
    rows = []
    for k in range(-1, HOURS * 60):
        t = DAY_START + k * MIN
        h, m = divmod(k, 60) if k >= 0 else (-1, 59)
        ph = ph_at(h, m)
        if ph is not None:
            rows.append((t, "AIT-101", 0.0 if ph != ph else ph, 0 if ph != ph else 192))
        rows.append((t, "FIT-100", 0.0 if h == 4 else 6.0, 192))
        rows.append((t, "P-201.SPEED", 20.0, 192))
        rows.append((t, "P-202.SPEED", 50.0 if h == 2 else 0.0, 192))
        rows.append((t, "AIT-301", 10.0, 192))
    return rows


@pytest.fixture
def report_db(fresh_database: str) -> Iterator[str]:
    apply_migrations(fresh_database)
    with psycopg.connect(fresh_database, autocommit=True) as conn:
        ids = {}
        for name, unit in TAGS.items():
            ids[name] = conn.execute("INSERT INTO tags (name, unit) VALUES (%s, %s) RETURNING id",
                                     (name, unit)).fetchone()[0]  # type: ignore[index]
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO samples (ts, tag_id, value, quality) VALUES (%s, %s, %s, %s)",
                            [(t, ids[n], v, q) for t, n, v, q in samples()])
    yield fresh_database


# worked out from the construction above
OUT_MIN = 15 + 5 + 10
UNKNOWN_MIN = 10 + 29
DISCHARGING_MIN = 24 * 60
VOLUME = 6.0 * 24
OFFSPEC = OUT_MIN / 60 * 6.0
NAOH_L = 0.20 * 250 * 25
H2SO4_L = 0.50 * 30 * 1
LI_OUT_KG = 10.0 * VOLUME / 1000
SHARE = 1 - OUT_MIN / (DISCHARGING_MIN - UNKNOWN_MIN)


def test_daily_figures_on_the_dst_day(report_db: str) -> None:
    with psycopg.connect(report_db, autocommit=True) as conn:
        r = make(conn, plant(), "daily", "2026-10-25")
    assert len(r.rows) == 25
    t = r.total
    assert t.minutes_out_of_permit == pytest.approx(OUT_MIN)
    assert t.minutes_ph_unknown == pytest.approx(UNKNOWN_MIN)
    assert t.minutes_discharging == pytest.approx(DISCHARGING_MIN)
    assert t.volume_discharged_m3 == pytest.approx(VOLUME)
    assert t.volume_offspec_m3 == pytest.approx(OFFSPEC)
    assert t.reagents_l == pytest.approx((NAOH_L, H2SO4_L))
    assert t.li_out_kg == pytest.approx(LI_OUT_KG) and t.li_in_kg is None
    assert r.permit_share == pytest.approx(SHARE)
    h1, h2, h3, h4 = r.rows[1], r.rows[2], r.rows[3], r.rows[4]
    assert (h1.label, h2.label, h3.label) == ("01:00 +02:00", "02:00 +02:00", "02:00 +01:00")
    assert (h1.ph_min, h1.ph_mean, h1.ph_max) == pytest.approx((5.5, (45 * 7.0 + 15 * 5.5) / 60, 7.0))
    assert h2.minutes_out_of_permit == pytest.approx(5) and h3.minutes_out_of_permit == pytest.approx(10)
    assert h4.minutes_out_of_permit == 0 and h4.volume_discharged_m3 == 0 and h4.ph_min == pytest.approx(4.0)
    assert r.rows[8].minutes_ph_unknown == pytest.approx(29)


def _pdftotext(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True,
                          text=True).stdout


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed (./dev test installs it)")
def test_pdf_and_csv_carry_the_figures_and_regenerate_to_the_same_bytes(report_db: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with psycopg.connect(report_db, autocommit=True) as conn:
        first = make_and_file(conn, plant(), "daily", "2026-10-25", generated_by="test")
        again = make_and_file(conn, plant(), "daily", "2026-10-25", generated_by="test")
        assert [f.new for f in first] == [True, True] and [f.new for f in again] == [False, False]
        assert [f.sha256 for f in first] == [f.sha256 for f in again]
        pdf_filed, pdf = read_report(conn, "daily", "2026-10-25", "pdf") or (None, b"")
        _csv_filed, csv_bytes = read_report(conn, "daily", "2026-10-25", "csv") or (None, b"")
    assert pdf_filed is not None and hashlib.sha256(pdf).hexdigest() == first[0].sha256
    path = ARTIFACTS / "daily-2026-10-25.pdf"
    path.write_bytes(pdf)
    text = _pdftotext(path)
    for figure in (f"{OUT_MIN:.1f}", f"{UNKNOWN_MIN:.1f}", f"{VOLUME:.2f}", f"{OFFSPEC:.2f}", f"{NAOH_L:.1f}",
                   f"{H2SO4_L:.1f}", f"{SHARE * 100:.2f}", "02:00 +02:00", "02:00 +01:00", "Europe/Berlin"):
        assert figure in text, figure
    subprocess.run(["pdftoppm", "-png", "-r", "50", "-f", "1", "-l", "1", str(path),
                    str(ARTIFACTS / "daily-2026-10-25")], check=True)

    table = list(csv.reader(io.StringIO(csv_bytes.decode())))
    summary = {row[0]: row[1] for row in table[1:table.index([])]}
    assert summary["minutes out of permit"] == f"{OUT_MIN:.1f}"
    assert summary["volume discharged m3"] == f"{VOLUME:.2f}"
    assert summary["discharge in permit %"] == f"{SHARE * 100:.2f}"
    assert summary["NaOH L"] == f"{NAOH_L:.1f}" and summary["H2SO4 L"] == f"{H2SO4_L:.1f}"
    assert summary["lithium in kg"] == "" and summary["time zone"] == "Europe/Berlin"
    rows = table[table.index([]) + 2:]
    rows = rows[:rows.index([])]
    assert [r[0] for r in rows][:4] == ["00:00 +02:00", "01:00 +02:00", "02:00 +02:00", "02:00 +01:00"]
    assert len(rows) == 26 and rows[-1][0] == "total"
    assert rows[1][1:4] == ["5.50", f"{(45 * 7.0 + 15 * 5.5) / 60:.2f}", "7.00"]


def test_late_data_files_a_new_revision_and_the_first_stays(report_db: str) -> None:
    with psycopg.connect(report_db, autocommit=True) as conn:
        first = make_and_file(conn, plant(), "daily", "2026-10-25", ("csv",))[0]
        tag_id = conn.execute("SELECT id FROM tags WHERE name = 'AIT-101'").fetchone()[0]  # type: ignore[index]
        conn.execute("INSERT INTO samples (ts, tag_id, value, quality) VALUES (%s, %s, 12.0, 192)",
                     (DAY_START + timedelta(hours=8, minutes=10), tag_id))
        second = make_and_file(conn, plant(), "daily", "2026-10-25", ("csv",))[0]
        assert (first.revision, second.revision) == (1, 2) and first.sha256 != second.sha256
        kept = read_report(conn, "daily", "2026-10-25", "csv", revision=1)
        assert kept is not None and hashlib.sha256(kept[1]).hexdigest() == first.sha256
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE discharge_reports SET generated_by = 'x'")


def test_operator_actions_of_the_day_come_from_the_audit_trail(report_db: str) -> None:
    now = datetime.now(UTC)
    with psycopg.connect(report_db, autocommit=True) as conn:
        conn.execute("INSERT INTO audit_log (actor, action, target, old_value, new_value) VALUES "
                     "('operator', 'loop_setpoint', 'PHC-101', '{\"setpoint\": 6.85}', '{\"setpoint\": 7.0}')")
        day = now.astimezone(ZoneInfo("Europe/Berlin")).date().isoformat()
        text = to_csv(make(conn, plant(), "daily", day)).decode()
    assert "operator,loop_setpoint,PHC-101" in text
    assert '{""setpoint"":6.85} -> {""setpoint"":7.0}' in text


def test_an_action_replayed_after_an_outage_counts_on_the_day_it_was_taken(report_db: str) -> None:
    with psycopg.connect(report_db, autocommit=True) as conn:
        conn.execute("INSERT INTO audit_log (actor, action, target, occurred) VALUES "
                     "('operator', 'ack', 'AIT-101.HH', %s)", (DAY_START + timedelta(hours=3),))
        on_the_day = to_csv(make(conn, plant(), "daily", "2026-10-25")).decode()
    assert "operator,ack,AIT-101.HH" in on_the_day


def test_monthly_adds_up_the_days(report_db: str) -> None:
    with psycopg.connect(report_db, autocommit=True) as conn:
        m = make(conn, plant(), "monthly", "2026-10")
    assert len(m.rows) == 31
    day = m.rows[24]
    assert day.label == "2026-10-25"
    assert day.minutes_out_of_permit == pytest.approx(OUT_MIN)
    assert day.volume_discharged_m3 == pytest.approx(VOLUME)
    # the 23:59 sample of 24 Oct counts for its minute on the 24th; the day's last sample holds 2 min,
    # one of them on the 26th; no other day has data
    assert m.rows[23].volume_discharged_m3 == pytest.approx(6.0 / 60)
    assert m.rows[25].volume_discharged_m3 == pytest.approx(6.0 / 60)
    assert m.total.volume_discharged_m3 == pytest.approx(VOLUME + 2 * 6.0 / 60)
    assert m.rows[0].ph_mean is None


def test_todays_figures_read_incrementally_equal_a_full_recomputation(report_db: str) -> None:
    """The overview's "today" keeps the day's samples and reads only what came since its last refresh (KeptSeries):
    its figures equal compute's over the whole day read afresh, a late sample within replay_s included; one
    committed later than that is in them from the next full read, at most full_s on."""
    clock = [0.0]
    kept = KeptSeries(replay_s=300, full_s=900, clock=lambda: clock[0])

    def today(end: datetime) -> Period:
        return Period("overview", "today", "Europe/Berlin", DAY_START, end, (LocalSlot(DAY_START, end, "today"),))

    with psycopg.connect(report_db, autocommit=True) as conn:
        ph_id = conn.execute("SELECT id FROM tags WHERE name = 'AIT-101'").fetchone()[0]  # type: ignore[index]

        def late(at: datetime, value: float) -> None:
            conn.execute("INSERT INTO samples (ts, tag_id, value, quality) VALUES (%s, %s, %s, 192)",
                         (at, ph_id, value))

        def refresh(end: datetime) -> tuple[Report, Report]:
            clock[0] += 60.0
            return compute(conn, plant(), today(end), kept), compute(conn, plant(), today(end))

        end = DAY_START + timedelta(minutes=90, seconds=30)
        got, full = refresh(end)
        assert got == full and kept.full_reads == 5 and kept.tail_reads == 0  # the first read is a full one
        for _ in range(3):
            end += timedelta(minutes=1)
            got, full = refresh(end)
            assert got == full
        assert kept.full_reads == 5 and kept.tail_reads == 15  # five tags, three refreshes: only the new samples
        late(end - timedelta(minutes=2, seconds=15), 11.0)  # committed late, inside the replay window
        end += timedelta(minutes=1)
        got, full = refresh(end)
        assert got == full and got.total.ph_max == 11.0
        late(end - timedelta(minutes=40, seconds=15), 12.0)  # committed later than replay_s: not re-read yet
        end += timedelta(minutes=1)
        got, full = refresh(end)
        assert full.total.ph_max == 12.0 and got.total.ph_max == 11.0
        while clock[0] < 60.0 + 900.0:  # the next full read (full_s after the first) takes it in
            end += timedelta(minutes=1)
            got, full = refresh(end)
        assert got == full and got.total.ph_max == 12.0 and kept.full_reads == 10
