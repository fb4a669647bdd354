"""Which address a request came from: the TCP peer, and X-Forwarded-For only when the peer is a trusted proxy.

uvicorn's own proxy handling is switched off (api.server_limits): by default no header is believed, so a client
cannot choose the address the audit trail records or the login throttle counts.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from functools import lru_cache

from starlette.requests import HTTPConnection

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class ClientAddress:
    peer: str  # the TCP peer (the proxy, when one is trusted)
    forwarded: str | None  # the client address the trusted proxy reports

    @property
    def effective(self) -> str:
        """The address to throttle and to show: the forwarded one when a trusted proxy gave it."""
        return self.forwarded or self.peer

    @property
    def for_audit(self) -> str:
        """Both addresses when a proxy forwarded the request: '203.0.113.7 via 127.0.0.1'."""
        return f"{self.forwarded} via {self.peer}" if self.forwarded else self.peer


@lru_cache(maxsize=64)
def parse_networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    """'127.0.0.1', '10.0.0.0/8', '::1' → networks; a bad entry is a ValueError naming it."""
    out: list[Network] = []
    for entry in entries:
        try:
            out.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"trusted proxy {entry!r} is not an IP address or network") from None
    return tuple(out)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    ip = _ip(address)
    return ip is not None and any(ip in n for n in networks)


def client_address(conn: HTTPConnection, trusted_proxies: tuple[str, ...] | list[str]) -> ClientAddress:
    """The rightmost X-Forwarded-For hop that is not itself a trusted proxy, if the peer is trusted."""
    peer = conn.client.host if conn.client else ""
    networks = parse_networks(tuple(trusted_proxies))
    if not networks or not _trusted(peer, networks):
        return ClientAddress(peer, None)
    hops = [h.strip() for v in conn.headers.getlist("x-forwarded-for") for h in v.split(",") if h.strip()]
    for hop in reversed(hops):
        if _ip(hop) is None:  # garbage in the header: believe nothing beyond the proxy
            return ClientAddress(peer, None)
        if not _trusted(hop, networks):
            return ClientAddress(peer, str(_ip(hop)))
    return ClientAddress(peer, None)
