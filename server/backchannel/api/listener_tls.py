"""The gRPC listener's TLS: server credentials whose certificate (and client CA bundle) can
be replaced while serving, on SIGHUP or when the files change.

grpc's ``dynamic_ssl_server_credentials`` asks a fetcher for a new certificate
configuration before each new connection's handshake; the fetcher answers None (keep the
current one) unless a reload has produced a new one, which it hands over once. Connections
already open, and the streams on them, keep the TLS session they have: a reload never
closes anything. A reload reads and checks the files first (tls_files.read_tls_material):
one that fails keeps the configuration in use and logs why.

The fetcher runs on grpc's own threads, so the hand-over is guarded by a lock; reading and
checking the files happens on the event loop (SIGHUP, or the watch task), never in the
fetcher.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import grpc

from backchannel.api.tls_files import (
    TlsFilesError,
    TlsMaterial,
    TlsPaths,
    read_tls_material,
)
from backchannel.settings import Settings

log = logging.getLogger(__name__)


class TlsSetupError(Exception):
    """The TLS settings or files cannot be used to start; the message lists every
    problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("TLS cannot be set up:\n" + "\n".join(f"  - {p}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class TlsSettings:
    paths: TlsPaths
    require_client_certificate: bool


def tls_settings(settings: Settings) -> TlsSettings | None:
    """The listener's TLS as the settings ask for it (None: plaintext); TlsSetupError when
    they contradict each other."""
    cert, key, ca = settings.tls_cert_file, settings.tls_key_file, settings.tls_client_ca_file
    mode = settings.tls_client_auth or ("require" if ca else "none")
    problems: list[str] = []
    if bool(cert) != bool(key):
        given, missing = ("CERT", "KEY") if cert else ("KEY", "CERT")
        problems.append(
            f"BACKCHANNEL_TLS_{given}_FILE is set without BACKCHANNEL_TLS_{missing}_FILE: "
            "TLS needs both"
        )
    if not cert and not key and (ca or settings.tls_client_auth == "require"):
        problems.append(
            "client certificates (BACKCHANNEL_TLS_CLIENT_CA_FILE, BACKCHANNEL_TLS_CLIENT_AUTH"
            "=require) need TLS: set BACKCHANNEL_TLS_CERT_FILE and BACKCHANNEL_TLS_KEY_FILE"
        )
    if mode == "require" and not ca:
        problems.append(
            "BACKCHANNEL_TLS_CLIENT_AUTH=require needs BACKCHANNEL_TLS_CLIENT_CA_FILE, the CAs "
            "client certificates must be signed by"
        )
    if mode == "none" and ca:
        problems.append(
            "BACKCHANNEL_TLS_CLIENT_CA_FILE is set but BACKCHANNEL_TLS_CLIENT_AUTH=none would "
            "never ask for a client certificate: set require, or leave the CA file out"
        )
    if problems:
        raise TlsSetupError(problems)
    if not cert:
        return None
    paths = TlsPaths(Path(cert), Path(key), Path(ca) if ca else None)
    return TlsSettings(paths, require_client_certificate=mode == "require")


class ListenerTls:
    """The listener's credentials and what replaces their certificate while serving."""

    def __init__(self, settings: TlsSettings) -> None:
        """Reads and checks the files; TlsSetupError when they cannot be served with."""
        self.settings = settings
        self._lock = threading.Lock()
        self._pending: grpc.ServerCertificateConfiguration | None = None
        self._seen = settings.paths.signature()
        try:
            self._material = read_tls_material(settings.paths)
        except TlsFilesError as error:
            raise TlsSetupError(error.problems) from error
        #: How many reloads put a new certificate in place (for tests and logs).
        self.reloads = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> ListenerTls | None:
        wanted = tls_settings(settings)
        return None if wanted is None else cls(wanted)

    @property
    def description(self) -> str:
        """The listener's security in words, for the start-up line."""
        clients = (
            "client certificates required"
            if self.settings.require_client_certificate
            else "no client certificates"
        )
        return f"TLS, {clients}"

    @property
    def certificate_description(self) -> str:
        return self._material.description

    def server_credentials(self) -> grpc.ServerCredentials:
        # grpc-stubs type the fetcher without its None ("no change"), which grpc documents.
        fetcher = cast(Callable[[], grpc.ServerCertificateConfiguration], self._next_configuration)
        return grpc.dynamic_ssl_server_credentials(
            self._configuration(self._material),
            fetcher,
            require_client_authentication=self.settings.require_client_certificate,
        )

    def reload(self, why: str) -> bool:
        """Reads the files again; when they pass every check, new connections get them
        (True). Otherwise the certificate in use stays, and the log says why (False)."""
        self._seen = self.settings.paths.signature()
        try:
            material = read_tls_material(self.settings.paths)
        except TlsFilesError as error:
            log.error(
                "TLS reload (%s) failed; keeping the certificate in use (%s): %s",
                why,
                self._material.description,
                error,
            )
            return False
        configuration = self._configuration(material)
        with self._lock:
            self._pending = configuration
        self._material = material
        self.reloads += 1
        log.info("TLS reloaded (%s): new connections get %s", why, material.description)
        return True

    async def watch(self, every_seconds: float) -> None:
        """Reloads whenever the files' signature changes, checking every ``every_seconds``.
        A change seen while a file is half-replaced fails its reload; the next change of
        the files (the rest being written) tries again."""
        while True:
            await asyncio.sleep(every_seconds)
            if self.settings.paths.signature() != self._seen:
                try:
                    self.reload("the files changed")
                except Exception:
                    # Never let one bad turn end the watching.
                    log.exception("TLS reload failed; keeping the certificate in use")

    def _configuration(self, material: TlsMaterial) -> grpc.ServerCertificateConfiguration:
        return grpc.ssl_server_certificate_configuration(
            [(material.private_key, material.certificate_chain)],
            root_certificates=(
                material.client_ca if self.settings.require_client_certificate else None
            ),
        )

    def _next_configuration(self) -> grpc.ServerCertificateConfiguration | None:
        """grpc's fetcher, called on its threads before each new connection's handshake:
        the reloaded configuration, once; else None (keep the current one)."""
        with self._lock:
            pending, self._pending = self._pending, None
        return pending
