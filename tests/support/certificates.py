"""Certificates made on the spot with ``cryptography``, for real TLS handshakes: a CA, a
server certificate for 127.0.0.1/::1/localhost, client certificates with a URI SAN (a
SPIFFE id), a DNS SAN or only a CN, and the PEM files a server or client reads.

Keys are EC P-256: quick to make, and read by every TLS stack the clients use (BoringSSL
in grpc core, Node's OpenSSL, Go's crypto/tls, Java's JSSE through Netty)."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: The identity the test clients present: a SPIFFE id in a URI SAN.
CLIENT_SPIFFE_ID = "spiffe://backchannel.test/crm-sync"


#: What a CA's key may do: sign certificates (and CRLs).
_CA_KEY_USAGE = x509.KeyUsage(
    digital_signature=True,
    content_commitment=False,
    key_encipherment=False,
    data_encipherment=False,
    key_agreement=False,
    key_cert_sign=True,
    crl_sign=True,
    encipher_only=False,
    decipher_only=False,
)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@dataclass(frozen=True)
class Issued:
    """A certificate (PEM) and its private key (PEM, unencrypted PKCS#8)."""

    certificate: bytes
    key: bytes

    @property
    def serial_number(self) -> int:
        return x509.load_pem_x509_certificate(self.certificate).serial_number

    def write(self, folder: Path, name: str) -> tuple[Path, Path]:
        """Writes ``NAME.pem`` and ``NAME.key`` (mode 0600) into ``folder``; their paths."""
        certificate_path, key_path = folder / f"{name}.pem", folder / f"{name}.key"
        write_file(certificate_path, self.certificate)
        write_file(key_path, self.key, mode=0o600)
        return certificate_path, key_path


def write_file(path: Path, content: bytes, mode: int = 0o644) -> None:
    """Replaces ``path`` at once (write a temporary file, then rename over it), as a
    deployment tool rotating certificates would, so a reader never sees half a file."""
    temporary = path.with_name(f".{path.name}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "wb") as file:
        file.write(content)
    os.replace(temporary, path)


class CertificateAuthority:
    """A self-signed CA that issues server and client certificates."""

    def __init__(self, name: str = "Backchannel test CA") -> None:
        self._key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.now(UTC)
        self._certificate = (
            x509.CertificateBuilder()
            .subject_name(self.name)
            .issuer_name(self.name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_CA_KEY_USAGE, critical=True)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self._key.public_key()), critical=False
            )
            .sign(self._key, hashes.SHA256())
        )
        self.certificate = self._certificate.public_bytes(serialization.Encoding.PEM)

    def write(self, folder: Path, name: str = "ca") -> Path:
        path = folder / f"{name}.pem"
        write_file(path, self.certificate)
        return path

    def issue(
        self,
        *,
        common_name: str | None = None,
        dns_names: Sequence[str] = (),
        ip_addresses: Sequence[str] = (),
        uris: Sequence[str] = (),
        server: bool = False,
        client: bool = False,
        valid_for: timedelta = timedelta(days=1),
        valid_from: datetime | None = None,
    ) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            [x509.NameAttribute(NameOID.COMMON_NAME, common_name)] if common_name else []
        )
        start = valid_from or datetime.now(UTC) - timedelta(minutes=5)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + valid_for)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                critical=False,
            )
        )
        names: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
        names += [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses]
        names += [x509.UniformResourceIdentifier(uri) for uri in uris]
        if names:
            # With an empty subject the names are the only identity, so they are critical.
            builder = builder.add_extension(
                x509.SubjectAlternativeName(names), critical=not common_name
            )
        usages = [ExtendedKeyUsageOID.SERVER_AUTH] if server else []
        usages += [ExtendedKeyUsageOID.CLIENT_AUTH] if client else []
        if usages:
            builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
        certificate = builder.sign(self._key, hashes.SHA256())
        return Issued(certificate.public_bytes(serialization.Encoding.PEM), _key_pem(key))

    def server_certificate(self) -> Issued:
        """For a server on loopback: 127.0.0.1, ::1 and localhost."""
        return self.issue(
            common_name="localhost",
            dns_names=["localhost"],
            ip_addresses=["127.0.0.1", "::1"],
            server=True,
        )

    def client_certificate(self, uri: str = CLIENT_SPIFFE_ID) -> Issued:
        """For a client whose identity is ``uri`` (a URI SAN)."""
        return self.issue(common_name="crm-sync", uris=[uri], client=True)


@dataclass(frozen=True)
class TlsFiles:
    """The PEM files of an mTLS setup written into one folder: the CA, the server's
    certificate and key, a client's (signed by the CA, identity CLIENT_SPIFFE_ID), and a
    forged client's (the same identity, signed by another CA the server does not trust)."""

    ca: Path
    server_certificate: Path
    server_key: Path
    client_certificate: Path
    client_key: Path
    forged_certificate: Path
    forged_key: Path


def write_tls_files(folder: Path, authority: CertificateAuthority | None = None) -> TlsFiles:
    authority = authority or CertificateAuthority()
    server_certificate, server_key = authority.server_certificate().write(folder, "server")
    client_certificate, client_key = authority.client_certificate().write(folder, "client")
    forger = CertificateAuthority("Backchannel test CA")  # same name, another key
    forged_certificate, forged_key = forger.client_certificate().write(folder, "forged-client")
    return TlsFiles(
        ca=authority.write(folder),
        server_certificate=server_certificate,
        server_key=server_key,
        client_certificate=client_certificate,
        client_key=client_key,
        forged_certificate=forged_certificate,
        forged_key=forged_key,
    )
