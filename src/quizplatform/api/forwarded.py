"""Who is on the other end: the client's address and whether the request came over TLS.

``X-Forwarded-For`` and ``X-Forwarded-Proto`` are believed only when the peer is one of
the configured trusted proxies (e.g. the load balancer); anyone else could forge them.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=64)
def _networks(trusted: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(t, strict=False) for t in trusted)


def is_trusted(address: str, trusted: tuple[str, ...]) -> bool:
    if not trusted:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in _networks(trusted))


def client_address(peer: str, forwarded_for: str, trusted: tuple[str, ...]) -> str:
    """The rightmost address of ``X-Forwarded-For`` that is not a trusted proxy."""
    if not is_trusted(peer, trusted):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not is_trusted(hop, trusted):
            return hop
    return hops[0] if hops else peer


def served_over_tls(scheme: str, peer: str, forwarded_proto: str, trusted: tuple[str, ...]) -> bool:
    if scheme == "https":
        return True
    return forwarded_proto.lower() == "https" and is_trusted(peer, trusted)
