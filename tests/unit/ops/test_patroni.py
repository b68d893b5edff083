"""Patroni members' configuration and the SCRAM verifier the application role gets."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from pathlib import Path

import pytest

from quizplatform.ops import patroni
from quizplatform.ops.patroni import PatroniCluster, Timing, scram_verifier
from quizplatform.ops.process import OpsError


def _cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **kwargs: object) -> PatroniCluster:
    # Files are handed to the postgres user only when running as root; here they stay ours.
    monkeypatch.setattr(patroni, "postgres_ids", lambda: None)
    monkeypatch.setattr(patroni, "hand_over", lambda path, mode, ids: path.chmod(mode))
    return PatroniCluster(
        tmp_path,
        members=2,
        pg_base_port=15440,
        api_base_port=15460,
        etcd_port=12379,
        etcd_peer_port=12380,
        **kwargs,  # type: ignore[arg-type]
    )


def test_scram_verifier_matches_rfc_7677() -> None:
    # RFC 7677 section 3: user "user", password "pencil", this salt, 4096 iterations. A
    # verifier is right when the server signature derived from it is the RFC's.
    salt = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
    verifier = scram_verifier("pencil", salt)
    method, rest = verifier.split("$", 1)
    iterations_salt, keys = rest.split("$")
    assert method == "SCRAM-SHA-256"
    assert iterations_salt == "4096:W22ZaJ0SNY7soEsUEjb6gQ=="
    stored_key, server_key = (base64.b64decode(k) for k in keys.split(":"))
    auth_message = (
        b"n=user,r=rOprNGfwEbeRWgbNEkqO,"
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
    )
    signature = hmac.new(server_key, auth_message, hashlib.sha256).digest()
    assert base64.b64encode(signature).decode() == "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
    client_signature = hmac.new(stored_key, auth_message, hashlib.sha256).digest()
    proof = base64.b64decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
    client_key = bytes(a ^ b for a, b in zip(proof, client_signature, strict=True))
    assert hashlib.sha256(client_key).digest() == stored_key


def test_scram_verifiers_are_salted() -> None:
    assert scram_verifier("same password") != scram_verifier("same password")


def test_member_configuration(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = _cluster(tmp_path, monkeypatch)
    assert cluster.write_configs()
    assert not cluster.write_configs()  # unchanged: nothing rewritten
    first, second = cluster.members
    config = json.loads(first.config_file.read_text())
    assert first.config_file.stat().st_mode & 0o077 == 0  # it holds passwords
    assert config["name"] == "pg1" and config["scope"] == "quiz"
    assert config["postgresql"]["listen"] == "127.0.0.1:15441"
    assert config["restapi"]["listen"] == "127.0.0.1:15461"
    assert config["etcd3"]["hosts"] == ["127.0.0.1:12379"]
    dcs = config["bootstrap"]["dcs"]
    # Patroni's rule, and the settings that make a takeover fast and safe.
    assert dcs["loop_wait"] + 2 * dcs["retry_timeout"] <= dcs["ttl"]
    assert dcs["ttl"] >= 20
    assert dcs["synchronous_mode"] is True
    assert dcs["primary_start_timeout"] == 0
    assert dcs["failsafe_mode"] is True  # an etcd outage does not demote the leader
    assert dcs["postgresql"]["use_pg_rewind"] is True
    hba = config["postgresql"]["pg_hba"]
    assert not any("trust" in line for line in hba)
    assert all(line.endswith("scram-sha-256") for line in hba if line.startswith("host"))
    # Each member has its own sockets and data; the passwords are shared.
    other = json.loads(second.config_file.read_text())
    assert other["postgresql"]["data_dir"] != config["postgresql"]["data_dir"]
    assert other["postgresql"]["authentication"] == config["postgresql"]["authentication"]


def test_timing_within_patronis_rule_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster = _cluster(tmp_path, monkeypatch, timing=Timing(ttl=30, loop_wait=2, retry_timeout=9))
    dcs = cluster.dynamic_config()
    assert (dcs["ttl"], dcs["loop_wait"], dcs["retry_timeout"]) == (30, 2, 9)


def test_archive_command_names_each_members_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster = _cluster(
        tmp_path, monkeypatch, archive_command=lambda m: f"push --pg1-path={m.data_dir} %p"
    )
    first, second = cluster.members
    assert cluster.dynamic_config()["postgresql"]["parameters"]["archive_mode"] == "on"
    for member in (first, second):
        parameters = cluster.member_config(member)["postgresql"]["parameters"]
        assert parameters["archive_command"] == f"push --pg1-path={member.data_dir} %p"


def test_secrets_are_generated_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = _cluster(tmp_path, monkeypatch)
    first = cluster.secret("app")
    assert len(first) >= 32 and cluster.secret("app") == first
    assert (cluster.secrets_dir / "app").stat().st_mode & 0o077 == 0
    assert cluster.app_url(15432) == f"postgresql://quiz:{first}@127.0.0.1:15432/quiz"


def test_unknown_member_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cluster = _cluster(tmp_path, monkeypatch)
    with pytest.raises(OpsError, match=r"no database member named 'pg9'.*pg1, pg2"):
        cluster.member("pg9")
