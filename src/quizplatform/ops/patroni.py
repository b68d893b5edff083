"""PostgreSQL with automatic failover for the one-host stack: Patroni members, etcd as
their store, HAProxy routing by Patroni's REST API.

Each member is one Patroni process (run by the stack's supervisord as the postgres user)
that runs its own PostgreSQL. The members race for a leader key in etcd; the holder is the
primary, the others stream from it, and with ``synchronous_mode`` one of them is a
synchronous standby, so an acknowledged commit is on two nodes. When the leader's node dies
its key expires after ``ttl`` seconds and the synchronous standby takes over; when only
PostgreSQL crashed (or supervisord restarts the whole member at once),
``primary_start_timeout: 0`` makes the old leader hand its key over at once instead of
restarting in place, and it rejoins as a standby, rewound with ``pg_rewind``.

Nothing in the app knows which member leads: HAProxy's write frontend checks every
member's ``GET /primary`` and its read frontend ``GET /replica?lag=...`` (see
``deploy/haproxy/haproxy.cfg.j2``).

Authentication: ``scram-sha-256`` on every TCP connection (``peer`` on the members' own
sockets, which only the postgres user can enter); a superuser, a replication role and a
``pg_rewind`` role for Patroni; the application role ``quiz`` owns the database and its
schema but is no superuser (migrations run as that owner). Passwords are generated once
into 0600 files the postgres user owns (``<data root>/postgres/secrets``).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from quizplatform.ops.postgres import (
    PG_USER,
    PgCluster,
    drain_writes,
    hand_over,
    pg_bin,
    postgres_ids,
    query,
    resume_writes,
)
from quizplatform.ops.process import OpsError, pidfile_process, run, wait_for, which
from quizplatform.ops.supervisor import Program
from quizplatform.ops.templates import deploy_dir

PATRONI_VERSION = "4.1.5"
SCOPE = "quiz"
NAMESPACE = "/service/"
APP_ROLE = "quiz"
APP_DATABASE = "quiz"
SUPERUSER = "postgres"
REPLICATION_ROLE = "replicator"
REWIND_ROLE = "rewinder"
RESTAPI_USER = "patroni"
SECRET_NAMES = ("superuser", "replication", "rewind", "app", "restapi")
# Debian's own Python: the postgres user cannot execute one that lives under /root.
SYSTEM_PYTHON = Path("/usr/bin/python3")
_SCRAM_ITERATIONS = 4096  # PostgreSQL's default (scram_iterations)


@dataclass(frozen=True)
class Timing:
    """Patroni's failure detection: ``loop_wait + 2 * retry_timeout <= ttl`` (Patroni
    enforces it, and a ttl of at least 20 s). A dead leader's key expires after ``ttl``;
    a crashed PostgreSQL under a live Patroni is handed over within ``loop_wait``."""

    ttl: int = 20
    loop_wait: int = 1
    retry_timeout: int = 5


@dataclass(frozen=True)
class Member:
    """One Patroni member: its PostgreSQL port, REST API port and directories."""

    name: str
    pg_port: int
    api_port: int
    root: Path  # <data root>/postgres

    @property
    def data_dir(self) -> Path:
        return self.root / "data" / self.name

    @property
    def socket_dir(self) -> Path:
        return self.root / "sockets" / self.name

    @property
    def config_file(self) -> Path:
        return self.root / "patroni" / f"{self.name}.yml"

    @property
    def pgpass(self) -> Path:
        return self.root / "patroni" / f"{self.name}.pgpass"

    @property
    def log_dir(self) -> Path:
        return self.root / "log" / self.name

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def program(self) -> str:
        """The supervisord program that runs this member's Patroni."""
        return f"patroni-{self.name}"

    def cluster(self) -> PgCluster:
        """This member's PostgreSQL as the ops helpers address it (socket, data dir)."""
        return PgCluster(
            self.name,
            self.data_dir,
            self.pg_port,
            self.socket_dir,
            self.log_dir / "postgresql.log",
        )

    def postmaster_pid(self) -> int | None:
        """The PID of this member's postmaster, when it runs."""
        return pidfile_process(self.data_dir / "postmaster.pid", b"postgres")


@dataclass(frozen=True)
class MemberStatus:
    """One member as Patroni's ``GET /cluster`` reports it."""

    name: str
    role: str  # leader, sync_standby, replica (Patroni's names)
    state: str  # running, streaming, starting, stopped, ...
    timeline: int | None
    lag_bytes: int | None


class PatroniCluster:
    """The members of one stack, their etcd, their configuration and their REST API."""

    def __init__(
        self,
        data_root: Path,
        *,
        members: int,
        pg_base_port: int,
        api_base_port: int,
        etcd_port: int,
        etcd_peer_port: int,
        timing: Timing = Timing(),
        synchronous: bool = True,
        archive_command: Callable[[Member], str] | None = None,
    ) -> None:
        if members < 1:
            raise OpsError("a database needs at least one member")
        self.root = Path(data_root) / "postgres"
        self.etcd_dir = Path(data_root) / "etcd"
        self.members = [
            Member(f"pg{i}", pg_base_port + i, api_base_port + i, self.root)
            for i in range(1, members + 1)
        ]
        self.etcd_port = etcd_port
        self.etcd_peer_port = etcd_peer_port
        self.timing = timing
        self.synchronous = synchronous
        self.archive_command = archive_command

    # -- secrets --------------------------------------------------------------------------
    @property
    def secrets_dir(self) -> Path:
        return self.root / "secrets"

    def secret(self, name: str) -> str:
        """One generated password (created on first use, 0600, owned by postgres)."""
        path = self.secrets_dir / name
        with contextlib.suppress(FileNotFoundError):
            return path.read_text().strip()
        self._prepare_root()
        value = secrets.token_urlsafe(32)
        tmp = path.with_name(f".{name}.tmp")
        tmp.write_text(value + "\n")
        hand_over(tmp, 0o600, postgres_ids())
        os.replace(tmp, path)
        return value

    def app_url(self, port: int) -> str:
        """The application's URL for a frontend on ``port`` (role ``quiz``, password)."""
        return f"postgresql://{APP_ROLE}:{self.secret('app')}@127.0.0.1:{port}/{APP_DATABASE}"

    # -- files ----------------------------------------------------------------------------
    def _prepare_root(self) -> None:
        """``<data root>/postgres`` and its subdirectories, owned by postgres (0700)."""
        ids = postgres_ids()
        self.root.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root.parent, 0o755)  # noqa: S103 - postgres must traverse it
        for directory in (
            self.root,
            self.root / "data",
            self.root / "sockets",
            self.root / "patroni",
            self.root / "log",
            self.secrets_dir,
            *(m.socket_dir for m in self.members),
            *(m.log_dir for m in self.members),
        ):
            directory.mkdir(exist_ok=True)
            hand_over(directory, 0o700, ids)

    def write_configs(self, bootstrap: dict[str, dict[str, Any]] | None = None) -> bool:
        """Write every member's Patroni configuration; True when one changed.

        ``bootstrap`` maps a member's name to extra ``bootstrap`` settings (a custom
        bootstrap method: the point-in-time recovery of ``ops/restore.py``)."""
        self._prepare_root()
        changed = False
        for member in self.members:
            config = self.member_config(member)
            config["bootstrap"].update((bootstrap or {}).get(member.name, {}))
            text = json.dumps(config, indent=2) + "\n"  # JSON is YAML
            with contextlib.suppress(FileNotFoundError):
                if member.config_file.read_text() == text:
                    continue
            tmp = member.config_file.with_name(f".{member.config_file.name}.tmp")
            tmp.write_text(text)
            hand_over(tmp, 0o600, postgres_ids())
            os.replace(tmp, member.config_file)
            changed = True
        return changed

    def dynamic_config(self) -> dict[str, Any]:
        """The cluster-wide settings Patroni keeps in etcd (``bootstrap.dcs``, then
        ``PATCH /config`` on later starts)."""
        parameters: dict[str, Any] = {
            "wal_level": "replica",
            "hot_standby": "on",
            "wal_log_hints": "on",
            "password_encryption": "scram-sha-256",
            "max_connections": 200,
            "max_wal_senders": 10,
            "max_replication_slots": 10,
            "wal_keep_size": "128MB",
            "hot_standby_feedback": "on",
            "archive_mode": "on" if self.archive_command else "off",
        }
        return {
            "ttl": self.timing.ttl,
            "loop_wait": self.timing.loop_wait,
            "retry_timeout": self.timing.retry_timeout,
            "maximum_lag_on_failover": 1024 * 1024,
            "synchronous_mode": self.synchronous,
            "primary_start_timeout": 0,
            # etcd runs on the same host as the members: when it is down for longer than
            # retry_timeout, the leader keeps leading as long as every member confirms
            # it over the REST API, instead of demoting itself (a new timeline for a
            # store outage).
            "failsafe_mode": True,
            "postgresql": {
                "use_pg_rewind": True,
                "use_slots": True,
                "parameters": parameters,
            },
        }

    def member_config(self, member: Member) -> dict[str, Any]:
        """One member's Patroni configuration."""
        parameters: dict[str, Any] = {
            "unix_socket_directories": str(member.socket_dir),
            "unix_socket_permissions": "0700",
            "shared_buffers": "32MB",
            "logging_collector": "on",
            "log_directory": str(member.log_dir),
            "log_filename": "postgresql-%a.log",
            "log_truncate_on_rotation": "on",
            "log_rotation_age": "1d",
            "log_line_prefix": "%m [%p] %q%a ",
        }
        if self.archive_command:
            parameters["archive_command"] = self.archive_command(member)
        return {
            "scope": SCOPE,
            "namespace": NAMESPACE,
            "name": member.name,
            "log": {"level": "INFO"},
            "restapi": {
                "listen": f"127.0.0.1:{member.api_port}",
                "connect_address": f"127.0.0.1:{member.api_port}",
                "authentication": {"username": RESTAPI_USER, "password": self.secret("restapi")},
            },
            "etcd3": {"hosts": [f"127.0.0.1:{self.etcd_port}"]},
            "bootstrap": {
                "dcs": self.dynamic_config(),
                "initdb": [{"encoding": "UTF8"}, {"locale": _locale()}, "data-checksums"],
            },
            "postgresql": {
                "listen": f"127.0.0.1:{member.pg_port}",
                "connect_address": f"127.0.0.1:{member.pg_port}",
                "data_dir": str(member.data_dir),
                "bin_dir": str(pg_bin()),
                "pgpass": str(member.pgpass),
                "authentication": {
                    "superuser": {"username": SUPERUSER, "password": self.secret("superuser")},
                    "replication": {
                        "username": REPLICATION_ROLE,
                        "password": self.secret("replication"),
                    },
                    "rewind": {"username": REWIND_ROLE, "password": self.secret("rewind")},
                },
                "parameters": parameters,
                "pg_hba": [
                    "local all postgres peer",
                    "local replication postgres peer",
                    f"host replication {REPLICATION_ROLE} 127.0.0.1/32 scram-sha-256",
                    "host all all 127.0.0.1/32 scram-sha-256",
                ],
            },
        }

    # -- programs -------------------------------------------------------------------------
    def etcd_program(self, log_dir: Path) -> Program:
        """etcd, the store Patroni's leader key lives in (one member on one host)."""
        self.etcd_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.etcd_dir, 0o700)
        client = f"http://127.0.0.1:{self.etcd_port}"
        peer = f"http://127.0.0.1:{self.etcd_peer_port}"
        return Program(
            name="etcd",
            command=[
                which("etcd"),
                "--name",
                "quiz",
                "--data-dir",
                str(self.etcd_dir),
                "--listen-client-urls",
                client,
                "--advertise-client-urls",
                client,
                "--listen-peer-urls",
                peer,
                "--initial-advertise-peer-urls",
                peer,
                "--initial-cluster",
                f"quiz={peer}",
                "--logger",
                "zap",
                "--log-level",
                "warn",
            ],
            directory=self.etcd_dir,
            log_file=log_dir / "etcd.log",
            priority=10,
            stop_wait_seconds=20,
        )

    def member_program(self, member: Member, venv: Path, log_dir: Path) -> Program:
        """One member's Patroni, run as the postgres user. On SIGTERM Patroni stops its
        PostgreSQL (fast shutdown) before it exits."""
        return Program(
            name=member.program,
            command=[str(venv / "bin" / "patroni"), str(member.config_file)],
            directory=Path("/"),
            log_file=log_dir / f"{member.program}.log",
            environment={"HOME": str(self.root), "PATH": "/usr/bin:/bin"},
            user=PG_USER if postgres_ids() is not None else None,
            priority=20,
            stop_wait_seconds=90,
        )

    # -- the running cluster --------------------------------------------------------------
    def etcd_healthy(self) -> bool:
        try:
            answer = httpx.get(f"http://127.0.0.1:{self.etcd_port}/health", timeout=1)
            return bool(answer.json().get("health") in ("true", True))
        except (httpx.HTTPError, ValueError):
            return False

    def members_status(self) -> list[MemberStatus] | None:
        """Every member as the cluster sees it (``GET /cluster`` on the first member
        that answers); while etcd is unreachable, which gives no cluster view, each
        member's own account of itself (``GET /patroni``). None when no member answers."""
        for member in self.members:
            try:
                body = httpx.get(f"{member.api_url}/cluster", timeout=2).json()
            except (httpx.HTTPError, ValueError):
                continue
            if body.get("members"):
                return [
                    MemberStatus(
                        name=str(m.get("name")),
                        role=str(m.get("role")),
                        state=str(m.get("state")),
                        timeline=m.get("timeline"),
                        lag_bytes=_lag(m),
                    )
                    for m in body["members"]
                ]
        own = [status for m in self.members if (status := self._own_status(m)) is not None]
        return own or None

    @staticmethod
    def _own_status(member: Member) -> MemberStatus | None:
        try:
            body = httpx.get(f"{member.api_url}/patroni", timeout=2).json()
        except (httpx.HTTPError, ValueError):
            return None
        leads = body.get("role") in ("primary", "master") and body.get("state") == "running"
        return MemberStatus(
            name=member.name,
            role="leader" if leads else "replica",
            state=str(body.get("state")),
            timeline=body.get("timeline"),
            lag_bytes=0 if leads else None,
        )

    def leader(self) -> Member | None:
        """The member whose ``GET /primary`` answers 200 (the one HAProxy routes writes
        to), or None while there is none."""
        for member in self.members:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{member.api_url}/primary", timeout=1).status_code == 200:
                    return member
        return None

    def member(self, name: str) -> Member:
        for member in self.members:
            if member.name == name:
                return member
        known = ", ".join(m.name for m in self.members)
        raise OpsError(f"no database member named {name!r} (members: {known})")

    def wait_leader(self, timeout: float = 60) -> Member:
        """The leader, once there is one."""
        found: list[Member] = []

        def has_leader() -> bool:
            leader = self.leader()
            if leader is not None:
                found.append(leader)
            return leader is not None

        wait_for(has_leader, timeout, "a database leader (see logs/patroni-*.log)", interval=0.2)
        return found[-1]

    def healthy(self) -> bool:
        """A leader runs and every other member streams from it; with synchronous mode,
        one of them is the synchronous standby."""
        status = self.members_status()
        if status is None or len(status) != len(self.members):
            return False
        leaders = [m for m in status if m.role == "leader" and m.state == "running"]
        standbys = [m for m in status if m.role != "leader"]
        if len(leaders) != 1 or any(m.state != "streaming" for m in standbys):
            return False
        return not (self.synchronous and standbys) or any(
            m.role == "sync_standby" for m in standbys
        )

    def wait_healthy(self, timeout: float = 120) -> float:
        return wait_for(
            self.healthy,
            timeout,
            "every database member to run (a leader, the others streaming from it; "
            "see logs/patroni-*.log)",
            interval=0.25,
        )

    def apply_dynamic_config(self) -> None:
        """Bring the settings kept in etcd up to date (they are read from the
        configuration file only when the cluster is first bootstrapped)."""
        leader = self.wait_leader()
        try:
            answer = httpx.patch(
                f"{leader.api_url}/config",
                json=self.dynamic_config(),
                auth=(RESTAPI_USER, self.secret("restapi")),
                timeout=10,
            )
        except httpx.HTTPError as exc:
            raise OpsError(f"Patroni PATCH /config on {leader.name}: {exc}") from exc
        if answer.status_code != 200:
            raise OpsError(f"Patroni refused the configuration: {answer.text.strip()}")

    def apply_pending_restarts(self, timeout: float = 120) -> list[str]:
        """Restart the members whose PostgreSQL needs it for a changed setting (e.g.
        ``archive_mode``): the standbys first, then the leader, whose writes wait for
        it. Returns the members restarted."""
        pending = []
        for member in self.members:
            with contextlib.suppress(httpx.HTTPError, ValueError):
                state = httpx.get(f"{member.api_url}/patroni", timeout=2).json()
                if state.get("pending_restart"):
                    pending.append((state.get("role") == "primary", member))
        for _is_leader, member in sorted(pending, key=lambda item: item[0]):
            try:
                answer = httpx.post(
                    f"{member.api_url}/restart",
                    json={},
                    auth=(RESTAPI_USER, self.secret("restapi")),
                    timeout=timeout,
                )
            except httpx.HTTPError as exc:
                raise OpsError(f"Patroni restart of {member.name}: {exc}") from exc
            if answer.status_code != 200:
                raise OpsError(f"Patroni refused to restart {member.name}: {answer.text}")
            self.wait_healthy(timeout)
        return [member.name for _, member in pending]

    def ensure_app_database(self) -> None:
        """The application role (not a superuser) and its database, which it owns with
        its schema; the password is (re)set from the secret file. Idempotent."""
        leader = self.wait_leader().cluster()
        verifier = scram_verifier(self.secret("app"))
        query(
            leader,
            "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "
            f"'{APP_ROLE}') THEN CREATE ROLE {APP_ROLE} LOGIN; END IF; END $$",
            f"ALTER ROLE {APP_ROLE} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
            f"NOREPLICATION PASSWORD '{verifier}'",
        )
        exists = query(leader, f"SELECT 1 FROM pg_database WHERE datname = '{APP_DATABASE}'")  # noqa: S608 - constants
        if exists != "1":
            query(leader, f'CREATE DATABASE "{APP_DATABASE}" OWNER {APP_ROLE}')
        query(
            leader,
            f"ALTER SCHEMA public OWNER TO {APP_ROLE}",
            "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
            database=APP_DATABASE,
        )

    def switchover(self, candidate: str | None = None, timeout: float = 90) -> tuple[str, str]:
        """A planned change of leader (Patroni's switchover: the leader stops taking
        writes, the candidate catches up and is promoted, the old leader follows it).
        Returns (old leader, new leader) once the new one accepts writes and every
        member streams again."""
        old = self.leader()
        if old is None:
            raise OpsError("there is no leader to switch over from (a failover is under way?)")
        if not self.healthy():
            raise OpsError("the database members are not all healthy: not switching over now")
        if candidate is not None:
            self.member(candidate)  # known?
            if candidate == old.name:
                raise OpsError(f"{candidate} leads already")
        body: dict[str, str] = {"leader": old.name}
        if candidate:
            body["candidate"] = candidate
        try:
            drain_writes(old.cluster(), APP_DATABASE)
            try:
                answer = httpx.post(
                    f"{old.api_url}/switchover",
                    json=body,
                    auth=(RESTAPI_USER, self.secret("restapi")),
                    timeout=timeout,
                )
            except httpx.HTTPError as exc:
                raise OpsError(f"Patroni switchover: {exc}") from exc
            if answer.status_code != 200:
                raise OpsError(f"Patroni refused the switchover: {answer.text.strip()}")
            wait_for(
                lambda: (leader := self.leader()) is not None and leader.name != old.name,
                timeout,
                "the new leader",
                interval=0.1,
            )
        finally:
            resume_writes(old.cluster())
        self.wait_healthy(timeout)
        new = self.leader()
        return old.name, new.name if new else "?"


def scram_verifier(password: str, salt: bytes | None = None) -> str:
    """PostgreSQL's SCRAM-SHA-256 verifier for ``password`` (RFC 5802/7677), so the
    plain password never travels to the server or appears in a statement.

    Hand-written (a dozen lines of hashlib/hmac): no maintained library exposes just this,
    and the drivers keep it internal."""
    salt = salt or secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, _SCRAM_ITERATIONS)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return f"SCRAM-SHA-256${_SCRAM_ITERATIONS}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def patroni_venv() -> Path:
    """Where Patroni's virtualenv lives (``QUIZ_PATRONI_VENV`` overrides): outside any
    checkout, readable by the postgres user, shared by every stack of this version."""
    default = Path(f"/opt/quizplatform/patroni-{PATRONI_VERSION}")
    return Path(os.environ.get("QUIZ_PATRONI_VENV", default))


def ensure_patroni(venv: Path | None = None) -> Path:
    """Install Patroni (pinned, ``deploy/patroni/requirements.txt``) into ``venv`` unless
    a complete install is there; return the venv. Safe to call from several processes."""
    venv = venv or patroni_venv()
    stamp = venv / ".complete"
    requirements = deploy_dir() / "patroni" / "requirements.txt"
    wanted = requirements.read_text()
    if stamp.exists() and stamp.read_text() == wanted:
        return venv
    venv.parent.mkdir(parents=True, exist_ok=True)
    with _locked(venv.with_name(venv.name + ".lock")):
        if stamp.exists() and stamp.read_text() == wanted:
            return venv
        if not SYSTEM_PYTHON.exists():
            raise OpsError(f"{SYSTEM_PYTHON} is missing: install the python3-venv package")
        shutil.rmtree(venv, ignore_errors=True)
        # The postgres user runs it: world-readable whatever the caller's umask (the stack
        # writes its own files under umask 027).
        kept = os.umask(0o022)
        try:
            run([SYSTEM_PYTHON, "-m", "venv", venv], what=f"creating Patroni's virtualenv {venv}")
            run(
                [
                    venv / "bin" / "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "-r",
                    requirements,
                ],
                what="installing Patroni",
                timeout=600,
            )
            for path in (venv.parent, venv):
                os.chmod(path, 0o755)  # noqa: S103 - the postgres user runs it
            stamp.write_text(wanted)
        finally:
            os.umask(kept)
    return venv


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _lag(member: dict[str, Any]) -> int | None:
    lag = member.get("lag")
    if isinstance(lag, int):
        return lag
    if member.get("role") == "leader":
        return 0
    return None  # "unknown" while it starts


def _locale() -> str:
    return "C.UTF-8" if Path("/usr/lib/locale/C.utf8").exists() else "C"


def wait_member_stopped(member: Member, timeout: float = 60) -> None:
    """Wait until the member's postmaster has exited."""
    wait_for(lambda: member.postmaster_pid() is None, timeout, f"{member.name} to stop")
