"""Live values: the snapshot, and the SSE stream's latency, filter, authentication and Origin check."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from plantctl.quality import Quality
from plantctl.samples import Sample, utcnow
from tests.api.conftest import Service


def sse_events(response: httpx.Response) -> Iterator[tuple[str, Any]]:
    """(event, parsed data) per Server-Sent Event (WHATWG HTML §9.2.6 field parsing)."""
    event, data = "message", []
    for line in response.iter_lines():
        if line == "":
            if data:
                yield event, json.loads("\n".join(data))
            event, data = "message", []
        elif line.startswith(":"):
            continue
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)


def _stream(c: httpx.Client, **kw: Any) -> Any:
    return c.stream("GET", "/api/v1/live/stream", timeout=httpx.Timeout(10, read=5), **kw)


def test_stream_delivers_a_fresh_sample_within_one_second(service: Service) -> None:
    with service.client() as c, _stream(c, params={"tag": "AIT-101"},
                                        headers=service.sessions["viewer"].bearer) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = sse_events(r)
        assert next(events)[0] == "subscribed"
        marker = 7.123456
        t0 = time.monotonic()
        service.server.publish([Sample("AIT-101", utcnow(), marker, Quality.GOOD)])
        for kind, data in events:
            if kind == "sample" and data["value"] == marker:
                break
        latency_s = time.monotonic() - t0
    assert latency_s < 1.0
    assert data["tag"] == "AIT-101" and data["unit"] == "pH"
    assert data["quality"] == {"code": 192, "name": "GOOD", "reason": "good", "good": True}
    assert datetime.fromisoformat(data["ts"]).utcoffset() is not None


def test_stream_filters_tags_and_carries_quality_reason(service: Service) -> None:
    with service.client() as c, _stream(c, params={"tag": "LIT-101"}, headers=service.sessions["viewer"].bearer) as r:
        events = sse_events(r)
        assert next(events)[0] == "subscribed"
        # the current value of LIT-101 may come first as part of the snapshot; then only new samples
        service.server.publish([Sample("FIT-100", utcnow(), 5.0, Quality.GOOD),
                                Sample("LIT-101", utcnow(), 42.0, Quality.BAD_COMM_FAILURE, "Modbus timeout")])
        for kind, data in events:
            assert data["tag"] == "LIT-101"
            if kind == "sample" and data["value"] == 42.0:
                break
    assert data["quality"]["code"] == int(Quality.BAD_COMM_FAILURE)
    assert data["quality"]["reason"] == "Modbus timeout" and data["quality"]["good"] is False


@pytest.mark.parametrize("how", ["query-token", "cookie"])
def test_stream_accepts_query_token_and_cookie(service: Service, how: str) -> None:
    s = service.sessions["viewer"]
    kw: dict[str, Any] = ({"params": {"access_token": s.token}} if how == "query-token"
                          else {"headers": s.cookie_headers(csrf=False)})
    with service.client() as c, _stream(c, **kw) as r:
        assert r.status_code == 200
        assert next(sse_events(r))[0] == "subscribed"


@pytest.mark.parametrize("headers,params", [({}, {}), ({"Authorization": "Bearer pcs_forged"}, {}),
                                            ({}, {"access_token": "pct_forged"})],
                         ids=["none", "bad-bearer", "bad-query-token"])
def test_stream_refuses_unauthenticated(service: Service, headers: dict[str, str], params: dict[str, str]) -> None:
    with service.client() as c, _stream(c, headers=headers, params=params) as r:
        r.read()
        assert r.status_code == 401
        assert r.headers["content-type"] == "application/problem+json"


def test_stream_refuses_a_cross_origin_browser_and_accepts_its_own(service: Service) -> None:
    s = service.sessions["viewer"]
    with service.client() as c:
        with _stream(c, headers=s.cookie_headers(csrf=False) | {"Origin": "https://evil.example"}) as r:
            r.read()
            assert r.status_code == 403 and r.json()["type"] == "urn:plantctl:problem:origin"
        with _stream(c, headers=s.bearer | {"Origin": service.base_url}) as r:
            assert r.status_code == 200


def test_stream_unknown_tag_is_404(service: Service) -> None:
    with service.client() as c, _stream(c, params={"tag": "NOPE-1"}, headers=service.sessions["viewer"].bearer) as r:
        r.read()
        assert r.status_code == 404


def test_closed_stream_releases_its_bus_subscription(service: Service) -> None:
    assert service.server.runtime is not None
    bus = service.server.runtime.bus

    def live_subscriptions() -> set[str]:
        return {n for n in service.server.call(bus.stats) if n.startswith("api-live-")}

    before = live_subscriptions()  # streams of earlier tests may still be closing: judge this stream's own
    with service.client() as c, _stream(c, headers=service.sessions["viewer"].bearer) as r:
        events = sse_events(r)  # keep it referenced: a discarded iterator closes the connection (httpx)
        assert next(events)[0] == "subscribed"
        mine = live_subscriptions() - before
        assert mine, f"no live subscription while the stream is open: {service.server.call(bus.stats)}"
    deadline = time.monotonic() + 5
    while mine & live_subscriptions() and time.monotonic() < deadline:
        service.server.publish([Sample("TIT-101", utcnow(), 20.0)])  # wakes the producer so it sees the close
        time.sleep(0.05)
    assert not mine & live_subscriptions()


def test_snapshot_has_newest_value_with_unit_quality_and_utc_time(service: Service) -> None:
    ts = utcnow()
    service.server.publish([Sample("CIT-101", ts, 12.5, Quality.UNCERTAIN_SENSOR_NOT_ACCURATE)])
    with service.client() as c:
        r = c.get("/api/v1/live", params={"tag": "CIT-101"}, headers=service.sessions["viewer"].bearer)
        assert c.get("/api/v1/live").status_code == 401
    values = r.json()["values"]
    assert len(values) == 1
    v = values[0]
    assert v["tag"] == "CIT-101" and v["value"] == 12.5 and v["unit"] == "mS/cm"
    assert v["quality"]["code"] == 0x50 and v["quality"]["reason"] == "uncertain: sensor not accurate"
    assert datetime.fromisoformat(v["ts"]) == ts
