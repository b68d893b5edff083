"""Real PostgreSQL primary + streaming replica, and Redis, driven by the ops modules.

Cluster data lives under a fresh /tmp directory (mode 0755) because the postgres user
must traverse every parent of its data directory; pytest's tmp_path may not allow that.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
import redis

from quizplatform.ops.postgres import (
    PgCluster,
    drain_writes,
    ensure_primary,
    ensure_replica,
    pg_bin,
    promote,
    replica_lag_seconds,
    replication_status,
    resume_writes,
    stop_cluster,
)
from quizplatform.ops.process import (
    OpsError,
    free_port,
    pid_alive,
    port_open,
    run,
    wait_for,
)
from quizplatform.ops.redis import RedisServer, ensure_redis, ping, stop_redis


def _have_postgres() -> bool:
    try:
        pg_bin()
    except OpsError:
        return False
    return True


needs_postgres = pytest.mark.skipif(not _have_postgres(), reason="PostgreSQL is not installed")
needs_redis = pytest.mark.skipif(shutil.which("redis-server") is None, reason="no redis-server")


def _mkdtemp() -> Path:
    directory = Path(tempfile.mkdtemp(prefix="quiz-pg-"))
    directory.chmod(0o755)
    return directory


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    directory = _mkdtemp()
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _cluster(workdir: Path, name: str) -> PgCluster:
    return PgCluster(
        name=name,
        data_dir=workdir / name / "data",
        port=free_port(),
        socket_dir=workdir / "run",
        log_file=workdir / "log" / f"{name}.log",
    )


def sql(cluster: PgCluster, statement: str, database: str = "quiz") -> str:
    """One statement through psql over TCP, as the postgres user."""
    argv: list[str | Path] = [
        pg_bin() / "psql",
        "-X",
        "-A",
        "-t",
        "-q",
        "-v",
        "ON_ERROR_STOP=1",
        "-c",
        statement,
    ]
    tcp = ["-h", "127.0.0.1", "-p", str(cluster.port), "-U", "postgres", "-d", database]
    return run(
        [*argv, *tcp],
        what=f"psql on {cluster.name}",
        user="postgres",
        cwd=Path("/"),
        timeout=10,
    ).strip()


@pytest.fixture(scope="module")
def pair(workdir: Path) -> Iterator[tuple[PgCluster, PgCluster]]:
    """A synchronous primary and its streaming replica (one initdb for the whole module)."""
    primary = _cluster(workdir, "primary")
    replica: PgCluster | None = None
    try:
        # No standby yet: creating database "quiz" must not wait for one.
        ensure_primary(primary, sync_replica=True)
        replica = _cluster(workdir, "replica")
        ensure_replica(replica, primary)
        yield primary, replica
    finally:
        if replica is not None:
            stop_cluster(replica)
        stop_cluster(primary)


def sync_states(primary: PgCluster) -> list[str]:
    return [row["sync_state"] for row in replication_status(primary)]


@needs_postgres
def test_replica_streams_what_the_primary_writes(pair: tuple[PgCluster, PgCluster]) -> None:
    primary, replica = pair
    assert primary.url == f"postgresql://postgres@127.0.0.1:{primary.port}/quiz"
    assert primary.running() and replica.running()
    assert primary.pid() != replica.pid()

    sql(primary, "CREATE TABLE streamed (id int PRIMARY KEY, note text)")
    sql(primary, "INSERT INTO streamed VALUES (1, 'hello replica')")  # waits for the standby
    took = wait_for(
        lambda: sql(replica, "SELECT note FROM streamed WHERE id = 1") == "hello replica",
        5,
        "the row on the replica",
        interval=0.05,
    )
    assert took < 5

    assert sql(replica, "SELECT pg_is_in_recovery()") == "t"
    with pytest.raises(OpsError, match="read-only"):
        sql(replica, "INSERT INTO streamed VALUES (2, 'nope')")

    lag = replica_lag_seconds(replica)
    assert lag is not None and lag < 2.0
    assert replica_lag_seconds(primary) is None  # not a standby

    status = replication_status(primary)
    assert len(status) == 1
    assert status[0]["application_name"] == "walreceiver"
    assert status[0]["state"] == "streaming"
    assert status[0]["sync_state"] == "sync"
    assert status[0]["replay_lag"] is None or status[0]["replay_lag"] < 2.0


@needs_postgres
def test_ensure_is_idempotent_and_switches_sync_mode(pair: tuple[PgCluster, PgCluster]) -> None:
    primary, replica = pair
    pids = (primary.pid(), replica.pid())
    ensure_primary(primary, sync_replica=True)
    ensure_replica(replica, primary)
    assert (primary.pid(), replica.pid()) == pids
    assert sql(primary, "SELECT count(*) FROM pg_database WHERE datname = 'quiz'") == "1"

    ensure_primary(primary, sync_replica=False)  # reloads, does not restart
    wait_for(lambda: sync_states(primary) == ["async"], 5, "the replica to become async")
    ensure_primary(primary, sync_replica=True)
    wait_for(lambda: sync_states(primary) == ["sync"], 5, "the replica to become sync")
    assert primary.pid() == pids[0]


@needs_postgres
def test_promote_and_stop_exactly_one_cluster(
    workdir: Path, pair: tuple[PgCluster, PgCluster]
) -> None:
    primary, replica = pair
    spare = _cluster(workdir, "spare")
    try:
        ensure_replica(spare, primary)
        wait_for(lambda: len(replication_status(primary)) == 2, 5, "two standbys")
        sql(primary, "CREATE TABLE before_promotion (id int)")

        promote(spare)
        assert sql(spare, "SELECT pg_is_in_recovery()") == "f"
        wait_for(
            lambda: (
                sql(spare, "SELECT count(*) FROM pg_tables WHERE tablename = 'before_promotion'")
                == "1"
            ),
            5,
            "the table on the promoted cluster",
        )
        sql(spare, "INSERT INTO before_promotion VALUES (1)")  # writable, does not wait
        assert replica_lag_seconds(spare) is None
        promote(spare)  # already a primary: nothing to do
        with pytest.raises(OpsError, match="not a standby"):
            ensure_replica(spare, primary)

        spare_pid, primary_pid, replica_pid = spare.pid(), primary.pid(), replica.pid()
        assert spare_pid is not None
        assert stop_cluster(spare) is True
        assert not pid_alive(spare_pid)
        assert not spare.running() and not port_open(spare.port)
        assert stop_cluster(spare) is False
        # The others are untouched and still replicating.
        assert (primary.pid(), replica.pid()) == (primary_pid, replica_pid)
        wait_for(lambda: sync_states(primary) == ["sync"], 5, "one standby left")
    finally:
        stop_cluster(spare)


@needs_postgres
def test_drain_writes_waits_for_open_writers_and_leaves_no_setting_behind(
    pair: tuple[PgCluster, PgCluster],
) -> None:
    """What a switchover does before Patroni stops the leader: transactions begun after
    the drain are read-only (SQLSTATE 25006, which the app runs again), the one already
    writing may finish, and the member keeps no read-only setting for when it leads."""
    primary, replica = pair
    sql(primary, "CREATE TABLE IF NOT EXISTS drained (id int PRIMARY KEY)")

    async def scenario() -> tuple[int, float, str]:
        url = f"postgresql://postgres@127.0.0.1:{primary.port}/quiz"
        writer, late = await asyncpg.connect(url), await asyncpg.connect(url)
        try:
            open_writer = writer.transaction()
            await open_writer.start()
            await writer.execute("INSERT INTO drained VALUES (1)")
            started = time.monotonic()
            drain = asyncio.create_task(asyncio.to_thread(drain_writes, primary, "quiz", 20))
            await asyncio.sleep(2)
            assert not drain.done(), "the drain did not wait for the open writer"
            refused = ""
            try:
                await late.execute("INSERT INTO drained VALUES (2)")
            except asyncpg.PostgresError as exc:
                refused = str(exc.sqlstate)
            await open_writer.commit()  # the open writer may still commit
            still_open = await drain
            return still_open, time.monotonic() - started, refused
        finally:
            await writer.close()
            await late.close()

    still_open, took, refused = asyncio.run(scenario())
    assert (still_open, refused) == (0, "25006")
    assert took < 10
    assert sql(primary, "SELECT string_agg(id::text, ',') FROM drained") == "1"
    resume_writes(primary)
    wait_for(
        lambda: sql(primary, "SHOW default_transaction_read_only") == "off",
        5,
        "writes to resume",
    )
    setting = "SELECT count(*) FROM pg_file_settings WHERE name = 'default_transaction_read_only'"
    assert sql(primary, setting) == "0"  # nothing left for when it next leads
    resume_writes(replica)  # on a standby too (the old leader, following by then)
    sql(primary, "INSERT INTO drained VALUES (3)")


@needs_postgres
@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands directories to postgres")
def test_unreachable_data_dir_is_refused_with_a_reason() -> None:
    hidden = Path(tempfile.mkdtemp(prefix="quiz-pg-"))  # mode 0700: postgres cannot enter
    try:
        cluster = _cluster(hidden, "hidden")
        with pytest.raises(OpsError, match="cannot enter"):
            ensure_primary(cluster)
        assert not cluster.running()
    finally:
        shutil.rmtree(hidden, ignore_errors=True)


@needs_redis
def test_redis_starts_answers_and_stops(workdir: Path) -> None:
    server = RedisServer(port=free_port(), directory=workdir / "redis")
    try:
        ensure_redis(server)
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
        assert ping(server.port)
        client = redis.Redis.from_url(server.url)
        try:
            assert client.ping() is True
            client.set("k", "v")
            assert client.get("k") == b"v"
        finally:
            client.close()
        pid = server.pid()
        assert pid is not None
        ensure_redis(server)  # idempotent
        assert server.pid() == pid
        assert stop_redis(server) is True
        assert not pid_alive(pid) and not port_open(server.port)
        assert stop_redis(server) is False
    finally:
        stop_redis(server)
