"""The writer against the real TimescaleDB: COPY ingest, duplicates, quarantine, spool on overflow and outage."""

from __future__ import annotations

import math
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from plantctl.historian.writer import HistorianWriter, WriterSettings
from plantctl.quality import Quality
from plantctl.samples import Sample
from tests.historian.conftest import (
    FAST_RECONNECT,
    T0,
    as_rows,
    fast_config,
    series,
    stored_rows,
    tag_configs,
    unreachable_url,
)

pytestmark = [pytest.mark.anyio, pytest.mark.db]
MS = timedelta(milliseconds=1)


def _plant(n_tags: int, n: int) -> list[Sample]:
    out: list[Sample] = []
    for i in range(n_tags):
        out += series(f"AIT-{100 + i}", T0, 250 * MS, n, value0=i, quality_every=7)
    return out


async def test_copy_ingest_stores_every_sample_exactly(historian_db: str, tmp_path: Path) -> None:
    samples = _plant(3, 3000)
    w = HistorianWriter(historian_db, fast_config(), state_dir=tmp_path, tags=tag_configs(3))
    await w.start()
    for k in range(0, len(samples), 100):
        w.submit(samples[k:k + 100])
    await w.flush(30)
    await w.stop()
    assert stored_rows(historian_db) == as_rows(samples)
    st = w.stats()
    assert st.rows_written == 9000 and st.batches_written == 18  # 500-row batches
    assert st.durable_seq == st.submitted_seq == 90
    assert st.rows_spooled == 0 and st.rows_quarantined == 0 and st.last_commit_at is not None


async def test_resubmitted_samples_are_absorbed_not_doubled(historian_db: str, tmp_path: Path) -> None:
    first = _plant(2, 1000)
    later = series("AIT-100", T0 + 1000 * 250 * MS, 250 * MS, 300)
    w = HistorianWriter(historian_db, fast_config(), state_dir=tmp_path, tags=tag_configs(2))
    await w.start()
    w.submit(first)
    await w.flush(30)
    w.submit(first[500:1500] + later)  # a source re-sending after a reconnect, then new data
    await w.flush(30)
    await w.stop()
    assert stored_rows(historian_db) == as_rows(first + later)
    assert w.stats().rows_duplicate == 1000 and w.stats().rows_written == 2300


async def test_samples_the_writer_refuses_are_quarantined_and_the_rest_stored(
        historian_db: str, tmp_path: Path) -> None:
    good = series("AIT-100", T0, 250 * MS, 10)
    nan_good = Sample("AIT-100", T0 + timedelta(hours=1), math.nan, Quality.GOOD)
    nan_bad = Sample("AIT-100", T0 + timedelta(hours=2), math.nan, Quality.BAD_SENSOR_FAILURE)
    stranger = Sample("XYZ-999", T0, 1.0)
    w = HistorianWriter(historian_db, fast_config(), state_dir=tmp_path, tags=tag_configs(1))
    await w.start()
    w.submit([*good, nan_good, nan_bad, stranger])
    await w.flush(30)
    await w.stop()
    stored = stored_rows(historian_db)
    assert [r[1] for r in stored] == [s.ts for s in good] + [nan_bad.ts]
    assert math.isnan(stored[-1][2]) and stored[-1][3] == Quality.BAD_SENSOR_FAILURE
    entries = {e.reason: e.samples for e in w.quarantine.entries()}
    assert set(entries) == {"non-finite value with a quality other than Bad",
                            "unknown tag 'XYZ-999' (not among the registered tags)"}
    assert entries["unknown tag 'XYZ-999' (not among the registered tags)"] == (stranger,)
    assert w.stats().rows_quarantined == 2


async def test_a_batch_the_database_refuses_is_quarantined_once_and_ingest_goes_on(
        private_historian_db: str, tmp_path: Path) -> None:
    historian_db = private_historian_db
    with psycopg.connect(historian_db, autocommit=True) as conn:  # a site rule the database enforces
        conn.execute("ALTER TABLE samples ADD CONSTRAINT value_below_1000 CHECK (value < 1000)")
    bad = [Sample("AIT-100", T0 + k * MS, 5000.0 + k) for k in range(3)]
    after = series("AIT-100", T0 + timedelta(minutes=1), 250 * MS, 20)
    w = HistorianWriter(historian_db, fast_config(), state_dir=tmp_path, tags=tag_configs(1))
    await w.start()
    w.submit(bad)
    await w.flush(10)
    w.submit(after)
    await w.flush(10)
    await w.stop()
    assert stored_rows(historian_db) == as_rows(after)
    [entry] = w.quarantine.entries()
    assert entry.samples == tuple(bad) and "23514" in entry.reason and "value_below_1000" in entry.reason
    assert w.stats().batches_quarantined == 1 and w.stats().batches_written == 1


async def test_database_away_everything_is_spooled_then_replayed_in_order(
        historian_db: str, tmp_path: Path) -> None:
    samples = _plant(2, 2000)
    acked: list[int] = []
    cfg = fast_config(batch_max_rows=100)
    away = HistorianWriter(unreachable_url(), cfg, state_dir=tmp_path, tags=tag_configs(2),
                           settings=WriterSettings(queue_max_batches=3), on_durable=acked.append)
    await away.start()
    for k in range(0, len(samples), 50):
        away.submit(samples[k:k + 50])  # never blocks: the full queue spills to the spool
    await away.stop(drain_timeout_s=0.5)
    st = away.stats()
    assert st.rows_spooled == 4000 and st.spool_pending_rows == 4000 and st.rows_written == 0
    assert acked[-1] == st.submitted_seq and acked == sorted(acked)
    assert st.outages == 1 and "cannot reach the database" in st.last_error

    back = HistorianWriter(historian_db, cfg, state_dir=tmp_path, tags=tag_configs(2), settings=FAST_RECONNECT)
    await back.start()
    await back.flush(30)
    await back.stop()
    assert stored_rows(historian_db) == as_rows(samples)
    assert back.stats().batches_replayed == 40 and back.stats().spool_pending_batches == 0


async def test_a_full_spool_drops_the_oldest_and_counts_it(historian_db: str, tmp_path: Path) -> None:
    samples = series("AIT-100", T0, MS, 120_000)  # 19 B a row: ≈ 2.2 MiB for a 1 MiB spool
    cfg = fast_config(batch_max_rows=2000, spool_max_bytes=1024 * 1024)
    away = HistorianWriter(unreachable_url(), cfg, state_dir=tmp_path, tags=tag_configs(1),
                           settings=WriterSettings(queue_max_batches=1))
    await away.start()
    for k in range(0, len(samples), 2000):
        away.submit(samples[k:k + 2000])
    await away.stop(drain_timeout_s=0.2)
    st = away.stats()
    assert st.rows_dropped > 0 and st.spool_bytes <= 1024 * 1024
    assert st.rows_dropped + st.spool_pending_rows == 120_000
    back = HistorianWriter(historian_db, cfg, state_dir=tmp_path, tags=tag_configs(1), settings=FAST_RECONNECT)
    await back.start()
    await back.flush(30)
    await back.stop()
    kept = stored_rows(historian_db)
    assert as_rows(samples[st.rows_dropped:]) == kept  # the oldest went, the newest stayed


@pytest.mark.parametrize("backlog", ["in memory", "in the spool"])
async def test_a_refused_batch_inside_a_merged_backlog_is_quarantined_alone(
        private_historian_db: str, tmp_path: Path, backlog: str) -> None:
    url = private_historian_db
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER TABLE samples ADD CONSTRAINT value_below_1000 CHECK (value < 1000)")
    good1 = series("AIT-100", T0, 250 * MS, 100)
    bad = [Sample("AIT-100", T0 + timedelta(minutes=5) + k * MS, 5000.0) for k in range(100)]
    good2 = series("AIT-100", T0 + timedelta(minutes=10), 250 * MS, 100)
    cfg = fast_config(batch_max_rows=100)
    if backlog == "in the spool":
        away = HistorianWriter(unreachable_url(), cfg, state_dir=tmp_path, tags=tag_configs(1))
        for b in (good1, bad, good2):
            away.submit(b)
        await away.start()
        await away.stop(drain_timeout_s=0.2)
        assert away.stats().spool_pending_batches == 3
    w = HistorianWriter(url, cfg, state_dir=tmp_path, tags=tag_configs(1), settings=FAST_RECONNECT)
    if backlog == "in memory":
        for b in (good1, bad, good2):  # sealed before the writer runs: one merged transaction is tried
            w.submit(b)
    await w.start()
    await w.flush(30)
    await w.stop()
    assert stored_rows(url) == as_rows(good1 + good2)
    [entry] = w.quarantine.entries()
    assert entry.samples == tuple(bad) and "value_below_1000" in entry.reason
    st = w.stats()
    assert st.batches_written == 2 and st.batches_quarantined == 1 and st.rows_written == 200


async def test_a_backlog_is_stored_in_one_transaction_per_group(historian_db: str, tmp_path: Path) -> None:
    data = series("AIT-100", T0, 250 * MS, 2000)
    w = HistorianWriter(historian_db, fast_config(batch_max_rows=100), state_dir=tmp_path, tags=tag_configs(1),
                        settings=WriterSettings(group_max_batches=16, group_max_rows=1000))
    for k in range(0, 2000, 100):
        w.submit(data[k:k + 100])  # 20 sealed batches wait before the writer runs
    await w.start()
    await w.flush(30)
    await w.stop()
    assert stored_rows(historian_db) == as_rows(data)
    st = w.stats()
    assert st.batches_written == 20 and st.transactions == 2  # groups of ≤ 1 000 rows


async def test_an_empty_submit_is_not_acknowledged_before_earlier_samples(tmp_path: Path) -> None:
    acked: list[int] = []
    w = HistorianWriter(unreachable_url(), fast_config(batch_max_rows=10), state_dir=tmp_path,
                        tags=tag_configs(1), on_durable=acked.append)
    assert w.submit(series("AIT-100", T0, MS, 10)) == 1  # sealed, waiting in memory (writer not started)
    assert w.submit([]) == 2
    with pytest.raises(TimeoutError):
        await w.flush(0.05)  # seals the open batch; nothing stores it yet
    assert acked == []  # acknowledging seq 2 would claim seq 1 durable
    await w.start()
    await w.stop(drain_timeout_s=0.2)  # the database is away: spooled, hence durable
    assert acked == [2]


def test_unwritable_spool_holds_batches_in_memory_then_drops_oldest_counted(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    w = HistorianWriter(unreachable_url(), fast_config(batch_max_rows=10), state_dir=tmp_path,
                        tags=tag_configs(1), settings=WriterSettings(queue_max_batches=2))

    def disk_full(items: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(w.spool, "append_many", disk_full)
    for k in range(20):
        w.submit(series("AIT-100", T0 + k * timedelta(seconds=1), MS, 10))  # never raises
    st = w.stats()
    assert st.queue_batches == 8 and st.batches_dropped == 12 and st.rows_dropped == 120
    assert "No space left on device" in st.last_error and st.durable_seq == 0


async def test_samples_that_cannot_be_spooled_are_quarantined_not_raised(tmp_path: Path) -> None:
    ok = series("AIT-100", T0, MS, 8)
    text_value = Sample("AIT-100", T0 + timedelta(seconds=1), "7.1")  # type: ignore[arg-type]
    big_quality = Sample("AIT-100", T0 + timedelta(seconds=2), 7.2, 300)  # type: ignore[arg-type]
    w = HistorianWriter(unreachable_url(), fast_config(batch_max_rows=10), state_dir=tmp_path,
                        tags=tag_configs(1), settings=WriterSettings(queue_max_batches=1))
    w.submit([*ok, text_value, big_quality])  # sealed; the full queue spills it at once
    w.submit(series("AIT-100", T0 + timedelta(seconds=3), MS, 10))
    st = w.stats()
    assert st.spool_pending_rows == 18 and st.rows_quarantined == 2
    [entry] = w.quarantine.entries()
    assert entry.reason.startswith("cannot be spooled") and [s.ts for s in entry.samples] == [
        text_value.ts, big_quality.ts]
    assert math.isnan(entry.samples[0].value) and entry.samples[1].quality is Quality.BAD
