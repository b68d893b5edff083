"""The one-host production stack: TLS load balancer, supervised instances, PostgreSQL
with automatic failover (Patroni + etcd, routed by HAProxy), Redis, Prometheus +
Alertmanager and the autoscaler.

``Stack`` owns one stack directory. Its ``stack.json`` records the configuration and the
runtime state (instances, releases); every change to it happens under ``stack.lock``,
because the autoscaler (a supervised process) and a deploy may act at the same time.

``Stack`` is the facade; the parts live beside it: ``stack_state`` (configuration and
``stack.json``), ``stack_instances`` (instances, worker, migrations, scaling),
``stack_monitoring`` (Prometheus, Alertmanager, alert receiver) and ``stack_status``
(the report of ``quiz stack status``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import structlog

from quizplatform.ops import haproxy as lb
from quizplatform.ops import stack_instances
from quizplatform.ops.backup import BackupRepository, BackupSettings, PgTarget
from quizplatform.ops.backup_scheduler import scheduler_program
from quizplatform.ops.patroni import (
    Member,
    PatroniCluster,
    Timing,
    ensure_patroni,
    wait_member_stopped,
)
from quizplatform.ops.postgres import stop_cluster
from quizplatform.ops.process import OpsError, restrict_modes, wait_for
from quizplatform.ops.redis import RedisHA, RedisServer, stop_redis
from quizplatform.ops.releases import Release, ReleaseStore
from quizplatform.ops.restore import RestoreReport, RestoreTarget
from quizplatform.ops.restore import restore as restore_stack
from quizplatform.ops.stack_monitoring import Alert, Monitoring, PromSample
from quizplatform.ops.stack_state import (
    ACTIVE,
    CANDIDATE,
    STACK_UMASK,
    Instance,
    StackConfig,
    StackState,
    StateFile,
    default_data_root,
    saved_config,
)
from quizplatform.ops.stack_status import (
    DatabaseStatus,
    Programs,
    StackStatus,
    database_status,
    stack_status,
)
from quizplatform.ops.supervisor import Program, Supervisor
from quizplatform.ops.templates import deploy_dir
from quizplatform.ops.tls import TlsFiles, ensure_certificates, tls_files_from

# The names the rest of the code imports from here, wherever they are defined.
__all__ = [
    "ACTIVE",
    "CANDIDATE",
    "Instance",
    "Stack",
    "StackConfig",
    "StackState",
    "source_root",
]

log = structlog.get_logger(__name__)


class Stack:
    """One stack directory and the servers started from it."""

    def __init__(self, directory: Path, config: StackConfig | None = None) -> None:
        # Every file the stack (and what it starts) writes is 0640 at most, directories
        # 0750; files that hold a secret are written 0600 (write_private).
        os.umask(STACK_UMASK)
        self.dir = directory.resolve()
        self.run_dir = self.dir / "run"
        self.log_dir = self.dir / "logs"
        if config is None:
            config = saved_config(self.dir, shown_as=directory)
        if not config.data_root:
            config.data_root = default_data_root(self.dir)
        self.config = config
        self.state_store = StateFile(self.dir, config)
        self.state_file = self.state_store.path
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
        self.monitoring = Monitoring(
            config,
            directory=self.dir,
            run_dir=self.run_dir,
            log_dir=self.log_dir,
            supervisor=self.supervisor,
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
        with self.state_store.locked() as state:
            yield state

    def read_state(self) -> StackState:
        """The saved state (or a fresh one for a new directory)."""
        return self.state_store.read()

    @property
    def url(self) -> str:
        """The app's public URL (HTTPS through HAProxy)."""
        return f"https://{self.config.bind}:{self.config.https_port}"

    # ------------------------------------------------------------------ backups --------
    def backup_settings(self) -> BackupSettings:
        """Where this stack's pgBackRest repository and files live, and its retention."""
        cfg = self.config
        repository = {"repo_path": Path(cfg.backup_repo_path)} if cfg.backup_repo_path else {}
        return BackupSettings.under(
            Path(cfg.data_root),
            recovery_window_days=cfg.backup_recovery_window_days,
            retention_full=cfg.backup_retention_full,
            **repository,
        )

    def backup_target(self) -> PgTarget:
        """The member backups are taken from: the current leader."""
        leader = self.db.leader()
        if leader is None:
            raise OpsError("the database has no leader right now: no backup can be taken")
        return _target(leader)

    # ------------------------------------------------------------------ up -------------
    def up(self, progress: Callable[[str], None] | None = None) -> None:
        """Start everything that is not running yet, in dependency order."""

        def step(message: str) -> None:
            log.info("stack up", step=message)
            if progress is not None:
                progress(message)

        self.config.ports()  # refuse clashing ports before anything starts
        for sub in (self.run_dir, self.log_dir, self.dir / "data"):
            sub.mkdir(parents=True, exist_ok=True)
        # Saved before anything starts: if a step fails, `quiz stack down` still finds the
        # stack (its supervisord, its data root) and stops what did start.
        with self.locked():
            pass
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
        step("smoke-test account")
        stack_instances.smoke_setup(self, self.releases.get(active))
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
        restrict_modes(self.dir)

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

    def _tls(self) -> TlsFiles:
        tls_dir = self.dir / "tls"
        if self.config.cert and self.config.key:
            return tls_files_from(Path(self.config.cert), Path(self.config.key), tls_dir)
        hosts = ["localhost", "127.0.0.1"]
        if self.config.bind not in (*hosts, "0.0.0.0", "::"):  # noqa: S104 - not a bind here
            hosts.append(self.config.bind)  # the local CA's certificate names the address
        return ensure_certificates(tls_dir, hosts=hosts)

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
            public_address=self.config.bind,
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

    def _running(self, program: str) -> bool:
        return self.supervisor.state(program) == "RUNNING"

    # ------------------------------------------------------------------ instances ------
    def migrate(self, release: Release) -> None:
        """Run ``quiz db upgrade`` with ``release``'s code against the primary."""
        stack_instances.migrate(self, release)

    def _env(self, release: Release, instance_id: str) -> dict[str, str]:
        return stack_instances.release_environment(self, release, instance_id)

    def _secret_file(self) -> Path:
        return stack_instances.secret_key_file(self.dir)

    def _start_worker(self) -> None:
        self.supervisor.add(stack_instances.worker_program(self))

    def _start_autoscaler(self) -> None:
        self.supervisor.add(stack_instances.autoscaler_program(self))

    def instance_program(self, instance: Instance) -> Program:
        """The supervisord program that runs ``instance``."""
        return stack_instances.instance_program(self, instance)

    def start_instances(self, release: str, count: int, backend: str) -> list[Instance]:
        """Start ``count`` instances of ``release`` in free slots and wait until each is
        ready; they join HAProxy's ``backend`` with weight 0 (no traffic yet)."""
        return stack_instances.start_instances(self, release, count, backend)

    def wait_instance_ready(self, instance: Instance, timeout: float = 60) -> float:
        """Seconds until the instance answers 200 on /health/ready (direct, not via HAProxy)."""
        return stack_instances.wait_instance_ready(instance, self.log_dir, timeout)

    def wait_lb_up(self, instances: list[Instance], timeout: float = 30) -> float:
        """Seconds until HAProxy's health checks see every instance UP."""
        return stack_instances.wait_lb_up(self.haproxy, instances, timeout)

    def set_weight(self, instances: list[Instance], weight: int) -> None:
        """The HAProxy weight of each of ``instances`` (in its backend)."""
        self.haproxy.set_weights({(i.backend, i.slot): weight for i in instances})

    def stop_instances(self, instances: list[Instance], drain_timeout: float = 30) -> None:
        """Drain in HAProxy, wait for in-flight requests to finish, then SIGTERM and forget
        (in both backends: during a deploy a slot may be routed from both)."""
        stack_instances.stop_instances(self, instances, drain_timeout)

    def active_instances(self) -> list[Instance]:
        """The instances of the active release in the active backend."""
        return stack_instances.active_instances(self.read_state())

    def _active_release(self) -> str:
        return stack_instances.active_release(self.read_state())

    def scale_to(self, count: int, reason: str = "by hand") -> int:
        """Grow or shrink the active release's instances to ``count`` (within bounds)."""
        return stack_instances.scale_to(self, count, reason)

    def _restore_instances(self) -> None:
        """After a restart of supervisord/HAProxy: bring recorded instances back."""
        stack_instances.restore_instances(self)

    # ------------------------------------------------------------------ monitoring -----
    @property
    def alerts_file(self) -> Path:
        """Where the alert receiver appends every notification Alertmanager sends."""
        return self.monitoring.alerts_file

    @property
    def targets_file(self) -> Path:
        """Prometheus' file_sd list of the instances."""
        return self.monitoring.targets_file

    def _start_receiver(self) -> None:
        self.supervisor.add(self.monitoring.receiver_program())

    def _start_monitoring(self) -> None:
        self.monitoring.start(self.read_state().instances)

    def _write_targets(self, state: StackState | None = None) -> None:
        """Rewrite Prometheus' file_sd list of instances (atomically)."""
        self.monitoring.write_targets((state or self.read_state()).instances)

    def current_alerts(self) -> list[Alert]:
        """Alerts firing in Alertmanager now ([] when it does not answer)."""
        return self.monitoring.current_alerts()

    def prometheus_query(self, query: str) -> list[PromSample]:
        """Run an instant PromQL query; the result vector."""
        return self.monitoring.query(query)

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
        self, member: Member, bootstrap: dict[str, object] | None = None
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
        host, _, port = str(master).rpartition(":")
        client = redis.Redis(
            host=host, port=int(port), password=self.redis.password, socket_timeout=5
        )
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
    def status(self) -> StackStatus:
        """Every component and instance, with health, weight, CPU, RSS, release, alerts."""
        return stack_status(self)

    def database_status(self, programs: Programs | None = None) -> DatabaseStatus:
        """The data tier as ``quiz stack status --json`` shows it (``stack_status.py``)."""
        return database_status(self, programs)


def _target(member: Member) -> PgTarget:
    """A member as the backup module addresses it."""
    return PgTarget(member.data_dir, member.pg_port, member.socket_dir)


def source_root() -> Path:
    """The checkout this code runs from (holds src/quizplatform and config/)."""
    return deploy_dir().parent
