"""Is an address in a configured list of addresses and networks (``["10.0.0.0/8"]``)?

Used for the trusted proxies (``api/forwarded.py``) and for the shared addresses, such as
a school's NAT address, whose per-address limits are raised (``Settings.shared_addresses``).
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=64)
def _networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(e, strict=False) for e in entries)


def in_networks(address: str, entries: tuple[str, ...]) -> bool:
    """Whether ``address`` is one of ``entries`` (addresses or networks, validated by the
    settings); False for anything that is not an IP address."""
    if not entries:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in _networks(entries))
