"""Local CA + server certificate: real TLS handshakes with Python's ssl module."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from quizplatform.ops import tls
from quizplatform.ops.process import OpsError
from quizplatform.ops.tls import TlsFiles, ensure_certificates, tls_files_from


def handshake(files: TlsFiles, server_hostname: str) -> None:
    """A TLS 1.2+ handshake: server loads the bundle, client trusts only ca_cert."""
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(files.bundle)
    client_ctx = ssl.create_default_context(cafile=str(files.ca_cert))
    client_ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    server_sock, client_sock = socket.socketpair()
    server_sock.settimeout(5)
    client_sock.settimeout(5)

    def serve() -> None:
        try:
            with server_ctx.wrap_socket(server_sock, server_side=True) as conn:
                conn.recv(1)
        except OSError:
            pass  # the client refused us; it raises the reason

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with client_ctx.wrap_socket(client_sock, server_hostname=server_hostname) as conn:
            conn.sendall(b"x")
    finally:
        thread.join(5)


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_certificate_verifies_for_localhost_and_127_0_0_1(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path / "tls")
    handshake(files, "localhost")
    handshake(files, "127.0.0.1")
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(files, "example.org")

    cert, ca = load(files.server_cert), load(files.ca_cert)
    cert.verify_directly_issued_by(ca)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert [str(ip) for ip in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    public = cert.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == "secp256r1"
    lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
    assert dt.timedelta(days=365) <= lifetime <= dt.timedelta(days=366)
    assert ca.not_valid_after_utc - ca.not_valid_before_utc >= dt.timedelta(days=3650)

    bundle = files.bundle.read_bytes()
    assert bundle.startswith(files.server_cert.read_bytes())
    assert files.server_key.read_bytes().strip() in bundle


def test_key_files_are_private(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path)
    for private in (files.server_key, files.bundle, tmp_path / "ca.key"):
        assert private.stat().st_mode & 0o777 == 0o600, private
    files.server_key.chmod(0o644)
    ensure_certificates(tmp_path)
    assert files.server_key.stat().st_mode & 0o777 == 0o600


def test_second_call_reuses_the_files(tmp_path: Path) -> None:
    first = ensure_certificates(tmp_path)
    serials = (load(first.ca_cert).serial_number, load(first.server_cert).serial_number)
    second = ensure_certificates(tmp_path)
    assert second == first
    assert (load(second.ca_cert).serial_number, load(second.server_cert).serial_number) == serials


def test_expired_or_narrower_server_certificate_is_regenerated(tmp_path: Path) -> None:
    files = ensure_certificates(tmp_path)
    ca_serial = load(files.ca_cert).serial_number
    ca_key = serialization.load_pem_private_key((tmp_path / "ca.key").read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    old_key = ec.generate_private_key(ec.SECP256R1())
    two_years_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=730)
    expired = tls._make_server(
        old_key, load(files.ca_cert), ca_key, ("localhost", "127.0.0.1"), two_years_ago
    )
    files.server_cert.write_bytes(expired.public_bytes(serialization.Encoding.PEM))
    files.server_key.write_bytes(tls._key_pem(old_key))

    ensure_certificates(tmp_path)
    renewed = load(files.server_cert)
    assert renewed.serial_number != expired.serial_number
    assert renewed.not_valid_after_utc > dt.datetime.now(dt.UTC) + dt.timedelta(days=300)
    assert load(files.ca_cert).serial_number == ca_serial  # the CA stays trusted
    handshake(files, "localhost")

    wider = ensure_certificates(tmp_path, hosts=("localhost", "127.0.0.1", "quiz.test"))
    handshake(wider, "quiz.test")
    assert load(wider.server_cert).serial_number != renewed.serial_number


def test_user_supplied_certificate(tmp_path: Path) -> None:
    made = ensure_certificates(tmp_path / "made")
    files = tls_files_from(made.server_cert, made.server_key, tmp_path / "out")
    assert files.server_cert == made.server_cert and files.server_key == made.server_key
    assert files.bundle == tmp_path / "out" / "bundle.pem"
    assert files.bundle.stat().st_mode & 0o777 == 0o600
    assert files.bundle.read_bytes().startswith(made.server_cert.read_bytes())
    handshake(
        TlsFiles(made.ca_cert, files.server_cert, files.server_key, files.bundle), "localhost"
    )


def test_user_supplied_mismatched_key_is_refused(tmp_path: Path) -> None:
    made = ensure_certificates(tmp_path / "made")
    with pytest.raises(OpsError, match="does not belong"):
        tls_files_from(made.server_cert, tmp_path / "made" / "ca.key", tmp_path / "out")
    assert not (tmp_path / "out" / "bundle.pem").exists()
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    with pytest.raises(OpsError, match="not a PEM certificate"):
        tls_files_from(garbage, made.server_key, tmp_path / "out")
    with pytest.raises(OpsError, match="cannot read"):
        tls_files_from(tmp_path / "missing.pem", made.server_key, tmp_path / "out")
