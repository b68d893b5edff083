"""PostgreSQL clusters for a local stack: a primary and streaming replicas on 127.0.0.1.

PostgreSQL refuses to run as root, so when we are root every server command (initdb,
pg_ctl, pg_basebackup, psql) runs as the ``postgres`` user and the directories it needs
are handed to that user. A cluster is identified by its data directory and stopped with
``pg_ctl -D <data dir>``, so only the cluster we started is ever touched.

Each cluster's settings live in ``quiz.conf`` inside its data directory (included from
``postgresql.conf``) and are rewritten by every ``ensure_*`` call; a replica copies the
primary's files with ``pg_basebackup`` and then gets its own ``quiz.conf``.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import re
import signal
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from quizplatform.ops.process import (
    OpsError,
    pid_alive,
    pidfile_process,
    port_open,
    run,
    stop_pid,
    wait_for,
    which,
)

PG_USER = "postgres"
DATABASE = "quiz"
SYNC_STANDBY_NAMES = "FIRST 1 (walreceiver)"
START_TIMEOUT = 60
_SOCKET_PATH_MAX = 107  # sun_path is 108 bytes on Linux, NUL included
_ROOT = Path("/")  # working directory for commands run as postgres (it may not enter ours)

_HBA = """\
# Written by quizplatform.ops.postgres: trust, but only over our own socket and 127.0.0.1.
# TYPE  DATABASE     USER  ADDRESS       METHOD
local   all          all                 trust
local   replication  all                 trust
host    all          all   127.0.0.1/32  trust
host    replication  all   127.0.0.1/32  trust
"""


@dataclass
class PgCluster:
    """One PostgreSQL cluster: its data directory, port, socket directory and log file."""

    name: str
    data_dir: Path
    port: int
    socket_dir: Path
    log_file: Path

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).absolute()
        self.socket_dir = Path(self.socket_dir).absolute()
        self.log_file = Path(self.log_file).absolute()

    @property
    def url(self) -> str:
        """The application database URL (database ``quiz``, user ``postgres``, TCP)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/{DATABASE}"

    def pid(self) -> int | None:
        """The postmaster's PID from ``postmaster.pid`` when that process is alive."""
        return pidfile_process(self.data_dir / "postmaster.pid", b"postgres")

    def running(self) -> bool:
        """True when the cluster's postmaster is alive."""
        return self.pid() is not None


class ReplicaStatus(TypedDict):
    """One row of ``pg_stat_replication`` as ``replication_status`` reports it."""

    application_name: str
    state: str  # startup, catchup, streaming, backup, stopping
    sync_state: str  # async, potential, sync, quorum
    replay_lag: float | None  # seconds; 0.0 when caught up, None when unknown
    replay_lag_bytes: int | None  # WAL bytes the standby has still to replay


def pg_bin() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin``, else the directory of ``pg_ctl``."""
    found: list[tuple[tuple[int, ...], Path]] = []
    for bin_dir in Path("/usr/lib/postgresql").glob("*/bin"):
        version = bin_dir.parent.name
        if re.fullmatch(r"\d+(\.\d+)*", version) and (bin_dir / "pg_ctl").exists():
            found.append((tuple(int(part) for part in version.split(".")), bin_dir))
    if found:
        return max(found)[1]
    return Path(which("pg_ctl")).parent


def ensure_primary(
    cluster: PgCluster,
    *,
    sync_replica: bool = False,
    extra_settings: dict[str, str] | None = None,
) -> None:
    """Create (initdb), configure and start a primary, and create database ``quiz``.

    Idempotent: an existing cluster is reused and a running one is left running (its
    configuration is reloaded when it changed, e.g. to switch ``sync_replica``). With
    ``sync_replica`` commits wait for a standby named ``walreceiver`` (the default name
    of a ``pg_basebackup -R`` replica), so start one before writing. ``extra_settings``
    are more ``quiz.conf`` lines, values written as given (quote strings yourself), e.g.
    WAL archiving; a setting that needs a restart (``archive_mode``) must be there from
    the first start.
    """
    prepare_cluster_dirs(cluster)
    if not (cluster.data_dir / "PG_VERSION").exists():
        _require_empty(cluster)
        _initdb(cluster)
    elif (cluster.data_dir / "standby.signal").exists():
        raise OpsError(f"{cluster.name}: {cluster.data_dir} is a standby; promote it first")
    changed = _write_config(
        cluster, sync_names=SYNC_STANDBY_NAMES if sync_replica else "", extra=extra_settings
    )
    if cluster.running():
        _check_running_port(cluster)
        if changed:
            _pg_ctl(cluster, "reload")
    else:
        _start(cluster)
    _ensure_database(cluster)


def ensure_replica(replica: PgCluster, primary: PgCluster) -> None:
    """Make ``replica`` a streaming hot standby of ``primary`` and start it.

    A missing data directory is filled with ``pg_basebackup -R -X stream -c fast`` from
    the running primary; the replica then gets its own port and socket directory. Returns
    once it accepts connections, is in recovery and its WAL receiver is streaming.
    Idempotent: a running standby is left as it is.
    """
    if not primary.running():
        raise OpsError(f"{replica.name}: the primary {primary.name} is not running")
    prepare_cluster_dirs(replica)
    if not (replica.data_dir / "PG_VERSION").exists():
        _require_empty(replica)
        run(
            [
                pg_bin() / "pg_basebackup",
                "-D",
                replica.data_dir,
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                "-h",
                "127.0.0.1",
                "-p",
                str(primary.port),
                "-U",
                PG_USER,
                "-w",
            ],
            what=f"pg_basebackup of {primary.name} into {replica.data_dir}",
            user=PG_USER,
            cwd=_ROOT,
            timeout=600,
        )
    if replica.running():
        _check_running_port(replica)
        if query(replica, "SELECT pg_is_in_recovery()") != "t":
            raise OpsError(f"{replica.name} is running but is not a standby (promoted?)")
        return
    if not (replica.data_dir / "standby.signal").exists():
        raise OpsError(f"{replica.name}: {replica.data_dir} is not a standby (promoted?)")
    _write_config(replica, sync_names="")
    _start(replica)
    wait_for(
        lambda: query(replica, "SELECT pg_is_in_recovery()") == "t",
        30,
        f"{replica.name} to accept connections in recovery",
    )
    wait_for(
        lambda: query(replica, "SELECT status FROM pg_stat_wal_receiver") == "streaming",
        30,
        f"{replica.name} to stream from {primary.name} (see {replica.log_file})",
    )


def stop_cluster(cluster: PgCluster, timeout: float = 30) -> bool:
    """Stop this cluster (``pg_ctl -m fast stop`` on its data directory).

    Escalates to an immediate shutdown when the fast one does not finish within
    ``timeout``. Returns whether the cluster was running.
    """
    pid = cluster.pid()
    if pid is None:
        return False
    seconds = str(max(1, round(timeout)))
    try:
        _pg_ctl(cluster, "stop", "-m", "fast", "-w", "-t", seconds, timeout=timeout + 10)
    except OpsError:
        with contextlib.suppress(OpsError):
            _pg_ctl(cluster, "stop", "-m", "immediate", "-w", "-t", "10", timeout=20)
    if pid_alive(pid):
        stop_pid(pid, timeout=10, sig=signal.SIGQUIT)  # SIGQUIT = immediate shutdown
    return True


def promote(cluster: PgCluster) -> None:
    """Promote a running standby to a primary; returns once it accepts writes."""
    if not cluster.running():
        raise OpsError(f"cannot promote {cluster.name}: it is not running")
    if query(cluster, "SELECT pg_is_in_recovery()") == "f":
        return
    _pg_ctl(cluster, "promote", "-w", "-t", str(START_TIMEOUT), timeout=START_TIMEOUT + 10)
    wait_for(
        lambda: query(cluster, "SELECT pg_is_in_recovery()") == "f",
        30,
        f"{cluster.name} to leave recovery",
    )


def replication_status(primary: PgCluster) -> list[ReplicaStatus]:
    """The standbys connected to ``primary``, from ``pg_stat_replication``."""
    rows = query(
        primary,
        "SELECT application_name, state, sync_state, EXTRACT(EPOCH FROM replay_lag),"
        " pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn()"
        " ELSE pg_current_wal_lsn() END, replay_lsn)"
        " FROM pg_stat_replication ORDER BY application_name, pid",
    )
    result: list[ReplicaStatus] = []
    for line in rows.splitlines():
        name, state, sync_state, lag, lag_bytes = line.split("\0")
        behind = int(float(lag_bytes)) if lag_bytes else None
        seconds = float(lag) if lag else (0.0 if behind == 0 else None)
        result.append(
            ReplicaStatus(
                application_name=name,
                state=state,
                sync_state=sync_state,
                replay_lag=seconds,
                replay_lag_bytes=behind,
            )
        )
    return result


def replica_lag_seconds(replica: PgCluster) -> float | None:
    """How far ``replica`` lags in replay, in seconds (0.0 when caught up).

    None when the cluster is not in recovery or has not replayed anything yet;
    OpsError when it does not answer.
    """
    value = query(
        replica,
        "SELECT CASE WHEN NOT pg_is_in_recovery() THEN NULL"
        " WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0"
        " ELSE GREATEST(0, EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())) END",
    )
    return float(value) if value else None


# -- directories ----------------------------------------------------------------------------


def postgres_ids() -> tuple[int, int, set[int]] | None:
    """(uid, gid, groups) of the postgres user when we are root (and must hand over files)."""
    if os.geteuid() != 0:
        return None
    try:
        user = pwd.getpwnam(PG_USER)
    except KeyError as exc:
        raise OpsError("no 'postgres' user: install the postgresql package") from exc
    groups = set(os.getgrouplist(PG_USER, user.pw_gid))
    groups.update(g.gr_gid for g in grp.getgrall() if PG_USER in g.gr_mem)
    return user.pw_uid, user.pw_gid, groups


def _allowed(st: os.stat_result, ids: tuple[int, int, set[int]], user_bit: int) -> bool:
    uid, _, groups = ids
    if st.st_uid == uid:
        return bool(st.st_mode & user_bit)
    if st.st_gid in groups:
        return bool(st.st_mode & (user_bit >> 3))
    return bool(st.st_mode & (user_bit >> 6))


def make_dirs(path: Path) -> bool:
    """Create ``path`` and missing parents with mode 0755; True when ``path`` was created."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            directory.mkdir(mode=0o755)
            os.chmod(directory, 0o755)  # noqa: S103 - postgres must traverse it (umask-proof)
    return path in missing


def check_reachable(path: Path, ids: tuple[int, int, set[int]]) -> None:
    """OpsError when the postgres user cannot traverse a parent of ``path``."""
    for parent in reversed(path.parents):
        if not _allowed(parent.stat(), ids, stat.S_IXUSR):
            raise OpsError(
                f"the postgres user cannot enter {parent} (mode "
                f"{stat.S_IMODE(parent.stat().st_mode):o}), so it cannot reach {path}: "
                "put cluster data under a directory it can traverse, e.g. a fresh /tmp "
                "directory with mode 0755"
            )


def hand_over(path: Path, mode: int, ids: tuple[int, int, set[int]] | None) -> None:
    if ids is not None:
        os.chown(path, ids[0], ids[1])
    os.chmod(path, mode)


def prepare_cluster_dirs(cluster: PgCluster) -> None:
    """Data dir (0700), socket dir and log file, all owned by postgres when we are root."""
    socket_path = cluster.socket_dir / f".s.PGSQL.{cluster.port}"
    if len(str(socket_path).encode()) > _SOCKET_PATH_MAX:
        raise OpsError(f"{cluster.name}: socket path {socket_path} is too long for Unix sockets")
    ids = postgres_ids()

    make_dirs(cluster.data_dir.parent)
    if not cluster.data_dir.exists():
        cluster.data_dir.mkdir(mode=0o700)
        hand_over(cluster.data_dir, 0o700, ids)
    elif not (cluster.data_dir / "PG_VERSION").exists():
        hand_over(cluster.data_dir, 0o700, ids)

    created = make_dirs(cluster.socket_dir)
    if ids is not None and (
        created or not _allowed(cluster.socket_dir.stat(), ids, stat.S_IWUSR | stat.S_IXUSR)
    ):
        hand_over(cluster.socket_dir, 0o755, ids)

    make_dirs(cluster.log_file.parent)
    cluster.log_file.touch(exist_ok=True)
    hand_over(cluster.log_file, 0o640, ids)

    if ids is not None:
        for path in (cluster.data_dir, cluster.socket_dir, cluster.log_file):
            check_reachable(path, ids)


def _require_empty(cluster: PgCluster) -> None:
    if any(cluster.data_dir.iterdir()):
        raise OpsError(
            f"{cluster.name}: {cluster.data_dir} is neither empty nor a PostgreSQL data "
            "directory; remove it or choose another"
        )


def write_owned(path: Path, text: str) -> bool:
    """Write a file the server reads (owned by postgres, 0600); True when it changed."""
    with contextlib.suppress(OSError):
        if path.read_text() == text:
            return False
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    hand_over(tmp, 0o600, postgres_ids())
    os.replace(tmp, path)
    return True


# -- server ---------------------------------------------------------------------------------


def _quote(value: str | Path) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _initdb(cluster: PgCluster) -> None:
    locale = "C.UTF-8" if Path("/usr/lib/locale/C.utf8").exists() else "C"
    run(
        [
            pg_bin() / "initdb",
            "-D",
            cluster.data_dir,
            "-U",
            PG_USER,
            "-A",
            "trust",
            "-E",
            "UTF8",
            f"--locale={locale}",
            "--no-instructions",
        ],
        what=f"initdb of {cluster.name} in {cluster.data_dir}",
        user=PG_USER,
        cwd=_ROOT,
        timeout=300,
    )
    write_owned(cluster.data_dir / "pg_hba.conf", _HBA)
    conf = cluster.data_dir / "postgresql.conf"
    with conf.open("a") as out:
        out.write("\n# quizplatform settings (rewritten by quizplatform.ops.postgres)\n")
        out.write("include_if_exists = 'quiz.conf'\n")


def _write_config(
    cluster: PgCluster, *, sync_names: str, extra: dict[str, str] | None = None
) -> bool:
    settings = {
        "listen_addresses": _quote("127.0.0.1"),
        "port": str(cluster.port),
        "unix_socket_directories": _quote(cluster.socket_dir),
        "unix_socket_permissions": "0700",
        "wal_level": "replica",
        "max_wal_senders": "10",
        "max_replication_slots": "10",
        "wal_keep_size": _quote("128MB"),
        "hot_standby": "on",
        "hot_standby_feedback": "on",
        "synchronous_standby_names": _quote(sync_names),
        "shared_buffers": _quote("32MB"),
        "log_line_prefix": _quote("%m [%p] %q%a "),
        **(extra or {}),
    }
    text = f"# {cluster.name}: written by quizplatform.ops.postgres, do not edit\n" + "".join(
        f"{key} = {value}\n" for key, value in settings.items()
    )
    return write_owned(cluster.data_dir / "quiz.conf", text)


def _pg_ctl(cluster: PgCluster, *args: str, timeout: float = 60) -> str:
    return run(
        [pg_bin() / "pg_ctl", "-D", cluster.data_dir, *args],
        what=f"pg_ctl {args[0]} of {cluster.name}",
        user=PG_USER,
        cwd=_ROOT,
        timeout=timeout,
    )


def _log_tail(cluster: PgCluster, lines: int = 15) -> str:
    try:
        return "\n".join(cluster.log_file.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _start(cluster: PgCluster) -> None:
    if port_open(cluster.port):
        raise OpsError(f"cannot start {cluster.name}: port {cluster.port} is already in use")
    try:
        _pg_ctl(
            cluster,
            "start",
            "-l",
            str(cluster.log_file),
            "-w",
            "-t",
            str(START_TIMEOUT),
            "-s",
            timeout=START_TIMEOUT + 10,
        )
    except OpsError as exc:
        raise OpsError(f"{exc}\n{cluster.log_file}:\n{_log_tail(cluster)}") from exc


def _check_running_port(cluster: PgCluster) -> None:
    try:
        lines = (cluster.data_dir / "postmaster.pid").read_text().splitlines()
    except OSError:
        return
    if len(lines) > 3 and lines[3].strip() != str(cluster.port):
        raise OpsError(
            f"{cluster.name} is running on port {lines[3].strip()}, not {cluster.port}: "
            "stop it before changing its port"
        )


def psql_argv(socket_dir: Path, port: int, database: str) -> list[str]:
    """psql over the socket as postgres: unaligned rows, fields split by NUL, stop at the
    first error."""
    return [
        str(pg_bin() / "psql"),
        "-X",
        "-q",
        "-A",
        "-t",
        "-z",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        str(socket_dir),
        "-p",
        str(port),
        "-U",
        PG_USER,
        "-d",
        database,
    ]


def query(cluster: PgCluster, *statements: str, database: str = "postgres") -> str:
    """Run SQL with psql over the cluster's socket; unaligned rows, fields split by NUL."""
    argv = psql_argv(cluster.socket_dir, cluster.port, database)
    for statement in statements:
        argv += ["-c", statement]
    return run(argv, what=f"psql on {cluster.name}", user=PG_USER, cwd=_ROOT, timeout=30).strip()


def _ensure_database(cluster: PgCluster) -> None:
    sql = f"SELECT 1 FROM pg_database WHERE datname = {_quote(DATABASE)}"  # noqa: S608 - constant
    exists = query(cluster, sql)
    if exists == "1":
        return
    try:
        # Local commit: with sync_replica and no standby yet, this must not wait for one.
        query(cluster, "SET synchronous_commit = local", f'CREATE DATABASE "{DATABASE}"')
    except OpsError as exc:
        if "already exists" not in str(exc):
            raise


#: Seconds a switchover waits for the leader's write transactions to end.
DRAIN_SECONDS = 5.0


def _open_writers_sql(database: str, mark: str) -> str:
    """Client transactions of the app's database begun before ``mark`` (a timestamp
    PostgreSQL printed): the ones that may still write; those begun later are
    read-only (see ``drain_writes``)."""
    return (
        "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"  # noqa: S608 - constants and a server-made timestamp
        f" AND pid <> pg_backend_pid() AND datname = '{database}'"
        f" AND xact_start < '{mark}'::timestamptz"
    )


def drain_writes(leader: PgCluster, database: str, seconds: float = DRAIN_SECONDS) -> int:
    """Before a planned switchover: make new transactions on ``leader`` read-only and
    wait (up to ``seconds``) for the transactions already open in ``database`` to end.
    Returns how many were still open when the wait ended. ``resume_writes`` undoes it.

    Patroni stops the old leader with a fast shutdown, which cuts a COMMIT waiting for
    the synchronous standby: its client cannot know whether it was saved
    (``commit_unknown``). Drained first, the leader has no such COMMIT; the app meets
    read-only transactions instead (SQLSTATE 25006: nothing saved, run again once the
    new leader takes writes), exactly as on a demoted server.

    The setting goes through ``postgresql.auto.conf`` because each backend re-reads the
    files itself when it applies a reload (before its next command), so it must stay
    there until the switchover is over."""
    query(leader, "ALTER SYSTEM SET default_transaction_read_only = on")
    # A transaction begun after the reload reached its backend is read-only; the margin
    # covers the signal's delivery (one begun in it is merely waited for).
    mark = query(leader, "SELECT pg_reload_conf()", "SELECT now() + interval '0.5 s'")
    mark = mark.splitlines()[-1]
    deadline = time.monotonic() + seconds
    while True:
        time.sleep(0.1)
        open_writers = int(query(leader, _open_writers_sql(database, mark)) or 0)
        if open_writers == 0 or time.monotonic() >= deadline:
            return open_writers


def resume_writes(member: PgCluster, timeout: float = 60) -> None:
    """Undo ``drain_writes`` on ``member`` (the old leader, following the new one by
    now, or still leading when the switchover did not happen), so it takes writes when
    it next leads. Waits for the member to answer (it restarts as a standby)."""

    def reset() -> bool:
        try:
            query(
                member,
                "ALTER SYSTEM RESET default_transaction_read_only",
                "SELECT pg_reload_conf()",
            )
        except OpsError:
            return False
        return True

    wait_for(reset, timeout, f"{member.name} to take the read-only setting back", interval=0.5)
