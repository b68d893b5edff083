"""Who is on the other end: the client's address and whether the request came over TLS.

``X-Forwarded-For`` and ``X-Forwarded-Proto`` are believed only when the peer is one of
the configured trusted proxies (e.g. the load balancer); anyone else could forge them.
"""

from __future__ import annotations

from quizplatform.runtime.addresses import in_networks


def is_trusted(address: str, trusted: tuple[str, ...]) -> bool:
    return in_networks(address, trusted)


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
