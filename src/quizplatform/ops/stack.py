"""The one-host production stack: TLS load balancer, supervised instances, PostgreSQL
with automatic failover (Patroni + etcd, routed by HAProxy), Redis, Prometheus +
Alertmanager and the autoscaler.

``Stack`` owns one stack directory. Its ``stack.json`` records the configuration and the
runtime state (instances, releases); every change to it happens under ``stack.lock``,
because the autoscaler (a supervised process) and a deploy may act at the same time.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
import structlog

from quizplatform.ops import haproxy as lb
from quizplatform.ops.backup import BackupRepository, BackupSettings, PgTarget, summary
from quizplatform.ops.backup_scheduler import scheduler_program
from quizplatform.ops.patroni import (
    Member,
    PatroniCluster,
    Timing,
    ensure_patroni,
    wait_member_stopped,
)
from quizplatform.ops.postgres import stop_cluster
from quizplatform.ops.process import OpsError, pid_alive, port_open, run, wait_for
from quizplatform.ops.redis import RedisHA, RedisServer, stop_redis
from quizplatform.ops.releases import Release, ReleaseStore
from quizplatform.ops.restore import RestoreReport, RestoreTarget
from quizplatform.ops.restore import restore as restore_stack
from quizplatform.ops.supervisor import Program, Supervisor
from quizplatform.ops.templates import deploy_dir, render
from quizplatform.ops.tls import TlsFiles, ensure_certificates, tls_files_from

log = structlog.get_logger(__name__)

ACTIVE = "app"
CANDIDATE = "candidate"


@dataclass
class StackConfig:
    """Everything ``quiz stack up`` can be told; saved in ``stack.json``."""

    env: str = "staging"
    instances: int = 2
    min_instances: int = 2
    max_instances: int = 10
    https_port: int = 8443
    http_port: int = 8080
    stats_port: int = 8404
    # HAProxy's database frontends: writes (the Patroni leader) and reads (replicas).
    pg_port: int = 15432
    pg_replica_port: int = 15433
    # The Patroni members: member i's PostgreSQL on pg_member_base_port + i, its REST
    # API on patroni_base_port + i; etcd on etcd_port (peers: etcd_peer_port).
    db_members: int = 2
    pg_member_base_port: int = 15440
    patroni_base_port: int = 15460
    etcd_port: int = 12379
    etcd_peer_port: int = 12380
    db_check_interval_ms: int = 500
    db_max_lag_bytes: int = 16 * 1024 * 1024
    patroni_ttl: int = 20
    patroni_loop_wait: int = 1
    patroni_retry_timeout: int = 5
    # How long a write waits for a new leader before it is answered read_only.
    db_leader_wait_seconds: float = 10.0
    # Redis: the first master on redis_port, its replicas, and the Sentinels that watch it.
    redis_port: int = 16379
    redis_replica_ports: list[int] = field(default_factory=lambda: [16380])
    redis_sentinel_ports: list[int] = field(default_factory=lambda: [16390, 16391, 16392])
    prometheus_port: int = 9090
    alertmanager_port: int = 9093
    receiver_port: int = 9095
    autoscaler_port: int = 9096
    worker_port: int = 9097
    instance_base_port: int = 18000
    check_interval_ms: int = 2000
    scrape_interval: str = "5s"
    evaluation_interval: str = "5s"
    alert_group_wait: str = "10s"
    instance_down_for: str = "30s"
    # Patroni's synchronous_mode: a commit is acknowledged once it is on two members.
    sync_replica: bool = True
    cert: str | None = None
    key: str | None = None
    slack_webhook_url: str | None = None
    autoscale: bool = True
    scale_up_cpu: float = 70.0
    scale_down_cpu: float = 30.0
    up_window: float = 300.0
    down_window: float = 900.0
    cooldown: float = 120.0
    autoscale_interval: float = 5.0
    memory_limit_mb: int = 400
    cpu_nice: int = 5
    db_pool_size: int = 5
    # Cluster data lives outside the checkout: the postgres user must reach it.
    data_root: str = ""
    # Backups (ops/backup.py): repository ("" = <data_root>/pgbackrest), schedule in seconds,
    # retention (a recovery window in days; 0 = keep backup_retention_full full backups).
    backup_repo_path: str = ""
    backup_full_interval: float = 86400.0
    backup_incr_interval: float = 3600.0
    backup_verify_interval: float = 86400.0
    backup_retry_interval: float = 300.0
    backup_recovery_window_days: int = 7
    backup_retention_full: int = 2
    backup_metrics_port: int = 9098
    instance_env: dict[str, str] = field(default_factory=dict)

    @property
    def slots(self) -> int:
        """HAProxy slots per backend: room for a full second set during a deploy."""
        return 2 * self.max_instances

    def ports(self) -> dict[int, str]:
        """Every port the stack listens on, and what listens there. Raises OpsError when
        two of them would be the same port."""
        named: list[tuple[int, str]] = [
            (getattr(self, name), name)
            for name in (
                "https_port",
                "http_port",
                "stats_port",
                "pg_port",
                "pg_replica_port",
                "etcd_port",
                "etcd_peer_port",
                "redis_port",
                "prometheus_port",
                "alertmanager_port",
                "receiver_port",
                "autoscaler_port",
                "worker_port",
                "backup_metrics_port",
            )
        ]
        for i in range(1, self.db_members + 1):
            named.append((self.pg_member_base_port + i, f"pg_member_base_port + {i} (pg{i})"))
            named.append((self.patroni_base_port + i, f"patroni_base_port + {i} (pg{i})"))
        named += [(p, f"redis_replica_ports[{i}]") for i, p in enumerate(self.redis_replica_ports)]
        named += [
            (p, f"redis_sentinel_ports[{i}]") for i, p in enumerate(self.redis_sentinel_ports)
        ]
        named += [
            (self.instance_base_port + slot, f"instance_base_port + {slot} (slot {slot})")
            for slot in range(1, self.slots + 1)
        ]
        owners: dict[int, str] = {}
        clashes = []
        for port, name in named:
            if not 0 < port < 65536:
                clashes.append(f"{name} = {port} is not a port")
            elif port in owners:
                clashes.append(f"port {port} is both {owners[port]} and {name}")
            else:
                owners[port] = name
        if clashes:
            raise OpsError("the stack's ports clash: " + "; ".join(clashes))
        return owners

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StackConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class Instance:
    """One serving process in a HAProxy slot."""

    slot: int
    port: int
    release: str
    backend: str = ACTIVE  # which HAProxy backend routes to it

    @property
    def name(self) -> str:
        return f"app-{self.slot}"


@dataclass
class StackState:
    config: StackConfig
    instances: list[Instance] = field(default_factory=list)
    active_release: str | None = None
    previous_release: str | None = None

    def to_json(self) -> str:
        return json.dumps(
            {
                "config": asdict(self.config),
                "instances": [asdict(i) for i in self.instances],
                "active_release": self.active_release,
                "previous_release": self.previous_release,
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str) -> StackState:
        data = json.loads(text)
        return cls(
            config=StackConfig.from_dict(data["config"]),
            instances=[Instance(**i) for i in data.get("instances", [])],
            active_release=data.get("active_release"),
            previous_release=data.get("previous_release"),
        )


class Stack:
    """One stack directory and the servers started from it."""

    def __init__(self, directory: Path, config: StackConfig | None = None) -> None:
        self.dir = directory.resolve()
        self.state_file = self.dir / "stack.json"
        self.run_dir = self.dir / "run"
        self.log_dir = self.dir / "logs"
        if config is None:
            if not self.state_file.exists():
                raise OpsError(f"no stack in {self.dir} (run `quiz stack up --dir {directory}`)")
            config = StackState.from_json(self.state_file.read_text()).config
        if not config.data_root:
            digest = hashlib.sha256(str(self.dir).encode()).hexdigest()[:10]
            config.data_root = f"/tmp/quiz-stack-{digest}"  # noqa: S108 - see GUIDE §2
        self.config = config
        self.supervisor = Supervisor(self.run_dir, self.log_dir)
        self.releases = ReleaseStore(self.dir / "releases")
        self.haproxy = lb.HaproxyRuntime(
            self.run_dir / "haproxy.sock", self.run_dir / "haproxy.state"
        )
        self.backups = BackupRepository(self.backup_settings())
        self.db = PatroniCluster(
            Path(config.data_root),
            members=config.db_members,
            pg_base_port=config.pg_member_base_port,
            api_base_port=config.patroni_base_port,
            etcd_port=config.etcd_port,
            etcd_peer_port=config.etcd_peer_port,
            timing=Timing(
                ttl=config.patroni_ttl,
                loop_wait=config.patroni_loop_wait,
                retry_timeout=config.patroni_retry_timeout,
            ),
            synchronous=config.sync_replica,
            # Each member archives its WAL to the backup repository (only the leader's
            # archiver runs): point-in-time recovery whoever leads.
            archive_command=lambda member: self.backups.archive_command(_target(member)),
        )
        self.redis = RedisHA(
            self.dir / "redis",
            self.log_dir,
            master_port=config.redis_port,
            replica_ports=config.redis_replica_ports,
            sentinel_ports=config.redis_sentinel_ports,
        )

    # ------------------------------------------------------------------ state ----------
    @contextlib.contextmanager
    def locked(self) -> Iterator[StackState]:
        """The stack state, locked against other processes; saved when the block ends."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with (self.dir / "stack.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = self.read_state()
            try:
                yield state
            finally:
                tmp = self.state_file.with_suffix(".tmp")
                tmp.write_text(state.to_json())
                tmp.replace(self.state_file)

    def read_state(self) -> StackState:
        """The saved state (or a fresh one for a new directory)."""
        if self.state_file.exists():
            state = StackState.from_json(self.state_file.read_text())
            state.config = self.config
            return state
        return StackState(config=self.config)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.config.https_port}"

    # ------------------------------------------------------------------ backups --------
    def backup_settings(self) -> BackupSettings:
        """Where this stack's pgBackRest repository and files live, and its retention."""
        cfg = self.config
        overrides: dict[str, Any] = {
            "recovery_window_days": cfg.backup_recovery_window_days,
            "retention_full": cfg.backup_retention_full,
        }
        if cfg.backup_repo_path:
            overrides["repo_path"] = Path(cfg.backup_repo_path)
        return BackupSettings.under(Path(cfg.data_root), **overrides)

    def backup_target(self) -> PgTarget:
        """The member backups are taken from: the current leader."""
        leader = self.db.leader()
        if leader is None:
            raise OpsError("the database has no leader right now: no backup can be taken")
        return _target(leader)

    # ------------------------------------------------------------------ up -------------
    def up(self, progress: Any = None) -> None:
        """Start everything that is not running yet, in dependency order."""

        def step(message: str) -> None:
            log.info("stack up", step=message)
            if progress is not None:
                progress(message)

        self.config.ports()  # refuse clashing ports before anything starts
        for sub in (self.run_dir, self.log_dir, self.dir / "data"):
            sub.mkdir(parents=True, exist_ok=True)
        step("TLS certificate")
        tls = self._tls()
        step("supervisord")
        self.supervisor.ensure_running()
        step("PostgreSQL (Patroni + etcd)")
        self._start_database()
        step("HAProxy")
        self._start_haproxy(tls)
        self._wait_database_routed()
        step("Redis")
        # A stack from before Sentinel ran one daemonized Redis on the master's port.
        stop_redis(RedisServer(self.config.redis_port, self.dir / "redis"))
        self.redis.start(self.supervisor)
        self._secret_file()
        with self.locked() as state:
            if state.active_release is None:
                step("installing the current release")
                release = self.releases.install(source_root())
                state.active_release = release.version
                self.releases.set_status(release.version, "active")
            active = state.active_release
        step("migrations")
        self.migrate(self.releases.get(active))
        self._start_receiver()
        step("instances")
        self._restore_instances()
        wanted = max(self.config.instances, self.config.min_instances)
        if len(self.active_instances()) < wanted:  # never shrink what the autoscaler grew
            self.scale_to(wanted, reason="stack up")
        step("worker")
        self._start_worker()
        step("Prometheus and Alertmanager")
        self._start_monitoring()
        step("backup scheduler")
        self.supervisor.add(scheduler_program(self))
        if self.config.autoscale:
            step("autoscaler")
            self._start_autoscaler()
        elif self.supervisor.state("autoscaler") is not None:
            self.supervisor.remove("autoscaler")

    def _start_database(self) -> None:
        """etcd, then the Patroni members (the first one bootstraps the cluster, the
        others join it as standbys), then the application role and database."""
        self._refuse_a_database_from_before_patroni()
        venv = ensure_patroni()
        self.backups.prepare()  # the members' archive_command needs its configuration
        self.supervisor.add(self.db.etcd_program(self.log_dir))
        wait_for(self.db.etcd_healthy, 30, f"etcd (log: {self.log_dir / 'etcd.log'})")
        if self.db.write_configs():
            for member in self.db.members:  # running members re-read their file
                if self._running(member.program):
                    self.supervisor.signal(member.program, "HUP")
        self._remove_dropped_members()
        first, *others = self.db.members
        self.supervisor.add(self.db.member_program(first, venv, self.log_dir))
        self.db.wait_leader(timeout=120)
        for member in others:
            self.supervisor.add(self.db.member_program(member, venv, self.log_dir))
        self.db.apply_dynamic_config()
        self.db.wait_healthy(timeout=180)
        self.db.apply_pending_restarts()
        self.db.ensure_app_database()
        if not self.backups.has_stanza():
            self.backups.ensure_stanza(self.backup_target())

    def _refuse_a_database_from_before_patroni(self) -> None:
        """A stack made before Patroni kept its database in ``<data root>/pg-primary``.
        Starting Patroni beside it would serve a new, empty database: refuse, and say
        how to carry the data over."""
        old = Path(self.config.data_root) / "pg-primary"
        if (old / "PG_VERSION").exists() and not self.db.members[0].data_dir.exists():
            raise OpsError(
                f"this stack's database is in {old}, from before Patroni managed it; "
                "to keep its data: start it (runuser -u postgres -- pg_ctl -D "
                f"{old} start), pg_dump the quiz database, move {old} away, run "
                "`quiz stack up` again and restore the dump into the new leader "
                "(`quiz db status` names it); or move it away to start empty"
            )

    def _remove_dropped_members(self) -> None:
        """Members beyond ``db_members`` (the stack was shrunk): their Patroni stops (a
        standby leaves; a leader hands over first) and leaves supervisord. Their data
        stays until ``quiz stack down --purge``."""
        wanted = {m.program for m in self.db.members}
        for info in self.supervisor.all_info():
            name = str(info["name"])
            if name.startswith("patroni-") and name not in wanted:
                log.info("removing a database member", program=name)
                self.supervisor.remove(name)

    def _wait_database_routed(self, leader: str | None = None) -> None:
        """Until HAProxy's write frontend routes to the leader (``leader`` when named)."""

        def leader_up() -> bool:
            servers = self.haproxy.servers(lb.DATABASE_BACKENDS)
            return any(
                s.backend == "pg_leader" and s.up and leader in (None, s.name) for s in servers
            )

        wait_for(leader_up, 30, "HAProxy to route to the database leader", interval=0.1)

    def database_routing(self) -> lb.DatabaseRouting:
        """HAProxy's database frontends and the members behind them."""
        return lb.DatabaseRouting(
            write_port=self.config.pg_port,
            read_port=self.config.pg_replica_port,
            members=tuple(
                lb.DatabaseMember(m.name, m.pg_port, m.api_port) for m in self.db.members
            ),
            check_interval_ms=self.config.db_check_interval_ms,
            max_lag_bytes=self.config.db_max_lag_bytes,
        )

    def _database_url_files(self) -> tuple[Path, Path]:
        """The app's database URLs (they hold the password) in root-only 0600 files:
        the write frontend and, as a JSON list, the read frontend."""
        write_url = self.db.app_url(self.config.pg_port)
        read_urls = json.dumps([self.db.app_url(self.config.pg_replica_port)])
        return (
            self._write_secret("database_url", write_url),
            self._write_secret("database_replica_urls", read_urls),
        )

    def _write_secret(self, name: str, value: str) -> Path:
        path = self.dir / "secrets" / name
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            if path.read_text() == value:
                return path
        tmp = path.with_name(f".{name}.tmp")
        tmp.touch(mode=0o600)
        tmp.chmod(0o600)
        tmp.write_text(value)
        tmp.replace(path)
        return path

    def _tls(self) -> TlsFiles:
        tls_dir = self.dir / "tls"
        if self.config.cert and self.config.key:
            return tls_files_from(Path(self.config.cert), Path(self.config.key), tls_dir)
        return ensure_certificates(tls_dir)

    def _secret_file(self) -> Path:
        path = self.dir / "secrets" / "secret_key"
        if not path.exists():
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path

    def migrate(self, release: Release) -> None:
        """Run ``quiz db upgrade`` with ``release``'s code against the primary."""
        run(
            [sys.executable, "-m", "quizplatform.cli", "db", "upgrade"],
            what=f"migrations of release {release.version}",
            env=self._env(release, instance_id="migrate"),
            cwd=release.path,
        )

    def _start_receiver(self) -> None:
        self.supervisor.add(
            Program(
                name="alert-receiver",
                command=[
                    sys.executable,
                    "-m",
                    "quizplatform.ops.alert_receiver",
                    str(self.config.receiver_port),
                    str(self.alerts_file),
                ],
                directory=self.dir,
                log_file=self.log_dir / "alert-receiver.log",
                priority=50,
            )
        )

    @property
    def alerts_file(self) -> Path:
        return self.dir / "alerts" / "received.jsonl"

    def _start_haproxy(self, tls: TlsFiles) -> None:
        cfg = self.run_dir / "haproxy.cfg"
        (self.run_dir / "haproxy.state").touch()
        before = cfg.read_text() if cfg.exists() else None
        lb.render_config(
            cfg,
            run_dir=self.run_dir,
            tls_bundle=tls.bundle,
            https_port=self.config.https_port,
            http_port=self.config.http_port,
            stats_port=self.config.stats_port,
            slots=self.config.slots,
            check_interval_ms=self.config.check_interval_ms,
            database=self.database_routing(),
        )
        if before is not None and before != cfg.read_text() and self._running("haproxy"):
            # A changed configuration (ports, check interval): HAProxy's master reloads
            # its workers on SIGUSR2 without dropping connections; the state file keeps
            # the servers' addresses, weights and states across it.
            self.haproxy.save_state()
            self.supervisor.signal("haproxy", "USR2")
        self.supervisor.add(
            Program(
                name="haproxy",
                command=["/usr/sbin/haproxy", "-W", "-db", "-f", str(cfg)],
                directory=self.run_dir,
                log_file=self.log_dir / "haproxy.log",
                priority=100,
                stop_wait_seconds=10,
            )
        )
        wait_for(lambda: self.haproxy.command("show info") != "", 15, "HAProxy's runtime API")

    def _start_worker(self) -> None:
        release = self.releases.get(self._active_release())
        self.supervisor.add(
            Program(
                name="worker",
                command=[
                    sys.executable,
                    "-m",
                    "quizplatform.cli",
                    "worker",
                    "--metrics-port",
                    str(self.config.worker_port),
                ],
                directory=release.path,
                environment=self._env(release, instance_id="worker")
                | {"QUIZ_ATTEMPT_SWEEP_INTERVAL_SECONDS": "30"},
                log_file=self.log_dir / "worker.log",
                priority=600,
            )
        )

    def _start_monitoring(self) -> None:
        rules_dir = self.run_dir / "rules"
        rules_dir.mkdir(exist_ok=True)
        rules_before = {p.name: p.read_text() for p in rules_dir.glob("*.yml")}
        for rules in (deploy_dir() / "prometheus" / "rules").glob("*.yml"):
            text = rules.read_text()
            if rules.name == "alerts.yml":
                text = _override_for(text, "InstanceDown", self.config.instance_down_for)
            (rules_dir / rules.name).write_text(text)
        self._write_targets()
        prom_cfg = self.run_dir / "prometheus.yml"
        am_cfg = self.run_dir / "alertmanager.yml"
        before = {f: f.read_text() if f.exists() else None for f in (prom_cfg, am_cfg)}
        interval = self.config.scrape_interval
        prom_cfg.write_text(
            render(
                "prometheus/prometheus.yml.j2",
                scrape_interval=interval,
                scrape_timeout=interval,
                evaluation_interval=self.config.evaluation_interval,
                alertmanager_port=self.config.alertmanager_port,
                rules_dir=rules_dir,
                targets_file=self.targets_file,
                haproxy_stats_port=self.config.stats_port,
                worker_port=self.config.worker_port,
                autoscaler_port=self.config.autoscaler_port if self.config.autoscale else None,
                prometheus_port=self.config.prometheus_port,
                backup_port=self.config.backup_metrics_port,
            )
        )
        run(["promtool", "check", "config", prom_cfg], what="promtool check config")
        am_cfg.write_text(
            render(
                "alertmanager/alertmanager.yml.j2",
                webhook_url=f"http://127.0.0.1:{self.config.receiver_port}/alerts",
                slack_webhook_url=self.config.slack_webhook_url or "",
                group_wait=self.config.alert_group_wait,
                group_interval=self.config.alert_group_wait,
                repeat_interval="4h",
            )
        )
        run(["amtool", "check-config", am_cfg], what="amtool check-config")
        rules_now = {p.name: p.read_text() for p in rules_dir.glob("*.yml")}
        changed = {
            "prometheus": before[prom_cfg] not in (None, prom_cfg.read_text())
            or (bool(rules_before) and rules_before != rules_now),
            "alertmanager": before[am_cfg] not in (None, am_cfg.read_text()),
        }
        for program, reload in changed.items():
            if reload and self._running(program):
                self.supervisor.signal(program, "HUP")  # both re-read their config
        self.supervisor.add(
            Program(
                name="alertmanager",
                command=[
                    "/usr/bin/prometheus-alertmanager",
                    f"--config.file={am_cfg}",
                    f"--storage.path={self.dir / 'alertmanager'}",
                    f"--web.listen-address=127.0.0.1:{self.config.alertmanager_port}",
                    "--cluster.listen-address=",
                ],
                directory=self.dir,
                log_file=self.log_dir / "alertmanager.log",
                priority=60,
            )
        )
        self.supervisor.add(
            Program(
                name="prometheus",
                command=[
                    "/usr/bin/prometheus",
                    f"--config.file={prom_cfg}",
                    f"--storage.tsdb.path={self.dir / 'prometheus'}",
                    f"--web.listen-address=127.0.0.1:{self.config.prometheus_port}",
                    "--storage.tsdb.retention.time=7d",
                ],
                directory=self.dir,
                log_file=self.log_dir / "prometheus.log",
                priority=70,
            )
        )

    def _start_autoscaler(self) -> None:
        self.supervisor.add(
            Program(
                name="autoscaler",
                command=[
                    sys.executable,
                    "-m",
                    "quizplatform.cli",
                    "stack",
                    "autoscale",
                    "--dir",
                    str(self.dir),
                ],
                directory=self.dir,
                # The policy in the environment: when `stack up` changes it, supervisord
                # sees a changed program and restarts the autoscaler with it.
                environment={"QUIZ_AUTOSCALER_POLICY": json.dumps(self._policy_fields())},
                log_file=self.log_dir / "autoscaler.log",
                priority=700,
            )
        )

    def _policy_fields(self) -> dict[str, float]:
        c = self.config
        return {
            "min_instances": c.min_instances,
            "max_instances": c.max_instances,
            "scale_up_cpu": c.scale_up_cpu,
            "scale_down_cpu": c.scale_down_cpu,
            "up_window": c.up_window,
            "down_window": c.down_window,
            "cooldown": c.cooldown,
            "interval": c.autoscale_interval,
        }

    def _running(self, program: str) -> bool:
        return self.supervisor.state(program) == "RUNNING"

    @property
    def targets_file(self) -> Path:
        return self.run_dir / "targets" / "instances.json"

    def _write_targets(self, state: StackState | None = None) -> None:
        """Rewrite Prometheus' file_sd list of instances (atomically)."""
        state = state or self.read_state()
        targets = [
            {
                "targets": [f"127.0.0.1:{i.port}"],
                "labels": {
                    "instance_name": i.name,
                    "release": i.release,
                    "pool": "stable" if i.backend == ACTIVE else "candidate",
                },
            }
            for i in state.instances
        ]
        self.targets_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.targets_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(targets, indent=2))
        tmp.replace(self.targets_file)

    # ------------------------------------------------------------------ instances ------
    def _env(self, release: Release, instance_id: str) -> dict[str, str]:
        cfg = self.config
        database_url, replica_urls = self._database_url_files()
        drain = (3 * cfg.check_interval_ms) / 1000 + 1
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "PYTHONPATH": str(release.code_dir),
            "QUIZ_ENV": cfg.env,
            "QUIZ_CONFIG_DIR": str(release.path / "config"),
            "QUIZ_DATA_DIR": str(self.dir / "data"),
            "QUIZ_DATABASE_URL_FILE": str(database_url),
            "QUIZ_DATABASE_REPLICA_URLS_FILE": str(replica_urls),
            "QUIZ_DB_LEADER_WAIT_SECONDS": f"{cfg.db_leader_wait_seconds:g}",
            **self.redis.client_environment(),
            "QUIZ_SECRET_KEY_FILE": str(self._secret_file()),
            "QUIZ_PUBLIC_URL": self.url,
            "QUIZ_TRUSTED_PROXIES": '["127.0.0.1"]',
            "QUIZ_VERSION": release.version,
            "QUIZ_COMMIT": release.commit,
            "QUIZ_INSTANCE_ID": instance_id,
            "QUIZ_ATTEMPT_SWEEP_INTERVAL_SECONDS": "0",
            # The stack's worker runs the AI draft jobs (it starts its runner itself).
            "QUIZ_EMBEDDED_WORKER": "false",
            "QUIZ_DB_POOL_SIZE": str(cfg.db_pool_size),
            "QUIZ_SHUTDOWN_DRAIN_DELAY": f"{drain:g}",
            "QUIZ_MEMORY_LIMIT_MB": str(cfg.memory_limit_mb),
            # The hard backstop behind the RSS watchdog: address space is several times
            # the resident size for Python with uvloop (docs/operations.md).
            "QUIZ_ADDRESS_SPACE_LIMIT_MB": str(max(2048, 4 * cfg.memory_limit_mb)),
            "QUIZ_CPU_NICE": str(cfg.cpu_nice),
        }
        env.update(release.environment)
        env.update(cfg.instance_env)
        return env

    def instance_program(self, instance: Instance) -> Program:
        """The supervisord program that runs ``instance``."""
        release = self.releases.get(instance.release)
        return Program(
            name=instance.name,
            command=[
                sys.executable,
                "-m",
                "quizplatform.cli",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(instance.port),
            ],
            directory=release.path,
            environment=self._env(release, instance.name),
            log_file=self.log_dir / f"{instance.name}.log",
            priority=500,
        )

    def start_instances(self, release: str, count: int, backend: str) -> list[Instance]:
        """Start ``count`` instances of ``release`` in free slots and wait until each is
        ready; they join HAProxy's ``backend`` with weight 0 (no traffic yet)."""
        with self.locked() as state:
            used = {i.slot for i in state.instances}
            free = [s for s in range(1, self.config.slots + 1) if s not in used][:count]
            if len(free) < count:
                raise OpsError(f"no free HAProxy slot for {count} more instances")
            new = [
                Instance(
                    slot=s,
                    port=self.config.instance_base_port + s,
                    release=release,
                    backend=backend,
                )
                for s in free
            ]
            state.instances.extend(new)
        for instance in new:
            self.supervisor.add(self.instance_program(instance), wait=False)
        for instance in new:
            self.wait_instance_ready(instance)
            self.haproxy.enable(backend, instance.slot, instance.port, weight=0)
        self._write_targets()
        return new

    def wait_instance_ready(self, instance: Instance, timeout: float = 60) -> float:
        """Seconds until the instance answers 200 on /health/ready (direct, not via HAProxy)."""
        url = f"http://127.0.0.1:{instance.port}/health/ready"
        return wait_for(
            lambda: httpx.get(url, timeout=1).status_code == 200,
            timeout,
            f"{instance.name} to be ready (log: {self.log_dir / (instance.name + '.log')})",
        )

    def wait_lb_up(self, instances: list[Instance], timeout: float = 30) -> float:
        """Seconds until HAProxy's health checks see every instance UP."""

        def all_up() -> bool:
            states = {(s.backend, s.name): s for s in self.haproxy.servers()}
            return all(
                (st := states.get((i.backend, lb.slot_name(i.slot)))) is not None and st.up
                for i in instances
            )

        return wait_for(all_up, timeout, "HAProxy to see the instances UP", interval=0.05)

    def set_weight(self, instances: list[Instance], weight: int) -> None:
        self.haproxy.set_weights({(i.backend, i.slot): weight for i in instances})

    def stop_instances(self, instances: list[Instance], drain_timeout: float = 30) -> None:
        """Drain in HAProxy, wait for in-flight requests to finish, then SIGTERM and forget.

        A slot may route to the instance from both backends (during a deploy), so both
        are drained and then put in maintenance.
        """
        in_service = {(s.backend, s.name) for s in self.haproxy.servers() if s.status != "MAINT"}
        for instance in instances:
            for backend in (ACTIVE, CANDIDATE):
                if (backend, lb.slot_name(instance.slot)) in in_service:
                    self.haproxy.drain(backend, instance.slot)
        deadline = time.monotonic() + drain_timeout
        for instance in instances:
            while time.monotonic() < deadline and self._sessions(instance.slot) > 0:
                time.sleep(0.05)
        for instance in instances:
            self.supervisor.remove(instance.name)
            for backend in (ACTIVE, CANDIDATE):
                self.haproxy.disable(backend, instance.slot)
        names = {i.name for i in instances}
        with self.locked() as state:
            state.instances = [i for i in state.instances if i.name not in names]
            self._write_targets(state)

    def _sessions(self, slot: int) -> int:
        name = lb.slot_name(slot)
        return sum(s.current_sessions for s in self.haproxy.servers() if s.name == name)

    def active_instances(self) -> list[Instance]:
        state = self.read_state()
        return [
            i for i in state.instances if i.backend == ACTIVE and i.release == state.active_release
        ]

    def _active_release(self) -> str:
        active = self.read_state().active_release
        if active is None:
            raise OpsError("the stack has no active release (run `quiz stack up`)")
        return active

    def scale_to(self, count: int, reason: str = "by hand") -> int:
        """Grow or shrink the active release's instances to ``count`` (within bounds)."""
        count = max(self.config.min_instances, min(self.config.max_instances, count))
        current = self.active_instances()
        log.info("scaling", current=len(current), target=count, reason=reason)
        if count > len(current):
            new = self.start_instances(self._active_release(), count - len(current), ACTIVE)
            self.set_weight(new, 100)
            self.wait_lb_up(new)
        elif count < len(current):
            victims = sorted(current, key=lambda i: i.slot)[count:]
            self.stop_instances(victims)
        return count

    def _restore_instances(self) -> None:
        """After a restart of supervisord/HAProxy: bring recorded instances back."""
        state = self.read_state()
        for instance in state.instances:
            if self.supervisor.state(instance.name) != "RUNNING":
                self.supervisor.add(self.instance_program(instance), wait=False)
        for instance in state.instances:
            self.wait_instance_ready(instance)
            server = self.haproxy.server(instance.backend, instance.slot)
            if server is None or server.status == "MAINT":
                weight = 100 if instance.release == state.active_release else 0
                self.haproxy.enable(instance.backend, instance.slot, instance.port, weight)
        if state.instances:  # `up` returns once HAProxy routes to them again
            self.wait_lb_up(state.instances)

    # ------------------------------------------------------------------ down -----------
    def down(self) -> list[str]:
        """Stop exactly what ``up`` started, in reverse order, gracefully."""
        stopped = []
        if self.supervisor.pid() is not None:
            # The autoscaler first (no scaling while stopping), then every instance at
            # once, each draining gracefully, then the rest in reverse priority.
            self.supervisor.stop("autoscaler")
            self.supervisor.stop_together([i.name for i in self.read_state().instances])
            self.supervisor.stop("worker")
            self.stop_database_members()
        if self.supervisor.shutdown():
            stopped.append(
                "supervisord (autoscaler, worker, instances, monitoring, HAProxy, "
                "Redis and its Sentinels, Patroni members, etcd)"
            )
        for member in self.db.members:
            # Patroni stops its PostgreSQL when it stops; one it could not stop (killed
            # meanwhile) is stopped here, by its data directory.
            if stop_cluster(member.cluster()):
                stopped.append(f"postgres {member.name} (left behind by Patroni)")
        return stopped

    # ------------------------------------------------------------------ restore ---------
    def start_database_member(
        self, member: Member, bootstrap: dict[str, Any] | None = None
    ) -> None:
        """(Re)start one member's Patroni; ``bootstrap`` is a custom bootstrap for an
        empty data directory (``ops/restore.py``)."""
        self.db.write_configs({member.name: bootstrap} if bootstrap else None)
        self.supervisor.add(self.db.member_program(member, ensure_patroni(), self.log_dir))

    def restore(
        self,
        *,
        to_time: datetime | None = None,
        label: str | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> RestoreReport:
        """Point-in-time recovery of the whole stack (``ops/restore.py``)."""
        return restore_stack(self, RestoreTarget(to_time=to_time, label=label), progress)

    def archive_current_wal(self) -> bool:
        """Switch the leader to a new WAL segment and wait until it is archived, so a
        recovery can reach the last moments; False when there is no leader to ask."""
        leader = self.db.leader()
        if leader is None:
            return False
        self.backups.archive_current_segment(_target(leader))
        return True

    def stop_serving(self) -> None:
        """Stop what uses the database: autoscaler, instances, worker, backup scheduler
        (the instances stay recorded; ``resume_serving`` brings them back)."""
        self.supervisor.stop("autoscaler")
        self.supervisor.stop_together([i.name for i in self.read_state().instances])
        for name in ("worker", "backup-scheduler"):
            self.supervisor.stop(name)

    def resume_serving(self) -> None:
        """Start what ``stop_serving`` stopped; returns once HAProxy routes to every
        instance."""
        self._restore_instances()
        for name in ("worker", "backup-scheduler", "autoscaler"):
            if self.supervisor.state(name) is not None:
                self.supervisor.start(name)

    def flush_shared_state(self) -> None:
        """Empty Redis (sessions, caches, leaderboards, rate limits) after a restore: what
        it holds may describe rows that no longer exist."""
        import redis

        master = self.redis.status().get("master")
        if not master:
            raise OpsError("Redis has no master right now: cannot empty it")
        client = redis.Redis.from_url(f"redis://{master}/0", socket_timeout=5)
        try:
            client.flushall()
        finally:
            client.close()

    def switchover(self, candidate: str | None = None) -> tuple[str, str]:
        """Patroni switchover to ``candidate`` (default: the synchronous standby); returns
        (old, new leader) once HAProxy routes writes to the new one."""
        old, new = self.db.switchover(candidate)
        self._wait_database_routed(new)
        return old, new

    @property
    def backup_repository_path(self) -> Path:
        return self.backups.settings.repo_path

    def purge(self, *, keep_backups: bool = False) -> list[Path]:
        """Delete the stack's data (after ``down``): the database members, etcd, Redis
        and, unless ``keep_backups``, the backup repository with its passphrase. A
        repository outside the data root (``backup_repo_path``, e.g. a backup disk) is
        never deleted here. Returns what was deleted."""
        if self.supervisor.pid() is not None or any(m.postmaster_pid() for m in self.db.members):
            raise OpsError("the stack is running: `quiz stack down` first")
        root = Path(self.config.data_root)
        doomed = [root / "postgres", root / "etcd", self.redis.directory]
        if not keep_backups and self.backup_repository_path.is_relative_to(root):
            # The repository, and its configuration and passphrase (useless without it).
            doomed += [self.backup_repository_path, self.backups.settings.home]
        deleted = [path for path in doomed if path.exists()]
        for path in deleted:
            shutil.rmtree(path)
        with contextlib.suppress(OSError):
            root.rmdir()  # only when nothing else is left in it
        return deleted

    def stop_database_members(self) -> None:
        """The standbys first, then the leader: stopping the leader first would make a
        standby take over for the few seconds until it stops too."""
        leader = self.db.leader()
        ordered = sorted(self.db.members, key=lambda m: leader is not None and m == leader)
        for member in ordered:
            self.supervisor.stop(member.program)
            with contextlib.suppress(OpsError):
                wait_member_stopped(member, timeout=60)

    # ------------------------------------------------------------------ status ---------
    def status(self) -> dict[str, Any]:
        """Every component and instance, with health, weight, CPU, RSS, release, alerts."""
        state = self.read_state()
        components = [
            _component("supervisord", self.supervisor.pid(), None),
        ]
        programs = (
            {p["name"]: p for p in self.supervisor.all_info()} if components[0]["pid"] else {}
        )
        for name in (
            "etcd",
            *(m.program for m in self.db.members),
            *(n.name for n in self.redis.nodes),
            *(n.name for n in self.redis.sentinels),
            "haproxy",
            "alert-receiver",
            "prometheus",
            "alertmanager",
            "worker",
            "backup-scheduler",
            "autoscaler",
        ):
            info = programs.get(name)
            components.append(
                {
                    "name": name,
                    "pid": (info or {}).get("pid") or None,
                    "state": (info or {}).get("statename", "STOPPED").lower(),
                }
            )
        servers = {}
        with contextlib.suppress(OpsError):
            servers = {(s.backend, s.name): s for s in self.haproxy.servers()}
        instances = []
        for instance in state.instances:
            pid = (programs.get(instance.name) or {}).get("pid") or None
            server = servers.get((instance.backend, lb.slot_name(instance.slot)))
            instances.append(
                {
                    "name": instance.name,
                    "pid": pid,
                    "port": instance.port,
                    "ready": bool(server and server.up),
                    "lb_status": server.status if server else "unknown",
                    "weight": server.weight if server else 0,
                    "release": instance.release,
                    "pool": "stable" if instance.backend == ACTIVE else "candidate",
                    **_usage(pid),
                }
            )
        return {
            "url": self.url,
            "dir": str(self.dir),
            "data_root": self.config.data_root,
            "active_release": state.active_release,
            "previous_release": state.previous_release,
            "components": components,
            "instances": instances,
            "database": self.database_status(programs),
            "redis": self.redis.status(),
            "alerts": self.current_alerts(),
            "urls": {
                "app": self.url,
                "http_redirect": f"http://127.0.0.1:{self.config.http_port}",
                "haproxy_stats": f"http://127.0.0.1:{self.config.stats_port}/stats",
                "prometheus": f"http://127.0.0.1:{self.config.prometheus_port}",
                "alertmanager": f"http://127.0.0.1:{self.config.alertmanager_port}",
            },
        }

    def database_status(self, programs: dict[str, Any] | None = None) -> dict[str, Any]:
        """The data tier as ``quiz stack status --json`` shows it: the leader, every
        member (role, state, postmaster and Patroni PIDs, lag, timeline), whether the
        stack is read-only (no leader), and the backups."""
        if programs is None:
            programs = {p["name"]: p for p in self.supervisor.all_info()}
        seen = {m.name: m for m in self.db.members_status() or []}
        leader = next(
            (m.name for m in seen.values() if m.role == "leader" and m.state == "running"), None
        )
        members = []
        for member in self.db.members:
            known = seen.get(member.name)
            members.append(
                {
                    "name": member.name,
                    "role": known.role if known else "replica",
                    "state": known.state if known else "stopped",
                    "pid": member.postmaster_pid(),
                    "patroni_pid": (programs.get(member.program) or {}).get("pid") or None,
                    "lag_bytes": known.lag_bytes if known else None,
                    "timeline": known.timeline if known else None,
                    "port": member.pg_port,
                    "data_dir": str(member.data_dir),
                }
            )
        return {
            "running": bool(seen),
            "store": "ok" if self.db.etcd_healthy() else "unreachable",
            "leader": leader,
            "members": members,
            "read_only": leader is None,
            "write_url": f"127.0.0.1:{self.config.pg_port}",
            "read_url": f"127.0.0.1:{self.config.pg_replica_port}",
            "backup_repository": str(self.backups.settings.repo_path),
            **summary(self.backups),
        }

    def current_alerts(self) -> list[dict[str, Any]]:
        """Alerts firing in Alertmanager now ([] when it does not answer)."""
        if not port_open(self.config.alertmanager_port):
            return []
        try:
            answer = httpx.get(
                f"http://127.0.0.1:{self.config.alertmanager_port}/api/v2/alerts", timeout=2
            )
            return [
                {
                    "name": a["labels"].get("alertname"),
                    "severity": a["labels"].get("severity"),
                    "since": a.get("startsAt"),
                    "summary": a.get("annotations", {}).get("summary"),
                }
                for a in answer.json()
            ]
        except (httpx.HTTPError, ValueError, KeyError):
            return []

    def prometheus_query(self, query: str) -> list[dict[str, Any]]:
        """Run an instant PromQL query; the result vector."""
        answer = httpx.get(
            f"http://127.0.0.1:{self.config.prometheus_port}/api/v1/query",
            params={"query": query},
            timeout=5,
        )
        body = answer.json()
        if body.get("status") != "success":
            raise OpsError(f"Prometheus query failed: {body.get('error')}")
        return list(body["data"]["result"])


def _target(member: Member) -> PgTarget:
    """A member as the backup module addresses it."""
    return PgTarget(member.data_dir, member.pg_port, member.socket_dir)


def _component(name: str, pid: int | None, where: Path | None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "name": name,
        "pid": pid,
        "state": "running" if pid_alive(pid) else "stopped",
    }
    if where is not None:
        entry["data_dir"] = str(where)
    return entry


def _usage(pid: int | None) -> dict[str, Any]:
    if not pid:
        return {"cpu_percent": None, "rss_mb": None}
    try:
        proc = psutil.Process(pid)
        return {
            "cpu_percent": round(proc.cpu_percent(interval=0.1), 1),
            "rss_mb": round(proc.memory_info().rss / 2**20, 1),
        }
    except psutil.Error:
        return {"cpu_percent": None, "rss_mb": None}


def _override_for(rules: str, alert: str, duration: str) -> str:
    """Replace the ``for:`` of one alert in a rules file (drills use shorter windows)."""
    lines = rules.splitlines(keepends=True)
    inside = False
    for index, line in enumerate(lines):
        stripped = line.strip()
        if stripped.startswith("- alert:"):
            inside = stripped.split(":", 1)[1].strip() == alert
        elif inside and stripped.startswith("for:"):
            indent = line[: len(line) - len(line.lstrip())]
            lines[index] = f"{indent}for: {duration}\n"
            inside = False
    return "".join(lines)


def source_root() -> Path:
    """The checkout this code runs from (holds src/quizplatform and config/)."""
    return deploy_dir().parent
