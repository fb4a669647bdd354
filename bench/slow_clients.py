"""Slow-client bench: how many half-sent connections the served app still holds after the head deadline, and
what the guard costs per request, against plain uvicorn (the baseline) in the same run.

Serves a trivial ASGI app twice on loopback: through api.server_limits.uvicorn_config (the guard) and through a
default uvicorn.Config. For each: opens N connections that send half a request head and stop, waits the head
deadline plus slack and counts the connections still open; then times sequential keep-alive GETs.
Prints progress, then ONE JSON object on the last line. --quick: fewer connections and requests (< 60 s).
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.server_limits import uvicorn_config
from api.settings import ApiSettings

HEAD_TIMEOUT_S = 2.0


async def hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The smallest HTTP app: the bench measures the server around it, not an endpoint."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


class Served:
    """uvicorn on 127.0.0.1:<free port> in a thread of its own, like the service's own event loop."""

    def __init__(self, config: uvicorn.Config) -> None:
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)


def held_after_deadline(address: str, n: int) -> int:
    """Open n connections sending half a head; after the deadline + slack, how many the server kept open."""
    host, port = address.split(":")
    socks = []
    for _ in range(n):
        s = socket.create_connection((host, int(port)), timeout=10)
        s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        socks.append(s)
    time.sleep(HEAD_TIMEOUT_S + 2.0)
    still_open = 0
    for s in socks:
        s.setblocking(False)
        try:
            still_open += s.recv(1) != b""
        except BlockingIOError:  # nothing to read and not closed: the server still holds it
            still_open += 1
        except OSError:
            pass
        s.close()
    return still_open


def request_latency_ms(address: str, n: int) -> list[float]:
    out = []
    with httpx.Client(base_url=f"http://{address}", timeout=10) as c:
        for _ in range(n):
            t0 = time.perf_counter()
            c.get("/").raise_for_status()
            out.append((time.perf_counter() - t0) * 1000)
    return out


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="fewer connections and requests (< 60 s)")
    args = ap.parse_args()
    conns, requests = (100, 1000) if args.quick else (500, 5000)
    settings = ApiSettings(header_timeout_s=HEAD_TIMEOUT_S, max_connections=100_000)
    configs = {
        "guard": uvicorn_config(hello, settings, host="127.0.0.1", port=0, log_level="warning", lifespan="off"),
        "baseline": uvicorn.Config(hello, host="127.0.0.1", port=0, log_level="warning", lifespan="off"),
    }
    result: dict[str, Any] = {"bench": "slow_clients", "quick": args.quick, "connections": conns,
                              "requests": requests, "head_timeout_s": HEAD_TIMEOUT_S}
    lat: dict[str, list[float]] = {name: [] for name in configs}
    with Served(configs["guard"]) as guard, Served(configs["baseline"]) as baseline:
        addresses = {"guard": guard, "baseline": baseline}
        for name, address in addresses.items():
            held = held_after_deadline(address, conns)
            print(f"{name}: {held}/{conns} half-sent connections still open {HEAD_TIMEOUT_S + 2:g} s later",
                  flush=True)
            result[f"{name}_held_after_deadline"] = held
            request_latency_ms(address, 50)  # warm up
        for _ in range(requests // 100):  # interleaved rounds: both see the same load from the rest of the machine
            for name, address in addresses.items():
                lat[name] += request_latency_ms(address, 100)
    for name in configs:
        print(f"{name}: GET p50 {p(lat[name], 50):.3f} ms, p99 {p(lat[name], 99):.3f} ms", flush=True)
        result[f"{name}_p50_ms"] = round(p(lat[name], 50), 3)
        result[f"{name}_p99_ms"] = round(p(lat[name], 99), 3)
    result["p50_ratio_guard_vs_baseline"] = round(result["guard_p50_ms"] / result["baseline_p50_ms"], 3)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
