"""Trends over HTTP: bucket aggregates checked against the samples written, from raw and from rollups; CSV."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from plantctl.quality import Quality
from plantctl.samples import Sample, utcnow
from tests.api.conftest import Service

TAG = "TIT-101"
STEP = timedelta(seconds=10)


def _value(i: int) -> float:
    return 15.0 + (i * 7 % 23) * 0.5


@pytest.fixture(scope="module")
def history(service: Service) -> tuple[datetime, list[Sample]]:
    """Two hours of TIT-101 every 10 s, ending an hour ago; every 50th sample Bad (excluded from aggregates)."""
    start = utcnow().replace(minute=0, second=0, microsecond=0) - timedelta(hours=3)
    samples = [Sample(TAG, start + i * STEP, _value(i), Quality.BAD_SENSOR_FAILURE if i % 50 == 0 else Quality.GOOD)
               for i in range(720)]
    server = service.server
    server.publish(samples)
    assert server.historian is not None
    server.run(server.historian.writer.flush())
    return start, samples


def _expected(samples: list[Sample], start: datetime, width: timedelta) -> list[dict[str, Any]]:
    out: dict[datetime, list[Sample]] = {}
    for s in samples:
        out.setdefault(start + (s.ts - start) // width * width, []).append(s)
    rows = []
    for b, group in sorted(out.items()):
        good = [s.value for s in group if s.quality.is_good]
        rows.append({"ts": b, "min": min(good), "max": max(good), "avg": sum(good) / len(good), "first": good[0],
                     "last": good[-1], "count": len(group), "good_count": len(good)})
    return rows


def _get(service: Service, **params: Any) -> Any:
    with service.client() as c:
        r = c.get("/api/v1/trends", params=params, headers=service.sessions["viewer"].bearer)
    assert r.status_code == 200, r.text
    return r.json()


def _check(series: dict[str, Any], expected: list[dict[str, Any]]) -> None:
    got = series["buckets"]
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert datetime.fromisoformat(g["ts"]) == e["ts"]
        for k in ("min", "max", "first", "last", "count", "good_count"):
            assert g[k] == e[k], (k, g, e)
        assert g["avg"] == pytest.approx(e["avg"], rel=1e-12)


def test_trend_from_raw_matches_the_samples(service: Service, history: tuple[datetime, list[Sample]]) -> None:
    start, samples = history
    body = _get(service, tag=TAG, start=start.isoformat(), end=(start + timedelta(hours=2)).isoformat(), points=12,
                source="raw")
    (series,) = body["series"]
    assert series["unit"] == "degC" and series["source"] == "raw" and series["bucket_s"] == 600
    _check(series, _expected(samples, start, timedelta(minutes=10)))


def test_trend_from_rollups_matches_raw(service: Service, history: tuple[datetime, list[Sample]]) -> None:
    start, samples = history
    assert service.server.historian is not None
    service.server.run(service.server.historian.run_rollups())
    end = (start + timedelta(hours=2)).isoformat()
    minute = _get(service, tag=TAG, start=start.isoformat(), end=end, points=12)["series"][0]
    assert minute["source"] == "1m"
    _check(minute, _expected(samples, start, timedelta(minutes=10)))
    hour = _get(service, tag=TAG, start=start.isoformat(), end=end, points=2)["series"][0]
    assert hour["source"] == "1h" and hour["bucket_s"] == 3600
    _check(hour, _expected(samples, start, timedelta(hours=1)))


def test_trend_csv_export(service: Service, history: tuple[datetime, list[Sample]]) -> None:
    start, samples = history
    with service.client() as c:
        r = c.get("/api/v1/trends/csv", params={"tag": f"{TAG},AIT-101", "start": start.isoformat(),
                                                "end": (start + timedelta(hours=2)).isoformat(), "points": 4,
                                                "source": "raw"},
                  headers=service.sessions["viewer"].bearer)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    tit = [row for row in rows if row["tag"] == TAG]
    expected = _expected(samples, start, timedelta(minutes=30))
    assert len(tit) == len(expected)
    for row, e in zip(tit, expected, strict=True):
        assert row["unit"] == "degC" and datetime.fromisoformat(row["ts"]) == e["ts"]
        assert float(row["min"]) == e["min"] and float(row["max"]) == e["max"] and int(row["count"]) == e["count"]


@pytest.mark.parametrize("params,status,fragment", [
    ({"tag": "NOPE-9"}, 404, "NOPE-9"),
    ({"start": "2026-01-01T00:00:00"}, 422, "start"),  # naive: no time zone
    ({"end": "2020-01-01T00:00:00Z"}, 422, "not before end"),
    ({"points": 0}, 422, "points"),
    ({"points": 1000, "source": "1h"}, 422, "finer than the 1h rollup"),
])
def test_trend_bad_requests_are_problems(service: Service, params: dict[str, Any], status: int,
                                         fragment: str) -> None:
    base = {"tag": TAG, "start": "2026-01-01T00:00:00Z", "end": "2026-01-02T00:00:00Z", "points": 100}
    with service.client() as c:
        r = c.get("/api/v1/trends", params=base | params, headers=service.sessions["viewer"].bearer)
    assert r.status_code == status
    assert r.headers["content-type"] == "application/problem+json"
    assert fragment in r.text


def test_trend_needs_authentication(service: Service) -> None:
    now = datetime.now(UTC)
    with service.client() as c:
        r = c.get("/api/v1/trends", params={"tag": TAG, "start": (now - timedelta(hours=1)).isoformat(),
                                            "end": now.isoformat()})
    assert r.status_code == 401
