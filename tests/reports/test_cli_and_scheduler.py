"""`plantctl report daily|monthly` on a real database, and the scheduler filing after local midnight (virtual time)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest
import yaml

from plantctl.reports.scheduler import ReportScheduler
from plantctl.reports.store import list_reports
from tests.reports.test_reports_db import plant, report_db  # noqa: F401  (the loaded DST-day fixture)

pytestmark = [pytest.mark.db]
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "plant.yaml"


def plant_file(tmp_path: Path) -> Path:
    doc = yaml.safe_load(EXAMPLE.read_text())
    doc["plant"]["timezone"] = "Europe/Berlin"
    doc["reporting"] = plant().reporting.model_dump(exclude_none=True)  # type: ignore[union-attr]
    path = tmp_path / "plant.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "plantctl.cli", "report", *args], capture_output=True, text=True,
                          timeout=120)


def test_cli_writes_and_files_the_daily_csv(report_db: str, tmp_path: Path) -> None:  # noqa: F811
    out = tmp_path / "day.csv"
    done = cli("daily", "--date", "2026-10-25", "--format", "csv", "--config", str(plant_file(tmp_path)),
               "--out", str(out), "--database-url", report_db)
    assert done.returncode == 0, done.stderr
    assert "revision 1, filed" in done.stdout
    assert "minutes out of permit,30.0" in out.read_text()
    again = cli("daily", "--date", "2026-10-25", "--format", "csv", "--config", str(plant_file(tmp_path)),
                "--out", str(out), "--database-url", report_db)
    assert "already filed, identical" in again.stdout


@pytest.mark.parametrize(("args", "says"), [
    (("daily", "--date", "2026-02-30"), "is not YYYY-MM-DD"),
    (("monthly", "--month", "2026-13"), "is not YYYY-MM"),
    (("daily", "--date", "2026-10-25", "--format", "docx"), "pdf or csv"),
])
def test_cli_bad_input_is_one_line_and_exit_2(report_db: str, tmp_path: Path, args: tuple[str, ...],  # noqa: F811
                                              says: str) -> None:
    done = cli(*args, "--config", str(plant_file(tmp_path)), "--database-url", report_db)
    assert done.returncode == 2
    assert says in done.stderr and "Traceback" not in done.stderr


def test_scheduler_files_yesterday_and_last_month_after_local_midnight(report_db: str) -> None:  # noqa: F811
    now = [datetime(2026, 10, 25, 22, 5, tzinfo=UTC)]  # 23:05 local on the 25th: the 25th is not over

    async def scenario() -> list[list[tuple[str, str]]]:
        sched = ReportScheduler(plant(), report_db, clock=lambda: now[0])
        first = await sched.run_once()
        now[0] = datetime(2026, 10, 25, 23, 20, tzinfo=UTC)  # 00:20 local on the 26th, past the 15 min grace
        second = await sched.run_once()
        third = await sched.run_once()
        return [first, second, third]

    first, second, third = asyncio.run(scenario())
    assert first == [("daily", "2026-10-24"), ("monthly", "2026-09")]
    assert second == [("daily", "2026-10-25")]
    assert third == []
    with psycopg.connect(report_db) as conn:
        filed = {(f.kind, f.period, f.format) for f in list_reports(conn)}
    assert ("daily", "2026-10-25", "pdf") in filed and ("daily", "2026-10-25", "csv") in filed
