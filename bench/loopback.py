"""Whether a load test's target is this machine (shared by the locustfile and its seeder)."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit


def host_is_loopback(host: str | None) -> bool:
    """Whether ``host`` (a URL or host[:port]) names this machine: localhost, 127.0.0.0/8
    or ::1.

    Names other than ``localhost`` are not resolved: a name that resolves to loopback
    today may not tomorrow, so only the literal forms count.
    """
    if not host:
        return False
    name = urlsplit(host if "://" in host else f"http://{host}").hostname
    if name is None:
        return False
    if name.rstrip(".").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
