"""HAProxy's two renderings from one template: the one-host stack's (byte for byte what it
was before the DNS mode existed) and Docker Compose's (DNS service discovery)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from quizplatform.cli import app
from quizplatform.ops.haproxy import (
    DatabaseMember,
    DatabaseRouting,
    DnsDiscovery,
    one_host_config,
    render_dns_config,
)
from quizplatform.ops.process import OpsError

DATA = Path(__file__).parent / "data"


def _one_host(database: DatabaseRouting | None) -> str:
    return one_host_config(
        run_dir=Path("/srv/quiz/run"),
        tls_bundle=Path("/srv/quiz/tls/bundle.pem"),
        https_port=443,
        http_port=80,
        stats_port=8404,
        slots=20,
        check_interval_ms=500,
        database=database,
        public_address="203.0.113.7",
    )


@pytest.mark.parametrize(
    ("golden", "database"),
    [
        (
            "haproxy-one-host.cfg",
            DatabaseRouting(
                write_port=6432,
                read_port=6433,
                members=(DatabaseMember("pg1", 5441, 8011), DatabaseMember("pg2", 5442, 8012)),
                check_interval_ms=500,
                max_lag_bytes=16777216,
            ),
        ),
        ("haproxy-one-host-nodb.cfg", None),
    ],
)
def test_the_one_host_rendering_is_unchanged(golden: str, database: DatabaseRouting | None) -> None:
    """The goldens were rendered by the template before the DNS mode was added (commit
    17a52d3); a change to the one-host stack's HAProxy must update them on purpose."""
    assert _one_host(database) == (DATA / golden).read_text()


def test_the_dns_rendering_discovers_replicas_through_docker_dns() -> None:
    text = render_dns_config(DnsDiscovery(target="web:9000", slots=7))
    assert "server-template app 7 web:9000 check resolvers docker init-addr none" in text
    assert "resolvers docker\n    nameserver docker 127.0.0.11:53\n" in text
    # Nothing of the runtime-API slots or the one-host stack's extras.
    for absent in (
        "disabled",
        "server-state",
        "backend candidate",
        ".acl",
        "pg_write",
        "127.0.0.1:",
    ):
        assert absent not in text, absent
    assert "bind *:8443 ssl crt /run/secrets/tls_bundle alpn h2,http/1.1" in text
    assert "${QUIZ_HTTPS_PORT}" in text
    assert "http-request deny deny_status 404 if internal_path" in text
    assert "{{" not in text and "{%" not in text


@pytest.mark.parametrize("target", ["app", "app:", ":8000", "app:http", "app:70000"])
def test_a_bad_dns_target_is_refused(target: str) -> None:
    with pytest.raises(OpsError, match="SERVICE:PORT"):
        DnsDiscovery(target=target)


def test_the_cli_prints_the_dns_rendering() -> None:
    result = CliRunner().invoke(app, ["stack", "render-haproxy", "--dns", "app:8000"])
    assert result.exit_code == 0, result.output
    assert result.stdout == render_dns_config(DnsDiscovery())
    bad = CliRunner().invoke(app, ["stack", "render-haproxy", "--dns", "app"])
    assert bad.exit_code == 1
