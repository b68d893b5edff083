"""TLS certificates for local stacks: a private CA and a server certificate signed by it.

``ensure_certificates`` makes (or reuses) a CA valid for 10 years and an ECDSA P-256 server
certificate valid for 1 year with subjectAltNames for the given hosts and the serverAuth
extended key usage, plus the concatenated certificate + key PEM that HAProxy loads.
Production passes its own certificate and key to ``tls_files_from`` instead.

Files written to the directory: ``ca.pem``, ``ca.key``, ``server.pem``, ``server.key`` and
``bundle.pem``; key files and the bundle are mode 0600.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    PrivateKeyTypes,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from quizplatform.ops.process import OpsError, write_private

CA_DAYS = 3650
SERVER_DAYS = 365
RENEW_BEFORE = dt.timedelta(days=7)  # regenerate a certificate this close to expiry
_BACKDATE = dt.timedelta(hours=1)  # tolerate small clock differences between machines


@dataclass(frozen=True)
class TlsFiles:
    """Paths of the PEM files a TLS front door needs.

    ``bundle`` is the server certificate (chain) followed by its key, as HAProxy's ``crt``
    wants it; ``ca_cert`` is what clients should trust (the local CA, or the supplied
    chain for a user-provided certificate).
    """

    ca_cert: Path
    server_cert: Path
    server_key: Path
    bundle: Path


def ensure_certificates(
    directory: Path, *, hosts: Sequence[str] = ("localhost", "127.0.0.1")
) -> TlsFiles:
    """Create a local CA and a server certificate for ``hosts`` in ``directory``; reuse them.

    Existing files are reused when the CA and the server certificate are unexpired (with
    a 7-day margin), the server certificate is signed by the CA, matches its key and
    covers every host. An invalid CA regenerates both; an invalid server certificate
    regenerates only the server certificate. Idempotent.
    """
    if not hosts:
        raise OpsError("ensure_certificates needs at least one host name or IP address")
    directory.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(
        ca_cert=directory / "ca.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server.key",
        bundle=directory / "bundle.pem",
    )
    ca_key_path = directory / "ca.key"
    now = dt.datetime.now(dt.UTC)

    ca = _load_ca(files.ca_cert, ca_key_path, now)
    if ca is None:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _make_ca(ca_key, now)
        _write(ca_key_path, _key_pem(ca_key), private=True)
        _write(files.ca_cert, ca_cert.public_bytes(serialization.Encoding.PEM), private=False)
        server_ok = False
    else:
        ca_cert, ca_key = ca
        server_ok = _server_valid(files.server_cert, files.server_key, ca_cert, hosts, now)

    if not server_ok:
        server_key = ec.generate_private_key(ec.SECP256R1())
        server_cert = _make_server(server_key, ca_cert, ca_key, hosts, now)
        _write(files.server_key, _key_pem(server_key), private=True)
        _write(
            files.server_cert, server_cert.public_bytes(serialization.Encoding.PEM), private=False
        )
    for key_file in (ca_key_path, files.server_key):
        os.chmod(key_file, 0o600)
    _write_bundle(files.bundle, files.server_cert.read_bytes(), files.server_key.read_bytes())
    return files


def tls_files_from(cert: Path, key: Path, directory: Path) -> TlsFiles:
    """Use a supplied certificate (chain, leaf first) and key; write the HAProxy bundle.

    Raises OpsError when either file is unreadable or not PEM, when the key does not
    belong to the (first) certificate, or when the certificate has expired.
    """
    try:
        cert_pem = cert.read_bytes()
        key_pem = key.read_bytes()
    except OSError as exc:
        raise OpsError(f"cannot read the TLS certificate or key: {exc}") from exc
    try:
        chain = x509.load_pem_x509_certificates(cert_pem)
    except ValueError as exc:
        raise OpsError(f"{cert} is not a PEM certificate: {exc}") from exc
    try:
        private_key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise OpsError(f"{key} is not an unencrypted PEM private key: {exc}") from exc
    leaf = chain[0]
    if not _key_matches(leaf, private_key):
        raise OpsError(f"the key in {key} does not belong to the certificate in {cert}")
    if leaf.not_valid_after_utc <= dt.datetime.now(dt.UTC):
        raise OpsError(f"the certificate in {cert} expired on {leaf.not_valid_after_utc:%Y-%m-%d}")
    directory.mkdir(parents=True, exist_ok=True)
    bundle = directory / "bundle.pem"
    _write_bundle(bundle, cert_pem, key_pem)
    return TlsFiles(ca_cert=cert, server_cert=cert, server_key=key, bundle=bundle)


# -- building -----------------------------------------------------------------------------


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Quiz Platform (local)"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _make_ca(key: ec.EllipticCurvePrivateKey, now: dt.datetime) -> x509.Certificate:
    name = _name("Quiz Platform local CA")
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def _san(hosts: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _make_server(
    key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    ca_key: CertificateIssuerPrivateKeyTypes,
    hosts: Sequence[str],
    now: dt.datetime,
) -> x509.Certificate:
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(_name(hosts[0]))
        .issuer_name(ca_cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + dt.timedelta(days=SERVER_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(_san(hosts)), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )


# -- checking existing files ----------------------------------------------------------------


def _fresh(cert: x509.Certificate, now: dt.datetime) -> bool:
    return cert.not_valid_before_utc <= now and cert.not_valid_after_utc - RENEW_BEFORE > now


def _key_matches(cert: x509.Certificate, key: PrivateKeyTypes) -> bool:
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    return bool(
        cert.public_key().public_bytes(der, spki) == key.public_key().public_bytes(der, spki)
    )


def _load_ca(
    cert_path: Path, key_path: Path, now: dt.datetime
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not _key_matches(cert, key):
        return None
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    except x509.ExtensionNotFound:
        return None
    if not constraints.ca or not _fresh(cert, now):
        return None
    return cert, key


def _server_valid(
    cert_path: Path,
    key_path: Path,
    ca_cert: x509.Certificate,
    hosts: Sequence[str],
    now: dt.datetime,
) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        cert.verify_directly_issued_by(ca_cert)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False
    wanted = set(_san(hosts))
    return _key_matches(cert, key) and _fresh(cert, now) and wanted.issubset(set(san))


# -- writing --------------------------------------------------------------------------------


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, *, private: bool) -> None:
    """Write atomically (temp file + rename); private files are created 0600."""
    write_private(path, data, mode=0o600 if private else 0o644)


def _write_bundle(path: Path, cert_pem: bytes, key_pem: bytes) -> None:
    data = cert_pem.rstrip(b"\n") + b"\n" + key_pem.rstrip(b"\n") + b"\n"
    try:
        current = path.read_bytes()
    except OSError:
        current = None
    if current == data and (path.stat().st_mode & 0o777) == 0o600:
        return
    _write(path, data, private=True)
