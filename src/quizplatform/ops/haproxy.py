"""HAProxy: render the configuration and drive servers through the runtime API.

The runtime API (the admin stats socket) changes a server's address, weight and state
without a reload, so scaling and deploys never drop a connection.
"""

from __future__ import annotations

import csv
import io
import secrets
import socket
from dataclasses import dataclass
from pathlib import Path

from quizplatform.ops.process import OpsError, run, which, write_private
from quizplatform.ops.templates import render

BACKENDS = ("app", "candidate")
CANDIDATE_ACL = "candidate.acl"
DATABASE_BACKENDS = ("pg_leader", "pg_replicas")
CANARY_ACL = "canary.acl"  # in the run directory, beside the stats socket
# How the runtime API says no (it answers in prose, with no status code).
_REFUSALS = (
    "unknown command",
    "no such",
    "require",
    "invalid",
    "can only be",
    "must be",
    "expects",
    "not found",
    "unknown keyword",
    "error",
)


@dataclass(frozen=True)
class ServerState:
    """One server slot as HAProxy sees it (from ``show stat``)."""

    backend: str
    name: str
    status: str  # UP, DOWN, MAINT, DRAIN, "UP 1/2", ...
    weight: int
    current_sessions: int
    address: str

    @property
    def up(self) -> bool:
        return self.status == "UP" or self.status.startswith("UP ")


@dataclass(frozen=True)
class DatabaseMember:
    """A database member as HAProxy routes to it: PostgreSQL's port, Patroni's port."""

    name: str
    pg_port: int
    api_port: int


@dataclass(frozen=True)
class DatabaseRouting:
    """HAProxy's database frontends (write: the leader; read: the replicas)."""

    write_port: int
    read_port: int
    members: tuple[DatabaseMember, ...]
    check_interval_ms: int = 500
    max_lag_bytes: int = 16 * 1024 * 1024


@dataclass(frozen=True)
class DnsDiscovery:
    """HAProxy in front of replicas found through DNS (Docker Compose): nothing fills
    server slots through the runtime API there, so ``server-template`` slots follow the
    addresses Docker's embedded DNS server gives for ``target``'s host name."""

    target: str = "app:8000"  # the service name and the port every replica listens on
    slots: int = 10  # the most replicas HAProxy routes to
    resolver: str = "127.0.0.11:53"  # Docker's embedded DNS server
    https_port: int = 8443  # unprivileged ports inside the container
    http_port: int = 8080
    stats_port: int = 8404  # stats page and Prometheus exporter, for the internal network
    tls_bundle: str = "/run/secrets/tls_bundle"  # certificate chain + key, one PEM file
    run_dir: str = "/var/lib/haproxy"  # the stats socket
    check_interval_ms: int = 2000

    def __post_init__(self) -> None:
        host, _, port = self.target.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise OpsError(f"--dns wants SERVICE:PORT (e.g. app:8000), not {self.target!r}")
        if not 0 < self.slots <= 1000:
            raise OpsError(f"slots must be 1..1000, not {self.slots}")


def render_dns_config(discovery: DnsDiscovery) -> str:
    """The text of haproxy.cfg for Docker Compose (``quiz stack render-haproxy --dns``):
    the one-host stack's front door and pools, with DNS service discovery instead of
    slots filled through the runtime API, and neither candidate pool nor database."""
    d = discovery
    return render(
        "haproxy/haproxy.cfg.j2",
        dns=d.target,
        resolver=d.resolver,
        public_address="*",
        stats_address="*",
        run_dir=d.run_dir,
        tls_bundle=d.tls_bundle,
        https_port=d.https_port,
        http_port=d.http_port,
        stats_port=d.stats_port,
        slots=d.slots,
        check_interval=f"{d.check_interval_ms}ms",
        fast_interval=f"{max(100, d.check_interval_ms // 4)}ms",
        db_members=[],
    )


def slot_name(slot: int) -> str:
    """The server name HAProxy's server-template gives slot ``slot`` (1-based)."""
    return f"app{slot}"


def render_config(
    path: Path,
    *,
    run_dir: Path,
    tls_bundle: Path,
    https_port: int,
    http_port: int,
    stats_port: int,
    slots: int,
    check_interval_ms: int,
    database: DatabaseRouting | None = None,
    public_address: str = "127.0.0.1",
) -> None:
    """Write haproxy.cfg from deploy/haproxy/haproxy.cfg.j2 and check it with ``haproxy -c``.

    With ``database``, HAProxy also routes PostgreSQL: a write frontend to the Patroni
    leader and a read frontend to the replicas."""
    (run_dir / CANARY_ACL).touch()
    candidate_key(run_dir)
    text = one_host_config(
        run_dir=run_dir,
        tls_bundle=tls_bundle,
        https_port=https_port,
        http_port=http_port,
        stats_port=stats_port,
        slots=slots,
        check_interval_ms=check_interval_ms,
        database=database,
        public_address=public_address,
    )
    write_private(path, text, mode=0o640)
    run([which("haproxy", "/usr/sbin"), "-c", "-q", "-f", path], what="haproxy -c")


def one_host_config(
    *,
    run_dir: Path,
    tls_bundle: Path,
    https_port: int,
    http_port: int,
    stats_port: int,
    slots: int,
    check_interval_ms: int,
    database: DatabaseRouting | None = None,
    public_address: str = "127.0.0.1",
) -> str:
    """The text of the one-host stack's haproxy.cfg (``render_config`` writes it)."""
    return render(
        "haproxy/haproxy.cfg.j2",
        dns=None,
        stats_address="127.0.0.1",
        public_address=public_address,
        run_dir=run_dir,
        tls_bundle=tls_bundle,
        https_port=https_port,
        http_port=http_port,
        stats_port=stats_port,
        slots=slots,
        check_interval=f"{check_interval_ms}ms",
        fast_interval=f"{max(100, check_interval_ms // 4)}ms",
        db_members=database.members if database else [],
        pg_write_port=database.write_port if database else 0,
        pg_read_port=database.read_port if database else 0,
        db_check_interval=f"{database.check_interval_ms}ms" if database else "",
        db_max_lag_bytes=database.max_lag_bytes if database else 0,
    )


def candidate_key(run_dir: Path) -> str:
    """The value of ``X-Quiz-Pool`` that reaches the candidate pool: made once per stack
    (``secrets``, 128 bits) and kept in ``candidate.acl`` (0600), HAProxy's pattern file.
    Without it, anyone could reach a release that is not deployed yet."""
    acl = run_dir / CANDIDATE_ACL
    if acl.exists() and acl.read_text().strip():
        return acl.read_text().strip()
    key = f"candidate-{secrets.token_hex(16)}"
    write_private(acl, key + "\n", mode=0o600)
    return key


class HaproxyRuntime:
    """A client for HAProxy's runtime API on a unix socket."""

    def __init__(self, socket_path: Path, state_file: Path | None = None) -> None:
        self.socket_path = socket_path
        self.state_file = state_file

    def command(self, *commands: str) -> str:
        """Send commands (run in one go, separated by ';') and return the answer."""
        line = ";".join(commands) + "\n"
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(5)
                sock.connect(str(self.socket_path))
                sock.sendall(line.encode())
                chunks = []
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
        except OSError as exc:
            raise OpsError(f"HAProxy runtime API at {self.socket_path}: {exc}") from exc
        answer = b"".join(chunks).decode(errors="replace")
        lowered = answer.lower()
        changes = not all(c.startswith("show ") for c in commands)
        if changes and any(marker in lowered for marker in _REFUSALS):
            raise OpsError(f"HAProxy refused {line.strip()!r}: {answer.strip()}")
        return answer

    def enable(self, backend: str, slot: int, port: int, weight: int = 100) -> None:
        """Point a slot at 127.0.0.1:port with ``weight`` and take it out of maintenance."""
        if not 0 < port < 65536 or not 0 <= weight <= 256:
            raise OpsError(f"bad port {port} or weight {weight} for {backend} slot {slot}")
        server = f"{backend}/{slot_name(slot)}"
        self.command(
            f"set server {server} addr 127.0.0.1 port {port}",
            f"set server {server} weight {weight}",
            f"set server {server} state ready",
            f"set server {server} health up",
        )
        self.save_state()

    def set_weights(self, weights: dict[tuple[str, int], int]) -> None:
        """Set several weights in one runtime API call (one atomic traffic switch)."""
        self.command(
            *(f"set server {b}/{slot_name(s)} weight {w}" for (b, s), w in weights.items())
        )
        self.save_state()

    def set_canary_share(self, percent: int) -> None:
        """Send ``percent`` % of requests (chosen at random, per request) to the candidate
        backend; 0 sends none. The ACL file is rewritten too, for restarts."""
        if not 0 <= percent <= 100:
            raise OpsError(f"canary share must be 0..100, not {percent}")
        acl_file = self.socket_path.parent / CANARY_ACL
        commands = [f"clear acl {acl_file}"]
        if percent > 0:
            commands.append(f"add acl {acl_file} 0:{percent - 1}")
        self.command(*commands)
        acl_file.write_text(f"0:{percent - 1}\n" if percent > 0 else "")

    def drain(self, backend: str, slot: int) -> None:
        """No new requests for this slot; requests in flight finish."""
        self.command(f"set server {backend}/{slot_name(slot)} state drain")
        self.save_state()

    def disable(self, backend: str, slot: int) -> None:
        """Put the slot in maintenance (no traffic, no health checks)."""
        self.command(f"set server {backend}/{slot_name(slot)} state maint")
        self.save_state()

    def servers(self, backends: tuple[str, ...] = BACKENDS) -> list[ServerState]:
        """Every server slot of ``backends`` (the app's), with status, weight, sessions."""
        text = self.command("show stat").lstrip("# ")
        rows = csv.DictReader(io.StringIO(text))
        servers = []
        for row in rows:
            if row.get("svname") in ("FRONTEND", "BACKEND") or row.get("pxname") not in backends:
                continue
            servers.append(
                ServerState(
                    backend=row["pxname"],
                    name=row["svname"],
                    status=row["status"],
                    weight=int(row["weight"] or 0),
                    current_sessions=int(row["scur"] or 0),
                    address=row.get("addr", ""),
                )
            )
        return servers

    def server(self, backend: str, slot: int) -> ServerState | None:
        """One slot's state, or None when HAProxy does not know it."""
        name = slot_name(slot)
        return next((s for s in self.servers() if s.backend == backend and s.name == name), None)

    def save_state(self) -> None:
        """Dump the servers' runtime state to the server-state-file, so that a restart
        or reload of HAProxy comes back with the same addresses, weights and states."""
        if self.state_file is None:
            return
        state = self.command("show servers state")
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(state)
        tmp.replace(self.state_file)
