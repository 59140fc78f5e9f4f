"""Reading the gRPC listener's TLS files and checking them before grpc is given them: the
certificate chain, its private key, and the CA bundle of client certificates.

grpc's own checks come late and say little (a key that does not match its certificate
surfaces as failed handshakes, one per connection), so every problem is found here and
named with the file it is in, at start-up and at every reload. Messages never quote a
file's content: a key file's bytes are a secret.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

T = TypeVar("T")

#: What a file's stat says about its content: it changed when this changes.
FileSignature = tuple[int, int, int, int, int] | None


class TlsFilesError(Exception):
    """The TLS files cannot be used; the message lists every problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class TlsPaths:
    """Where the listener's TLS files are, and the settings that named them (for
    messages)."""

    certificate: Path
    key: Path
    client_ca: Path | None = None

    def named(self) -> list[tuple[str, Path]]:
        named = [("BACKCHANNEL_TLS_CERT_FILE", self.certificate)]
        named.append(("BACKCHANNEL_TLS_KEY_FILE", self.key))
        if self.client_ca is not None:
            named.append(("BACKCHANNEL_TLS_CLIENT_CA_FILE", self.client_ca))
        return named

    def signature(self) -> tuple[FileSignature, ...]:
        """The files' identity, size and times: a rotation (rewritten, renamed over, or a
        symlink swapped to another file, as Kubernetes updates a mounted secret) changes
        it."""
        return tuple(_signature(path) for _, path in self.named())


def _signature(path: Path) -> FileSignature:
    try:
        s = os.stat(path)
    except OSError:
        return None
    return (s.st_dev, s.st_ino, s.st_size, s.st_mtime_ns, s.st_ctime_ns)


@dataclass(frozen=True)
class TlsMaterial:
    """The files' content, checked: what grpc gets."""

    certificate_chain: bytes
    private_key: bytes
    client_ca: bytes | None
    #: The serving certificate in words (subject, serial, expiry), for log lines.
    description: str


def read_tls_material(paths: TlsPaths, now: datetime | None = None) -> TlsMaterial:
    """The files' content once every check passed; else TlsFilesError listing every
    problem: a file that cannot be read, holds no PEM certificate or key, a key that is
    encrypted or does not belong to the certificate, a certificate not valid now."""
    now = now or datetime.now(UTC)
    problems: list[str] = []
    chain_pem = _read("BACKCHANNEL_TLS_CERT_FILE", paths.certificate, problems)
    key_pem = _read("BACKCHANNEL_TLS_KEY_FILE", paths.key, problems)
    ca_pem = (
        _read("BACKCHANNEL_TLS_CLIENT_CA_FILE", paths.client_ca, problems)
        if paths.client_ca is not None
        else None
    )
    chain = _parsed(
        chain_pem, x509.load_pem_x509_certificates, "BACKCHANNEL_TLS_CERT_FILE",
        paths.certificate, "holds no PEM certificate", problems,
    )  # fmt: skip
    key = None
    if key_pem is not None:
        key = _private_key(key_pem, paths.key, problems)
    if ca_pem is not None and paths.client_ca is not None:
        _parsed(
            ca_pem, x509.load_pem_x509_certificates, "BACKCHANNEL_TLS_CLIENT_CA_FILE",
            paths.client_ca, "holds no PEM certificate", problems,
        )  # fmt: skip
    description = ""
    if chain:
        leaf = chain[0]
        description = describe_certificate(leaf)
        where = f"BACKCHANNEL_TLS_CERT_FILE {paths.certificate}"
        if leaf.not_valid_after_utc <= now:
            problems.append(f"{where}: the certificate expired on {leaf.not_valid_after_utc}")
        elif leaf.not_valid_before_utc > now:
            problems.append(
                f"{where}: the certificate is not valid before {leaf.not_valid_before_utc}"
            )
        if key is not None and _public_der(leaf.public_key()) != _public_der(key.public_key()):
            problems.append(
                f"BACKCHANNEL_TLS_KEY_FILE {paths.key}: the key does not belong to the first "
                f"certificate of {paths.certificate}"
            )
    if problems or chain_pem is None or key_pem is None:
        raise TlsFilesError(problems)
    return TlsMaterial(chain_pem, key_pem, ca_pem, description)


def describe_certificate(certificate: x509.Certificate) -> str:
    subject = certificate.subject.rfc4514_string() or "(no subject)"
    return (
        f"{subject}, serial {certificate.serial_number:x}, "
        f"valid until {certificate.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC"
    )


def _read(setting: str, path: Path, problems: list[str]) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError as error:
        problems.append(f"{setting} {path}: cannot be read: {error.strerror or error}")
        return None


def _parsed(
    pem: bytes | None,
    parse: Callable[[bytes], T],
    setting: str,
    path: Path,
    what: str,
    problems: list[str],
) -> T | None:
    if pem is None:
        return None
    try:
        return parse(pem)
    except ValueError:
        problems.append(f"{setting} {path}: {what}")
        return None


def _private_key(pem: bytes, path: Path, problems: list[str]) -> PrivateKeyTypes | None:
    where = f"BACKCHANNEL_TLS_KEY_FILE {path}"
    try:
        return serialization.load_pem_private_key(pem, password=None)
    except TypeError:
        problems.append(f"{where}: the key is encrypted; the server needs it unencrypted")
    except (ValueError, UnsupportedAlgorithm):
        problems.append(f"{where}: holds no PEM private key")
    return None


def _public_der(key: PublicKeyTypes) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
