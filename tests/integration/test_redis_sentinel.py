"""Redis master + replica + three Sentinels under a real supervisord, used by the app's
real services: a SIGKILLed master under load costs no failed store operation and no
session, Sentinel promotes the replica, the launcher brings the killed node back as its
replica, and a full restart keeps the data and the promoted master.

Sessions are written, then the test waits (``WAIT 1``) until the replica has them before
the kill: replication is asynchronous, so a write acknowledged in the last moments before
a master dies may not have reached the replica (and the AOF is fsynced once a second). The
load's own writes around the kill are counted, not asserted, for that reason.

Run with ``-s`` to see the measured times.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from quizplatform.app import create_app
from quizplatform.db.migrate import upgrade
from quizplatform.db.shared_store import RedisStore
from quizplatform.ops.process import free_port, wait_for
from quizplatform.ops.redis import RedisHA
from quizplatform.ops.supervisor import Supervisor
from quizplatform.runtime.settings import Settings
from quizplatform.services.accounts import Role
from quizplatform.services.cache import CHANNEL
from quizplatform.services.container import Services

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None or shutil.which("redis-sentinel") is None,
    reason="needs redis-server and redis-sentinel (scripts/system-deps.sh)",
)

SESSIONS = 200
LOAD_LIMIT_SECONDS = 40.0


@dataclass
class Topology:
    ha: RedisHA
    supervisor: Supervisor
    directory: Path


@pytest.fixture
def topology() -> Iterator[Topology]:
    # A short path: supervisord's Unix socket path must fit in 108 bytes.
    directory = Path(tempfile.mkdtemp(prefix="quiz-redis-ha-"))
    supervisor = Supervisor(directory / "run", directory / "logs")
    ports = [free_port() for _ in range(5)]
    ha = RedisHA(
        directory / "redis",
        directory / "logs",
        master_port=ports[0],
        replica_ports=ports[1:2],
        sentinel_ports=ports[2:],
    )
    try:
        supervisor.ensure_running()
        started = time.monotonic()
        ha.start(supervisor)
        print(f"\nredis topology healthy {time.monotonic() - started:.2f} s after start")
        yield Topology(ha, supervisor, directory)
    finally:
        supervisor.shutdown()  # stops exactly the programs this supervisord started
        shutil.rmtree(directory, ignore_errors=True)


@dataclass
class Load:
    """A bounded loop of store operations, each timed; failures are kept, not raised."""

    store: RedisStore
    durations: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    acknowledged: list[tuple[float, str]] = field(default_factory=list)  # (when, key)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def _timed(self, what: str, operation: Any) -> None:
        started = time.monotonic()
        try:
            await operation
        except Exception as exc:  # noqa: BLE001 - counted and reported by the test
            self.failures.append(f"{what}: {type(exc).__name__}: {exc}")
        finally:
            self.durations.append(time.monotonic() - started)

    async def run(self) -> None:
        deadline = time.monotonic() + LOAD_LIMIT_SECONDS
        i = 0
        while not self.stop.is_set() and time.monotonic() < deadline:
            i += 1
            key = f"load:{i}"
            before = len(self.failures)
            await self._timed("set", self.store.set(key, b"x", ttl=600))
            if len(self.failures) == before:
                self.acknowledged.append((time.monotonic(), key))
            await self._timed("get", self.store.get(key))
            await self._timed("window_add", self.store.window_add("load:w", time.time(), 60))
            await self._timed("incr_many", self.store.incr_many([("load:n", 1, 600)]))
            await asyncio.sleep(0.005)


def _settings(tmp: Path, ha: RedisHA) -> Settings:
    return Settings(
        env="development",
        config_dir=tmp / "no-config",
        data_dir=tmp,
        database_url=f"sqlite:///{tmp / 'quiz.sqlite3'}",
        redis_sentinels=ha.sentinel_addresses,
        redis_sentinel_service=ha.service,
        redis_password=ha.password,
        attempt_sweep_interval_seconds=0,
        rate_limit_enabled=False,
    )


async def _unresolved(services: Services, tokens: list[str]) -> list[str]:
    services.accounts.cache.clear()  # resolve from Redis, not from this process
    return [t for t in tokens if await services.accounts.resolve_token(t) is None]


def _refuse_clients_without_the_password(topology: Topology) -> None:
    """Before: any local process could write ``tok:<hash>`` into Redis and be an admin.
    (Checked on the failover test's topology: starting one costs ~15 s.)"""
    ha = topology.ha
    assert ha.password_file.stat().st_mode & 0o777 == 0o600
    for port in [n.port for n in ha.nodes] + [s.port for s in ha.sentinels]:
        anonymous = redis.Redis(host="127.0.0.1", port=port, socket_timeout=2)
        with anonymous, pytest.raises(redis.AuthenticationError):
            anonymous.set("qp:tok:forged", b'{"user_id": "x", "role": "admin"}')
        with redis.Redis(
            host="127.0.0.1", port=port, password=ha.password, socket_timeout=2
        ) as client:
            assert client.ping()
    for node in ha.nodes:
        conf = node.directory / "redis.conf"
        assert conf.stat().st_mode & 0o077 == 0, "redis.conf holds the password"


async def test_sessions_survive_a_master_crash_and_a_full_restart(topology: Topology) -> None:
    _refuse_clients_without_the_password(topology)
    ha, supervisor = topology.ha, topology.supervisor
    settings = _settings(topology.directory, ha)
    await asyncio.to_thread(upgrade, settings)
    services = Services.create(settings, store_prefix=f"t{uuid.uuid4().hex[:6]}:")
    other = Services.create(settings, store_prefix=services.store.prefix)  # type: ignore[attr-defined]
    heard: list[str] = []
    try:
        await services.start(background=False)
        await other.start(background=False)
        await other.store.subscribe(CHANNEL, heard.append)  # type: ignore[arg-type]
        store = services.store
        assert isinstance(store, RedisStore) and store.sentinel is not None

        # Sessions through the real account service, on the replica before the kill.
        user = await services.accounts.register(
            "s@example.org", "a long passphrase 42", "S", Role.STUDENT
        )
        tokens = [(await services.accounts.issue_token(user)).access_token for _ in range(SESSIONS)]
        assert await store.redis.execute_command("WAIT", 1, 5000) == 1
        assert await _unresolved(services, tokens) == []

        before = await asyncio.to_thread(ha.status)
        old_master = before["master"]
        [killed] = [n for n in ha.nodes if n.address == old_master]
        pid = supervisor.program_pid(killed.name)
        assert pid is not None
        # The launcher exec'd redis-server: supervisord tracks Redis itself.
        assert "redis-server" in await asyncio.to_thread(_command_line, pid)

        load = Load(store)
        load_task = asyncio.create_task(load.run())
        # And one command in flight when the master dies (blocked on the server for 1 s):
        # its retries must reconnect to the new master, not to the old address.
        in_flight = asyncio.create_task(store.redis.blpop([f"{store.prefix}none"], timeout=1))
        await asyncio.sleep(0.5)
        heard.clear()
        killed_at = time.monotonic()
        os.kill(pid, signal.SIGKILL)

        def new_master() -> bool:
            master = ha.status()["master"]
            return master is not None and master != old_master

        elected = await asyncio.to_thread(
            wait_for, new_master, 30, "Sentinel to promote the replica", 0.05
        )

        def rejoined() -> bool:
            status = ha.status()
            return old_master in status["replicas"] and not status["problems"]

        await asyncio.to_thread(wait_for, rejoined, 60, "the killed node back as a replica", 0.05)
        back = time.monotonic() - killed_at
        await asyncio.sleep(0.5)
        load.stop.set()
        await load_task
        assert await in_flight is None  # answered by the new master after its 1 s

        after = await asyncio.to_thread(ha.status)
        lost = [
            key
            for when, key in load.acknowledged
            if when < killed_at and await store.get(key) is None
        ]
        longest = max(load.durations)
        print(
            f"failover: new master {elapsed(elected)} after SIGKILL, killed node back as "
            f"replica {elapsed(back)}; {len(load.durations)} store operations, "
            f"{len(load.failures)} failed, longest {elapsed(longest)} "
            f"(retry limit {settings.redis_retry_seconds:g} s); load writes acknowledged "
            f"before the kill and lost: {len(lost)}"
        )
        assert load.failures == []
        assert longest < settings.redis_retry_seconds
        assert after["master"] != old_master and after["replicas"] == [old_master]
        assert all(s["ok"] for s in after["sentinels"])
        assert supervisor.program_pid(killed.name) not in (None, pid)
        log_file = topology.directory / "logs" / f"{killed.name}.log"
        launcher_log = await asyncio.to_thread(log_file.read_text)
        assert "waiting up to" in launcher_log
        assert f"as replica of {after['master']}: after waiting" in launcher_log
        assert await _unresolved(services, tokens) == []

        # Pub/sub follows the master: the other instance hears a new invalidation.
        assert "*" in heard  # told to drop everything when its subscription resumed
        probe = f"quiz:probe-{uuid.uuid4().hex}"
        await services.cache.invalidate(probe)
        await asyncio.to_thread(wait_for, lambda: probe in heard, 10, "the invalidation")

        # The deep health check names the new master.
        app = create_app(settings, services=services)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            cache = (await http.get("/health")).json()["checks"]["cache"]
        assert cache["status"] == "ok" and cache["master"] == after["master"], cache

        # A full restart (stack down, stack up) keeps the data and the promoted master.
        supervisor.shutdown()
        restarted = time.monotonic()
        supervisor.ensure_running()
        # supervisord starts the data nodes alone: a sentinel beside a master whose launcher
        # is still deciding would count it as down and fail over (seen on a loaded machine).
        assert {supervisor.state(s.name) for s in ha.sentinels} == {"STOPPED"}
        ha.start(supervisor)
        print(f"full restart: healthy again {elapsed(time.monotonic() - restarted)} after start")
        assert ha.status()["master"] == after["master"]
        epochs = await asyncio.to_thread(ha.sentinels[0].config_file.read_text)
        assert f"sentinel config-epoch {ha.service} 1" in epochs  # not clobbered
        assert await _unresolved(services, tokens) == []
    finally:
        await other.close()
        await services.close()

    # Purge stops every program and deletes the data.
    await asyncio.to_thread(ha.purge, supervisor)
    assert not ha.directory.exists()
    assert supervisor.all_info() == []


def _command_line(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def elapsed(seconds: float) -> str:
    return f"{seconds:.2f} s"
