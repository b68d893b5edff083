"""HAProxy: the rendered configuration (checked by ``haproxy -c``) and the runtime API
client against a real HAProxy started on it, with a tiny local backend."""

from __future__ import annotations

import csv
import http.server
import io
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from quizplatform.ops.haproxy import (
    CANDIDATE_ACL,
    DatabaseMember,
    DatabaseRouting,
    HaproxyRuntime,
    ServerState,
    candidate_key,
    render_config,
    slot_name,
)
from quizplatform.ops.process import OpsError, free_port, wait_for
from quizplatform.ops.tls import ensure_certificates

SLOTS = 20
PUBLIC = "127.0.0.2"  # the stack's "public" address in tests


def haproxy_binary() -> str:
    path = shutil.which("haproxy", path=os.pathsep.join(["/usr/sbin", os.environ.get("PATH", "")]))
    if path is None:
        message = (
            "haproxy is not installed: `make test` installs it (Debian package haproxy); "
            "QUIZ_ALLOW_MISSING_TOOLS=1 skips these tests instead"
        )
        if os.environ.get("QUIZ_ALLOW_MISSING_TOOLS") == "1":
            pytest.skip(message)
        pytest.fail(message, pytrace=False)
    return path


@dataclass
class Rendered:
    config: Path
    run_dir: Path
    text: str
    ports: dict[str, int]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    haproxy_binary()
    base = tmp_path_factory.mktemp("haproxy")
    run_dir = base / "run"
    run_dir.mkdir()
    tls = ensure_certificates(base / "tls")
    ports = {
        "https": free_port(),
        "http": free_port(),
        "stats": free_port(),
        "pg_write": free_port(),
        "pg_read": free_port(),
    }
    config = run_dir / "haproxy.cfg"
    render_config(
        config,
        run_dir=run_dir,
        tls_bundle=tls.bundle,
        https_port=ports["https"],
        http_port=ports["http"],
        stats_port=ports["stats"],
        slots=SLOTS,
        check_interval_ms=200,
        database=DatabaseRouting(
            write_port=ports["pg_write"],
            read_port=ports["pg_read"],
            members=(DatabaseMember("pg1", 15441, 15461), DatabaseMember("pg2", 15442, 15462)),
            check_interval_ms=500,
            max_lag_bytes=1024,
        ),
        public_address=PUBLIC,
    )
    return Rendered(config, run_dir, config.read_text(), ports)


def test_rendered_config_passes_haproxy_check(rendered: Rendered) -> None:
    done = subprocess.run(
        [haproxy_binary(), "-c", "-f", str(rendered.config)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_rendered_config_has_the_pools_and_failover(rendered: Rendered) -> None:
    text = rendered.text[: rendered.text.index("defaults database")]
    assert text.count(f"server-template app 1-{SLOTS} ") == 2  # app and candidate
    assert "backend app\n" in text and "backend candidate\n" in text
    assert "retry-on " in text
    # ...for GET and HEAD only: a write's 503 may be `commit_unknown`.
    assert "http-request disable-l7-retry unless METH_GET" in text
    assert "option redispatch" in text
    assert text.count("balance leastconn") == 2
    assert "fall 3 rise 2" in text
    assert "inter 200ms fastinter 100ms downinter 200ms" in text
    assert "option httpchk GET /health/ready" in text


def test_websockets_get_a_tunnel_timeout_and_survive_a_server_marked_down(
    rendered: Rendered,
) -> None:
    """Live games' sockets (issue 19): idle up to an hour once upgraded (not the 60 s of a
    request), and not cut when HAProxy marks their instance down (draining for a deploy):
    the instance closes them with 1012 itself and the players reconnect elsewhere."""
    text = rendered.text[: rendered.text.index("defaults database")]
    lines = [line.split("#", 1)[0] for line in text.splitlines()]
    assert any(line.split() == ["timeout", "tunnel", "1h"] for line in lines)
    assert not any("shutdown-sessions" in line for line in lines)


def test_rendered_config_routes_the_database_by_patronis_rest_api(rendered: Rendered) -> None:
    text = rendered.text
    database = text[text.index("defaults database") :]
    assert "mode tcp" in database
    assert f"bind 127.0.0.1:{rendered.ports['pg_write']}\n" in database
    assert f"bind 127.0.0.1:{rendered.ports['pg_read']}\n" in database
    # Writes: the leader only; reads: healthy replicas, else the leader.
    assert "option httpchk GET /primary" in database
    assert "option httpchk GET /replica?lag=1024" in database
    assert database.count("server pg1 127.0.0.1:15441 check port 15461") == 2
    assert database.count("server pg2 127.0.0.1:15442 check port 15462") == 2
    # The leader stands in for the replicas while none is healthy, and leaves again.
    assert "server pg1-leader 127.0.0.1:15441 backup track pg_leader/pg1" in database
    assert database.count("check port 15461 on-marked-up shutdown-backup-sessions") == 1
    # Checked every 500 ms; a demoted leader's sessions are cut when it is marked down.
    assert "inter 500ms" in database and "fall 2 rise 1" in database
    assert "on-marked-down shutdown-sessions" in database
    # Idle pooled connections are not cut by an HTTP-sized client timeout.
    assert "timeout client 2h" in database


def test_without_a_database_there_are_no_database_frontends(tmp_path: Path) -> None:
    haproxy_binary()
    tls = ensure_certificates(tmp_path / "tls")
    config = tmp_path / "haproxy.cfg"
    render_config(
        config,
        run_dir=tmp_path,
        tls_bundle=tls.bundle,
        https_port=free_port(),
        http_port=free_port(),
        stats_port=free_port(),
        slots=2,
        check_interval_ms=1000,
    )
    assert "pg_write" not in config.read_text()


def test_rendered_config_has_the_tls_front_door(rendered: Rendered) -> None:
    text = rendered.text
    assert "ssl-min-ver" in text or "no-tlsv11" in text
    assert 'Strict-Transport-Security "max-age=' in text
    assert f"bind {PUBLIC}:{rendered.ports['https']} ssl crt " in text
    assert f"bind {PUBLIC}:{rendered.ports['http']}\n" in text
    assert f"bind 127.0.0.1:{rendered.ports['stats']}\n" in text
    assert f"stats socket {rendered.run_dir}/haproxy.sock" in text
    assert f"server-state-file {rendered.run_dir}/haproxy.state" in text
    assert "{{" not in text and "}}" not in text


def test_render_config_raises_when_haproxy_rejects_it(tmp_path: Path) -> None:
    haproxy_binary()
    with pytest.raises(OpsError, match=r"haproxy -c failed"):
        render_config(
            tmp_path / "haproxy.cfg",
            run_dir=tmp_path,
            tls_bundle=tmp_path / "missing-bundle.pem",
            https_port=free_port(),
            http_port=free_port(),
            stats_port=free_port(),
            slots=2,
            check_interval_ms=1000,
        )


def test_slot_names() -> None:
    assert slot_name(1) == "app1"
    assert slot_name(20) == "app20"


def test_server_state_up() -> None:
    def state(status: str) -> ServerState:
        return ServerState("app", "app1", status, 100, 0, "127.0.0.1:1")

    assert state("UP").up
    assert state("UP 1/2").up
    assert not state("DOWN").up
    assert not state("DOWN 1/3").up
    assert not state("MAINT").up
    assert not state("DRAIN").up


def test_runtime_without_haproxy_raises_ops_error(tmp_path: Path) -> None:
    runtime = HaproxyRuntime(tmp_path / "nothing.sock")
    with pytest.raises(OpsError, match=r"HAProxy runtime API at .*nothing\.sock"):
        runtime.command("show info")


# --------------------------------------------------------------------------- live HAProxy


class _Ready(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = 200 if self.path in ("/health/ready", "/") else 404
        body = b"ok"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def backend_port() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ready)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(scope="module")
def runtime(rendered: Rendered) -> Iterator[HaproxyRuntime]:
    log = (rendered.run_dir / "haproxy.log").open("wb")
    proc = subprocess.Popen(
        [haproxy_binary(), "-W", "-db", "-f", str(rendered.config)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    client = HaproxyRuntime(rendered.run_dir / "haproxy.sock", rendered.run_dir / "haproxy.state")
    try:
        try:
            wait_for(
                lambda: proc.poll() is None and "Name: HAProxy" in client.command("show info"),
                10,
                "HAProxy's runtime API",
                interval=0.05,
            )
        except OpsError:
            log.flush()
            pytest.fail(f"HAProxy did not start: {(rendered.run_dir / 'haproxy.log').read_text()}")
        yield client
    finally:
        if proc.poll() is None:
            proc.terminate()  # only the PID this fixture started
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        log.close()


def check_status(runtime: HaproxyRuntime, backend: str, server: str) -> str:
    rows = csv.DictReader(io.StringIO(runtime.command("show stat").lstrip("# ")))
    row = next(r for r in rows if r["pxname"] == backend and r["svname"] == server)
    return row["check_status"]


def saved_servers(state_file: Path) -> dict[tuple[str, str], dict[str, str]]:
    """The server-state file (`show servers state`) by (backend, server)."""
    version, header, *rows = state_file.read_text().splitlines()
    assert version.strip() == "1"  # the file format HAProxy loads at start
    columns = header.lstrip("# ").split()
    saved = {}
    for row in rows:
        if row.strip():
            values = dict(zip(columns, row.split(), strict=False))
            saved[(values["be_name"], values["srv_name"])] = values
    return saved


def test_all_slots_start_in_maintenance(runtime: HaproxyRuntime) -> None:
    servers = runtime.servers()
    assert len(servers) == 2 * SLOTS
    assert {s.backend for s in servers} == {"app", "candidate"}
    assert {s.name for s in servers} == {f"app{i}" for i in range(1, SLOTS + 1)}
    assert all(s.status == "MAINT" for s in servers), {s.status for s in servers}
    assert runtime.server("app", SLOTS + 1) is None


def test_enable_weights_drain_disable_and_state_file(
    runtime: HaproxyRuntime, backend_port: int, rendered: Rendered
) -> None:
    state_file = rendered.run_dir / "haproxy.state"
    state_file.unlink(missing_ok=True)

    runtime.enable("app", 3, backend_port, weight=40)
    wait_for(
        lambda: (s := runtime.server("app", 3)) is not None and s.up,
        5,
        "app/app3 to be UP",
        interval=0.05,
    )
    server = runtime.server("app", 3)
    assert server is not None
    assert server.address == f"127.0.0.1:{backend_port}"
    assert server.weight == 40
    assert saved_servers(state_file)[("app", "app3")]["srv_port"] == str(backend_port)

    # HAProxy's own health checks (GET /health/ready every 200 ms) reach the backend.
    wait_for(lambda: check_status(runtime, "app", "app3") == "L7OK", 5, "an L7OK health check")
    server = runtime.server("app", 3)
    assert server is not None and server.status == "UP", server

    runtime.enable("candidate", 1, backend_port, weight=100)
    runtime.set_weights({("app", 3): 7, ("candidate", 1): 0})
    app3, cand1 = runtime.server("app", 3), runtime.server("candidate", 1)
    assert app3 is not None and app3.weight == 7
    assert cand1 is not None and cand1.weight == 0
    saved = saved_servers(state_file)
    assert saved[("app", "app3")]["srv_uweight"] == "7"
    assert saved[("app", "app3")]["srv_port"] == str(backend_port)
    assert saved[("candidate", "app1")]["srv_uweight"] == "0"

    runtime.drain("app", 3)
    drained = runtime.server("app", 3)
    assert drained is not None and drained.status == "DRAIN", drained
    assert not drained.up

    runtime.disable("app", 3)
    runtime.disable("candidate", 1)
    for backend, slot in (("app", 3), ("candidate", 1)):
        disabled = runtime.server(backend, slot)
        assert disabled is not None and disabled.status == "MAINT", disabled
    others = [s for s in runtime.servers() if (s.backend, s.name) not in {("app", "app3")}]
    assert all(s.status == "MAINT" for s in others)


@pytest.mark.parametrize(
    "command",
    ["no such command here", "set server app/app99 weight 10", "set server nope/app1 state ready"],
)
def test_a_bad_command_raises_ops_error(runtime: HaproxyRuntime, command: str) -> None:
    with pytest.raises(OpsError, match="HAProxy refused"):
        runtime.command(command)


def test_show_info_passes_through(runtime: HaproxyRuntime) -> None:
    assert "Name: HAProxy" in runtime.command("show info")


# --------------------------------------------------------------------------- facing the internet
def test_only_the_public_frontends_listen_on_the_public_address(rendered: Rendered) -> None:
    binds = [
        line.split()[1] for line in rendered.text.splitlines() if line.strip().startswith("bind")
    ]
    public = [b for b in binds if b.startswith(PUBLIC)]
    assert sorted(public) == sorted(
        f"{PUBLIC}:{rendered.ports[name]}" for name in ("https", "http")
    )
    assert all(b.startswith(("127.0.0.1:", PUBLIC)) for b in binds), binds


def test_the_candidate_key_is_secret_and_stable(rendered: Rendered) -> None:
    acl = rendered.run_dir / CANDIDATE_ACL
    assert acl.stat().st_mode & 0o777 == 0o600
    key = candidate_key(rendered.run_dir)
    assert key == acl.read_text().strip() and len(key) >= 32
    assert (rendered.config.stat().st_mode & 0o007) == 0


def test_public_frontend_hides_operator_endpoints_and_the_candidate(
    runtime: HaproxyRuntime, rendered: Rendered, backend_port: int
) -> None:
    """Only the candidate pool has a server here, so a request that reaches a server at
    all reached the candidate."""
    import ssl
    import time

    import httpx

    runtime.enable("candidate", 1, backend_port)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    url = f"https://{PUBLIC}:{rendered.ports['https']}"
    key = candidate_key(rendered.run_dir)
    try:
        with httpx.Client(base_url=url, verify=context, timeout=5) as client:
            deadline = time.monotonic() + 10
            while client.get("/", headers={"X-Quiz-Pool": key}).status_code != 200:
                assert time.monotonic() < deadline, "the candidate never came up"
                time.sleep(0.1)
            for guess in ("candidate", key[:-1], key.upper(), ""):
                assert client.get("/", headers={"X-Quiz-Pool": guess}).status_code == 503
            for path in ("/metrics", "/health", "/%6detrics", "/health/", "/HEALTH"):
                r = client.get(path, headers={"X-Quiz-Pool": key})
                assert r.status_code == 404, path
            assert client.get("/health/ready", headers={"X-Quiz-Pool": key}).status_code == 200
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"https://127.0.0.1:{rendered.ports['https']}/", verify=context, timeout=2)
    finally:
        runtime.disable("candidate", 1)


@pytest.fixture(scope="module")
def websocket_backend_port() -> Iterator[int]:
    """An instance stand-in: /health/ready answers 200, any other path is a WebSocket that
    echoes what it receives."""
    import asyncio

    from websockets.asyncio.server import ServerConnection, serve
    from websockets.datastructures import Headers
    from websockets.http11 import Request, Response

    def ready(connection: ServerConnection, request: Request) -> Response | None:
        if request.path == "/health/ready":
            return Response(200, "OK", Headers({"Content-Length": "2"}), b"ok")
        return None

    async def echo(connection: ServerConnection) -> None:
        async for message in connection:
            await connection.send(message)

    loop = asyncio.new_event_loop()
    started = threading.Event()
    port: list[int] = []
    stop = loop.create_future()

    async def main() -> None:
        async with serve(echo, "127.0.0.1", 0, process_request=ready) as server:
            port.append(next(iter(server.sockets)).getsockname()[1])
            started.set()
            await stop

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        yield port[0]
    finally:
        loop.call_soon_threadsafe(stop.set_result, None)
        thread.join(5)


def test_a_websocket_crosses_haproxy_and_survives_a_drain(
    runtime: HaproxyRuntime, rendered: Rendered, websocket_backend_port: int
) -> None:
    """Live games' sockets through the TLS front door (HTTP/1.1 upgrade), still open after
    their instance is drained and put in maintenance (a deploy): HAProxy does not cut them;
    the instance closes them itself (1012) when it stops."""
    import ssl
    import time

    from websockets.sync.client import connect

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    runtime.enable("app", 19, websocket_backend_port)
    try:
        wait_for(
            lambda: any(s.name == slot_name(19) and s.up for s in runtime.servers(("app",))),
            10,
            "the slot UP",
            interval=0.05,
        )
        url = f"wss://{PUBLIC}:{rendered.ports['https']}/api/v1/live/ws"
        with connect(url, ssl=context, open_timeout=5) as ws:
            ws.send("hello")
            assert ws.recv(timeout=5) == "hello"
            runtime.drain("app", 19)
            runtime.disable("app", 19)
            time.sleep(0.5)  # several health checks later
            ws.send("still here")
            assert ws.recv(timeout=5) == "still here"
    finally:
        runtime.disable("app", 19)
