"""supervisord: the process supervisor of the one-host stack, driven over XML-RPC.

Every long-running program of the stack (etcd, the Patroni members, Redis and its
sentinels, HAProxy, instances, worker, Prometheus, Alertmanager, alert receiver,
autoscaler, backup scheduler) is a supervisord program:
it restarts what crashes, and its XML-RPC interface adds, starts, stops and removes
programs at run time. We do not write our own process manager.
"""

from __future__ import annotations

import contextlib
import shlex
import sys
import xmlrpc.client
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from supervisor.xmlrpc import SupervisorTransport

from quizplatform.ops.process import OpsError, pid_alive, read_pidfile, run, wait_for

RUNNING = "RUNNING"


@dataclass(frozen=True)
class Program:
    """One supervisord program section."""

    name: str
    command: list[str]
    directory: Path
    log_file: Path
    environment: dict[str, str] = field(default_factory=dict)
    autostart: bool = True
    stop_wait_seconds: int = 40
    start_seconds: int = 1
    priority: int = 500
    user: str | None = None  # supervisord (running as root) switches to this user
    umask: str | None = None  # e.g. "077" for a program that writes secrets (Redis)

    def section(self) -> str:
        """The ``[program:name]`` text for supervisord's configuration."""
        env = ",".join(f"{k}={_env_value(v)}" for k, v in sorted(self.environment.items()))
        lines = [
            f"[program:{self.name}]",
            "command=" + " ".join(_quote(_escape(c)) for c in self.command),
            f"directory={_escape(str(self.directory))}",
            f"autostart={str(self.autostart).lower()}",
            "autorestart=true",
            f"startsecs={self.start_seconds}",
            "startretries=1000",
            "stopsignal=TERM",
            f"stopwaitsecs={self.stop_wait_seconds}",
            "stopasgroup=true",
            "killasgroup=true",
            f"priority={self.priority}",
            *([f"umask={self.umask}"] if self.umask else []),
            f"stdout_logfile={_escape(str(self.log_file))}",
            "stdout_logfile_maxbytes=20MB",
            "stdout_logfile_backups=2",
            "redirect_stderr=true",
        ]
        if env:
            lines.append(f"environment={env}")
        if self.user:
            lines.append(f"user={self.user}")
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    # supervisord expands %(name)s in values: a literal % is written %%.
    return value.replace("%", "%%")


def _env_value(value: str) -> str:
    # supervisord splits environment= with shlex: a value holding double quotes (JSON)
    # goes in single quotes, where shlex takes everything literally. It also strips quote
    # characters at either end of a value and cuts a line at " ;" or " #" (comments):
    # such values are refused rather than silently changed.
    if value[:1] in ("'", '"') or value[-1:] in ("'", '"') or " ;" in value or " #" in value:
        raise ValueError(f"supervisord cannot carry this environment value intact: {value!r}")
    if '"' in value:
        if "'" in value:
            raise ValueError(f"an environment value cannot hold both quote kinds: {value!r}")
        return "'" + value.replace("%", "%%") + "'"
    return '"' + value.replace("%", "%%") + '"'


def _quote(arg: str) -> str:
    # supervisord splits command= with shlex (POSIX rules).
    return shlex.quote(arg)


class Supervisor:
    """supervisord for one stack directory: config, start, shutdown and XML-RPC calls."""

    def __init__(self, run_dir: Path, log_dir: Path) -> None:
        self.run_dir = run_dir
        self.log_dir = log_dir
        self.conf = run_dir / "supervisord.conf"
        self.socket = run_dir / "supervisor.sock"
        self.pidfile = run_dir / "supervisord.pid"
        self.programs_dir = run_dir / "programs"

    # -- lifecycle -----------------------------------------------------------------------
    def pid(self) -> int | None:
        """supervisord's PID from its pidfile, when it is running."""
        pid = read_pidfile(self.pidfile)
        return pid if pid_alive(pid) else None

    def ensure_running(self) -> None:
        """Write the configuration and start supervisord unless it runs already."""
        self.programs_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.conf.write_text(
            "\n".join(
                [
                    "[unix_http_server]",
                    f"file={self.socket}",
                    "chmod=0700",
                    "",
                    "[supervisord]",
                    f"logfile={self.log_dir / 'supervisord.log'}",
                    f"pidfile={self.pidfile}",
                    f"childlogdir={self.log_dir}",
                    "nodaemon=false",
                    "minfds=4096",
                    # What the programs write (logs, data) is not for other users.
                    "umask=027",
                    "",
                    "[rpcinterface:supervisor]",
                    "supervisor.rpcinterface_factory = "
                    "supervisor.rpcinterface:make_main_rpcinterface",
                    "",
                    "[supervisorctl]",
                    f"serverurl=unix://{self.socket}",
                    "",
                    "[include]",
                    f"files = {self.programs_dir}/*.conf",
                    "",
                ]
            )
        )
        if self.pid() is not None:
            return
        supervisord = Path(sys.executable).parent / "supervisord"
        run([supervisord, "-c", self.conf], what="starting supervisord")
        wait_for(self._answers, 15, "supervisord's XML-RPC socket")

    def shutdown(self, timeout: float = 90) -> bool:
        """Stop every program (each gracefully, in reverse priority) and supervisord."""
        pid = self.pid()
        if pid is None:
            return False
        with contextlib.suppress(OSError, xmlrpc.client.Fault):
            self._rpc().supervisor.shutdown()
        wait_for(lambda: not pid_alive(pid), timeout, "supervisord to exit")
        return True

    # -- programs ------------------------------------------------------------------------
    def add(self, program: Program, *, wait: bool = True) -> None:
        """Write the program's section and start it (replacing an older definition)."""
        path = self.programs_dir / f"{program.name}.conf"
        path.write_text(program.section())
        rpc = self._rpc()
        added, changed, _removed = cast(list[list[str]], rpc.supervisor.reloadConfig()[0])
        if program.name in changed:
            self._stop_quietly(program.name)
            rpc.supervisor.removeProcessGroup(program.name)
            rpc.supervisor.addProcessGroup(program.name)
        elif program.name in added:
            rpc.supervisor.addProcessGroup(program.name)
        elif program.autostart and self.state(program.name) != RUNNING:
            self.start(program.name, wait=wait)
        if wait and program.autostart:
            wait_for(
                lambda: self.state(program.name) == RUNNING,
                program.start_seconds + 30,
                f"{program.name} to be running (log: {program.log_file})",
            )

    def remove(self, name: str) -> None:
        """Stop a program gracefully (SIGTERM, then its stop timeout) and forget it."""
        rpc = self._rpc()
        self._stop_quietly(name)
        (self.programs_dir / f"{name}.conf").unlink(missing_ok=True)
        try:
            rpc.supervisor.removeProcessGroup(name)
        except xmlrpc.client.Fault as fault:
            if "BAD_NAME" not in fault.faultString:
                raise
        rpc.supervisor.reloadConfig()

    def start(self, name: str, *, wait: bool = True) -> None:
        """Start a stopped program."""
        try:
            self._rpc().supervisor.startProcess(name, wait)
        except xmlrpc.client.Fault as fault:
            if "ALREADY_STARTED" not in fault.faultString:
                raise OpsError(
                    f"supervisord could not start {name}: {fault.faultString}"
                ) from fault

    def stop_together(self, names: list[str], timeout: float = 60) -> None:
        """SIGTERM several programs at once and wait until all have stopped (each drains
        for its own delay, so stopping them one by one would add the delays up)."""
        rpc = self._rpc()
        for name in names:
            with contextlib.suppress(xmlrpc.client.Fault):
                rpc.supervisor.stopProcess(name, False)
        wait_for(
            lambda: all(self.state(n) in (None, "STOPPED", "EXITED", "FATAL") for n in names),
            timeout,
            "the instances to stop",
        )

    def signal(self, name: str, signal_name: str) -> None:
        """Send a signal (e.g. "HUP", "USR2") to a running program: a config reload."""
        try:
            self._rpc().supervisor.signalProcess(name, signal_name)
        except xmlrpc.client.Fault as fault:
            raise OpsError(f"supervisord could not signal {name}: {fault.faultString}") from fault

    def stop(self, name: str) -> None:
        """Stop a program gracefully and wait for it."""
        self._stop_quietly(name)

    def info(self, name: str) -> dict[str, Any] | None:
        """supervisord's process info (state name, pid, ...) or None when unknown."""
        try:
            return cast(dict[str, Any], self._rpc().supervisor.getProcessInfo(name))
        except xmlrpc.client.Fault:
            return None
        except OSError:
            return None

    def all_info(self) -> list[dict[str, Any]]:
        """Process info of every program."""
        try:
            return cast(list[dict[str, Any]], self._rpc().supervisor.getAllProcessInfo())
        except OSError:
            return []

    def state(self, name: str) -> str | None:
        info = self.info(name)
        return None if info is None else str(info["statename"])

    def program_pid(self, name: str) -> int | None:
        info = self.info(name)
        pid = int(info["pid"]) if info else 0
        return pid or None

    def wait_restarted(self, name: str, old_pid: int, timeout: float = 30) -> float:
        """Seconds until supervisord runs ``name`` again under a new PID."""
        return wait_for(
            lambda: self.state(name) == RUNNING and self.program_pid(name) not in (None, old_pid),
            timeout,
            f"supervisord to restart {name}",
            interval=0.05,
        )

    # -- internals -----------------------------------------------------------------------
    def _stop_quietly(self, name: str) -> None:
        try:
            self._rpc().supervisor.stopProcess(name, True)
        except xmlrpc.client.Fault as fault:
            if "NOT_RUNNING" not in fault.faultString and "BAD_NAME" not in fault.faultString:
                raise OpsError(f"supervisord could not stop {name}: {fault.faultString}") from fault

    def _rpc(self) -> Any:
        transport = SupervisorTransport(None, None, f"unix://{self.socket}")
        return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)

    def _answers(self) -> bool:
        return bool(self._rpc().supervisor.getState())
