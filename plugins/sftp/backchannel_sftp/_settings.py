"""A recipient's SFTP settings, declared: the host checks them against this model and hands
the transport the parsed result (the pinned host keys and the private key loaded).
Problems never quote a value.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets as random_bytes
from dataclasses import dataclass, field
from typing import Annotated, Any, Final, Literal, NamedTuple, Self

import asyncssh
from pydantic import (
    AfterValidator,
    Field,
    PlainValidator,
    ValidationInfo,
    field_validator,
    model_validator,
)

from backchannel.plugin import Destination, Secret, SettingError, TransportSettings
from backchannel.plugin_support import (
    ConnectTimeoutSeconds,
    HostName,
    Port,
    number_above_zero,
    one_line,
)

from ._filename import DEFAULT_TEMPLATE, template_problems

DEFAULT_PORT: Final = 22
MAX_TIMEOUT_SECONDS: Final = 600.0
MAX_USERNAME_LENGTH: Final = 256
MAX_DIRECTORY_LENGTH: Final = 1024
_KNOWN_HOSTS_MARKERS: Final = ("@cert-authority", "@revoked")
#: Keys the digests of credentials in pool keys, so that they say nothing about the
#: credentials themselves even where they are seen.
_DIGEST_SALT: Final = random_bytes.token_bytes(32)


class PoolKey(NamedTuple):
    """Which cached SSH connection an account may share: same server, same user, same pinned
    host keys and same credentials."""

    host: str
    port: int
    username: str
    known_hosts_digest: str
    credentials_digest: str


@dataclass(frozen=True)
class KnownHosts:
    """The host keys a recipient pins, as given and as asyncssh matches them."""

    text: str
    trusted: asyncssh.SSHKnownHosts = field(repr=False)


def _directory(value: str) -> str:
    if value in ("/", "."):
        return value
    if any(segment == ".." for segment in value.strip("/").split("/")):
        raise ValueError("must not contain .. segments")
    return value.rstrip("/") or "/"


def _filename_template(value: str) -> str:
    problems = template_problems(value)
    if problems:
        raise ValueError("; ".join(problems))
    return value


def _known_hosts(value: Any) -> KnownHosts:
    """OpenSSH known_hosts lines (a string, or a list of strings), every bad one named by
    its line number."""
    if isinstance(value, str):
        lines = value.splitlines()
    elif isinstance(value, list) and all(isinstance(item, str) for item in value):
        lines = [line for item in value for line in item.splitlines()]
    else:
        raise ValueError("must be a string or a list of strings (known_hosts lines)")
    problems = []
    entries = 0
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        reason = _known_hosts_line_problem(line)
        if reason is None:
            entries += 1
        else:
            problems.append(f"line {number} {reason}")
    if problems:
        raise ValueError("; ".join(problems))
    if entries == 0:
        raise ValueError("has no host key lines")
    text = "\n".join(line.strip() for line in lines)
    return KnownHosts(text, asyncssh.import_known_hosts(text))


def _known_hosts_line_problem(line: str) -> str | None:
    """Why one known_hosts line is unusable, or None: ``[@marker] patterns keytype key``."""
    parts = line.split()
    if parts[0].startswith("@"):
        if parts[0] not in _KNOWN_HOSTS_MARKERS:
            return f"has an unknown marker (known: {', '.join(_KNOWN_HOSTS_MARKERS)})"
        parts = parts[1:]
    if len(parts) < 3:
        return "is not 'host-patterns key-type base64-key' (an OpenSSH known_hosts line)"
    try:
        asyncssh.import_public_key(f"{parts[1]} {parts[2]}")
    except (asyncssh.KeyImportError, ValueError):
        return "does not carry a valid public key"
    return None


def _private_key(value: Any, info: ValidationInfo) -> asyncssh.SSHKey | None:
    """The key a private key's text holds, decrypted with the passphrase given with it."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be the private key's text")
    passphrase = info.data.get("private_key_passphrase")
    try:
        return asyncssh.import_private_key(value, passphrase)
    except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError) as error:
        message = str(error).lower()
        if "passphrase must be specified" in message:
            raise ValueError("is encrypted: give private_key_passphrase") from None
        if passphrase is not None and ("passphrase" in message or "decrypt" in message):
            raise SettingError("private_key_passphrase", "does not decrypt private_key") from None
        raise ValueError("is not a private key in OpenSSH or PEM format") from None


NonEmptyText = Annotated[str, Field(min_length=1)]


class SftpSettings(TransportSettings):
    """The settings of one SFTP recipient (see the README for each)."""

    host: Annotated[HostName, Destination()] = Field(
        description="the SFTP server's host name or IP address"
    )
    port: Annotated[Port, Destination()] = DEFAULT_PORT
    username: Annotated[str, one_line(MAX_USERNAME_LENGTH), Destination()] = Field(
        description="the account to log in as"
    )
    directory: Annotated[str, one_line(MAX_DIRECTORY_LENGTH), AfterValidator(_directory)] = Field(
        description="the remote directory to upload into ('.' for the login one)"
    )
    filename_template: Annotated[str, AfterValidator(_filename_template)] = DEFAULT_TEMPLATE
    known_hosts: Annotated[KnownHosts, PlainValidator(_known_hosts), Destination()] = Field(
        description="the server's host key as OpenSSH known_hosts line(s), e.g. from "
        "ssh-keyscan; host keys are always verified"
    )
    gzip: bool = False
    connect_timeout_seconds: ConnectTimeoutSeconds | None = None
    timeout_seconds: Annotated[float, number_above_zero(MAX_TIMEOUT_SECONDS)] | None = None
    rename_strategy: Literal["posix-rename", "rename"] = "posix-rename"
    private_key_passphrase: Annotated[NonEmptyText | None, Secret()] = None
    private_key: Annotated[asyncssh.SSHKey | None, PlainValidator(_private_key), Secret()] = None
    password: Annotated[NonEmptyText | None, Secret()] = None

    @field_validator("known_hosts")
    @classmethod
    def _a_line_for_the_host(cls, known_hosts: KnownHosts, info: ValidationInfo) -> KnownHosts:
        host, port = info.data.get("host"), info.data.get("port")
        if host is None or port is None:
            return known_hosts  # the host is itself wrong: that is the problem to report
        keys, authorities, *_ = known_hosts.trusted.match(
            host, "", None if port == DEFAULT_PORT else port
        )
        if not keys and not authorities:
            named = host if port == DEFAULT_PORT else f"[{host}]:{port} or {host}"
            raise ValueError(f"has no host key line for {named}")
        return known_hosts

    @model_validator(mode="after")
    def _credentials(self) -> Self:
        if self.private_key_passphrase is not None and self.private_key is None:
            raise SettingError("private_key_passphrase", "is given without private_key")
        if self.password is None and self.private_key is None:
            raise SettingError("password", "is required unless private_key is given")
        return self

    @property
    def target(self) -> str:
        """How results name the server: ``host:port``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @functools.cached_property
    def pool_key(self) -> PoolKey:
        credentials = hmac.new(_DIGEST_SALT, digestmod=hashlib.sha256)
        credentials.update(b"password:" + (self.password or "").encode() + b"\x00")
        if self.private_key is not None:
            credentials.update(b"key:" + self.private_key.public_data)
        return PoolKey(
            host=self.host,
            port=self.port,
            username=self.username,
            known_hosts_digest=hashlib.sha256(self.known_hosts.text.encode()).hexdigest(),
            credentials_digest=credentials.hexdigest(),
        )
