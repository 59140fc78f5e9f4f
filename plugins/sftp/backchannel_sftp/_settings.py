"""A recipient's SFTP settings: every problem with them, or the account they describe.

Descriptions of problems never contain a secret value.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import re
import secrets as random_bytes
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

import asyncssh

from backchannel.plugin import FieldProblem
from backchannel.plugin_support import positive_number, setting_name_problems

from ._filename import DEFAULT_TEMPLATE, template_problems

PLAIN: Final = "transport_settings"
SECRET: Final = "secret_settings"

PLAIN_SETTINGS: Final = frozenset(
    {
        "host",
        "port",
        "username",
        "directory",
        "filename_template",
        "known_hosts",
        "gzip",
        "connect_timeout_seconds",
        "timeout_seconds",
        "rename_strategy",
    }
)
SECRET_SETTINGS: Final = frozenset({"password", "private_key", "private_key_passphrase"})

DEFAULT_PORT: Final = 22
RENAME_STRATEGIES: Final = ("posix-rename", "rename")
MAX_CONNECT_TIMEOUT_SECONDS: Final = 60.0
MAX_TIMEOUT_SECONDS: Final = 600.0
MAX_USERNAME_LENGTH: Final = 256
MAX_DIRECTORY_LENGTH: Final = 1024
#: Private-key lines at least this long are masked wherever they might appear.
_MIN_MASKED_KEY_LINE: Final = 16

#: A DNS name as the resolver takes it: labels of 1 to 63 characters, 253 in all.
_HOST_NAME = re.compile(r"(?=.{1,253}\.?$)[A-Za-z0-9_-]{1,63}(\.[A-Za-z0-9_-]{1,63})*\.?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_KNOWN_HOSTS_MARKERS: Final = ("@cert-authority", "@revoked")

#: Keys the digests of credentials (in pool keys, in the private-key cache), so that they
#: say nothing about the credentials themselves even where they are seen.
_DIGEST_SALT: Final = random_bytes.token_bytes(32)
#: Decrypted private keys, by a salted digest of their text and passphrase (least recently
#: used first), so that a burst of deliveries decrypts a recipient's key once.
_PRIVATE_KEYS: OrderedDict[bytes, asyncssh.SSHKey] = OrderedDict()
_PRIVATE_KEYS_KEPT: Final = 64


class PoolKey(NamedTuple):
    """Which cached SSH connection an account may share: same server, same user, same pinned
    host keys and same credentials."""

    host: str
    port: int
    username: str
    known_hosts_digest: str
    credentials_digest: str


@dataclass(frozen=True)
class Account:
    """Where and how to upload, read from settings that had no problems."""

    host: str
    port: int
    username: str
    directory: str
    filename_template: str
    known_hosts: asyncssh.SSHKnownHosts = field(repr=False)
    gzip: bool
    connect_timeout: float | None
    timeout: float | None
    rename_strategy: str
    password: str | None = field(repr=False)
    private_key: asyncssh.SSHKey | None = field(repr=False)
    #: Every secret string that must never leave the transport, longest first.
    secret_values: tuple[str, ...] = field(repr=False)
    pool_key: PoolKey = field(repr=False)

    @property
    def target(self) -> str:
        """How results name the server: ``host:port``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def read_account(
    settings: Mapping[str, Any], secrets: Mapping[str, Any]
) -> tuple[Account | None, list[FieldProblem]]:
    """The account the settings describe, and every problem with them (the account is None
    when there is any)."""
    reader = _Reader(settings, secrets)
    account = reader.read()
    return (account if not reader.problems else None), reader.problems


class _Reader:
    def __init__(self, settings: Mapping[str, Any], secrets: Mapping[str, Any]) -> None:
        self.settings = settings
        self.secrets = secrets
        self.problems: list[FieldProblem] = []

    def problem(self, field: str, description: str) -> None:
        self.problems.append(FieldProblem(field, description))

    def read(self) -> Account | None:
        self.check_names()
        host = self.read_host()
        port = self.read_port()
        username = self.read_username()
        directory = self.read_directory()
        template = self.read_template()
        known_hosts = self.read_known_hosts(host, port)
        gzip = self.read_bool("gzip")
        connect_timeout = positive_number(
            self.settings, "connect_timeout_seconds", MAX_CONNECT_TIMEOUT_SECONDS, self.problems
        )
        timeout = positive_number(
            self.settings, "timeout_seconds", MAX_TIMEOUT_SECONDS, self.problems
        )
        rename_strategy = self.read_rename_strategy()
        password, private_key = self.read_credentials()
        if (
            host is None
            or port is None
            or username is None
            or directory is None
            or template is None
            or known_hosts is None
            or self.problems
        ):
            return None
        known_hosts_text, known_hosts_object = known_hosts
        return Account(
            host=host,
            port=port,
            username=username,
            directory=directory,
            filename_template=template,
            known_hosts=known_hosts_object,
            gzip=gzip,
            connect_timeout=connect_timeout,
            timeout=timeout,
            rename_strategy=rename_strategy,
            password=password,
            private_key=private_key,
            secret_values=self.secret_values(),
            pool_key=PoolKey(
                host=host,
                port=port,
                username=username,
                known_hosts_digest=hashlib.sha256(known_hosts_text.encode()).hexdigest(),
                credentials_digest=_credentials_digest(password, private_key),
            ),
        )

    def check_names(self) -> None:
        self.problems += setting_name_problems(
            self.settings,
            self.secrets,
            plain_names=PLAIN_SETTINGS,
            secret_names=SECRET_SETTINGS,
            unknown="an sftp setting",
        )

    # --- where -----------------------------------------------------------------------------

    def read_host(self) -> str | None:
        value = self.settings.get("host")
        field = f"{PLAIN}.host"
        if value is None:
            self.problem(field, "is required: the SFTP server's host name or IP address")
            return None
        if not isinstance(value, str) or not value:
            self.problem(field, "must be a non-empty string")
            return None
        if "@" in value:
            self.problem(field, "must be the host alone: give the user name in username")
            return None
        if _is_address(value):
            return value
        if ":" in value:
            self.problem(field, "must be the host alone: give the port in port")
            return None
        if not _HOST_NAME.fullmatch(value):
            self.problem(field, "is not a valid host name or IP address")
            return None
        return value

    def read_port(self) -> int | None:
        value = self.settings.get("port", DEFAULT_PORT)
        # Settings arrive through protobuf Struct, where every number is a float.
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value != int(value)
            or not 1 <= value <= 65535
        ):
            self.problem(f"{PLAIN}.port", "must be a whole number from 1 to 65535")
            return None
        return int(value)

    def read_username(self) -> str | None:
        return self.read_text("username", MAX_USERNAME_LENGTH, "is required")

    def read_directory(self) -> str | None:
        value = self.read_text(
            "directory",
            MAX_DIRECTORY_LENGTH,
            "is required: the remote directory to upload into ('.' for the login one)",
        )
        if value is None or value in ("/", "."):
            return value
        if any(segment == ".." for segment in value.strip("/").split("/")):
            self.problem(f"{PLAIN}.directory", "must not contain .. segments")
            return None
        return value.rstrip("/") or "/"

    def read_text(self, name: str, maximum: int, when_missing: str) -> str | None:
        """A required plain setting that is a string of 1 to ``maximum`` printable characters."""
        value = self.settings.get(name)
        field = f"{PLAIN}.{name}"
        if value is None:
            self.problem(field, when_missing)
            return None
        if not isinstance(value, str) or not value or len(value) > maximum:
            self.problem(field, f"must be a string of 1 to {maximum} characters")
            return None
        if _CONTROL.search(value):
            self.problem(field, "must not contain control characters")
            return None
        return value

    def read_template(self) -> str | None:
        value = self.settings.get("filename_template", DEFAULT_TEMPLATE)
        field = f"{PLAIN}.filename_template"
        if not isinstance(value, str) or not value:
            self.problem(field, "must be a non-empty string")
            return None
        problems = template_problems(value)
        for description in problems:
            self.problem(field, description)
        return None if problems else value

    # --- host keys -------------------------------------------------------------------------

    def read_known_hosts(
        self, host: str | None, port: int | None
    ) -> tuple[str, asyncssh.SSHKnownHosts] | None:
        value = self.settings.get("known_hosts")
        field = f"{PLAIN}.known_hosts"
        if value is None:
            self.problem(
                field,
                "is required: the server's host key as OpenSSH known_hosts line(s), e.g. "
                "from ssh-keyscan; host keys are always verified",
            )
            return None
        if isinstance(value, str):
            lines = value.splitlines()
        elif isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
            lines = [line for item in value for line in item.splitlines()]
        else:
            self.problem(field, "must be a string or a list of strings (known_hosts lines)")
            return None
        entries = 0
        bad_lines = False
        for number, line in enumerate(lines, start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            reason = _known_hosts_line_problem(line)
            if reason is None:
                entries += 1
            else:
                bad_lines = True
                self.problem(field, f"line {number} {reason}")
        if bad_lines:
            return None
        if entries == 0:
            self.problem(field, "has no host key lines")
            return None
        text = "\n".join(line.strip() for line in lines)
        known_hosts = asyncssh.import_known_hosts(text)
        if host is not None and port is not None:
            trusted_keys, trusted_cas, *_ = known_hosts.match(
                host, "", None if port == DEFAULT_PORT else port
            )
            if not trusted_keys and not trusted_cas:
                named = host if port == DEFAULT_PORT else f"[{host}]:{port} or {host}"
                self.problem(field, f"has no host key line for {named}")
                return None
        return text, known_hosts

    # --- options ---------------------------------------------------------------------------

    def read_bool(self, name: str) -> bool:
        value = self.settings.get(name, False)
        if not isinstance(value, bool):
            self.problem(f"{PLAIN}.{name}", "must be true or false")
            return False
        return value

    def read_rename_strategy(self) -> str:
        value = self.settings.get("rename_strategy", RENAME_STRATEGIES[0])
        if value not in RENAME_STRATEGIES:
            self.problem(
                f"{PLAIN}.rename_strategy", f"must be one of: {', '.join(RENAME_STRATEGIES)}"
            )
            return RENAME_STRATEGIES[0]
        return str(value)

    # --- credentials -----------------------------------------------------------------------

    def read_credentials(self) -> tuple[str | None, asyncssh.SSHKey | None]:
        password = self.secrets.get("password")
        key_text = self.secrets.get("private_key")
        passphrase = self.secrets.get("private_key_passphrase")
        if password is None and key_text is None:
            self.problem(f"{SECRET}.password", "is required unless private_key is given")
        if password is not None and (not isinstance(password, str) or not password):
            self.problem(f"{SECRET}.password", "must be a non-empty string")
            password = None
        if passphrase is not None and (not isinstance(passphrase, str) or not passphrase):
            self.problem(f"{SECRET}.private_key_passphrase", "must be a non-empty string")
            return password, None
        if key_text is None:
            if passphrase is not None:
                self.problem(f"{SECRET}.private_key_passphrase", "is given without private_key")
            return password, None
        if not isinstance(key_text, str) or not key_text.strip():
            self.problem(f"{SECRET}.private_key", "must be the private key's text")
            return password, None
        try:
            key = _load_private_key(key_text, passphrase)
        except (asyncssh.KeyImportError, asyncssh.KeyEncryptionError) as error:
            self.problem(*_key_problem(error, passphrase_given=passphrase is not None))
            return password, None
        return password, key

    def secret_values(self) -> tuple[str, ...]:
        values: set[str] = set()
        for name in SECRET_SETTINGS:
            value = self.secrets.get(name)
            if isinstance(value, str) and value:
                values.add(value)
        key_text = self.secrets.get("private_key")
        if isinstance(key_text, str):
            values.update(
                line.strip()
                for line in key_text.splitlines()
                if len(line.strip()) >= _MIN_MASKED_KEY_LINE
            )
        return tuple(sorted(values, key=len, reverse=True))


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


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


def _key_problem(error: ValueError, *, passphrase_given: bool) -> tuple[str, str]:
    """Where a private key that does not load went wrong, without quoting it."""
    message = str(error).lower()
    if "passphrase must be specified" in message:
        return f"{SECRET}.private_key", "is encrypted: give private_key_passphrase"
    if passphrase_given and ("passphrase" in message or "decrypt" in message):
        return f"{SECRET}.private_key_passphrase", "does not decrypt private_key"
    return f"{SECRET}.private_key", "is not a private key in OpenSSH or PEM format"


def _load_private_key(text: str, passphrase: str | None) -> asyncssh.SSHKey:
    """The key ``text`` holds, decrypted once and then remembered: decrypting an OpenSSH key
    runs bcrypt, which takes about half a second, and every send reads its settings anew."""
    mac = hmac.new(_DIGEST_SALT, text.encode(), hashlib.sha256)
    mac.update(b"\x00" if passphrase is None else b"\x01" + passphrase.encode())
    digest = mac.digest()
    key = _PRIVATE_KEYS.get(digest)
    if key is None:
        key = asyncssh.import_private_key(text, passphrase)
        _PRIVATE_KEYS[digest] = key
        while len(_PRIVATE_KEYS) > _PRIVATE_KEYS_KEPT:
            _PRIVATE_KEYS.popitem(last=False)
    else:
        _PRIVATE_KEYS.move_to_end(digest)
    return key


def _credentials_digest(password: str | None, private_key: asyncssh.SSHKey | None) -> str:
    mac = hmac.new(_DIGEST_SALT, digestmod=hashlib.sha256)
    mac.update(b"password:" + (password or "").encode() + b"\x00")
    if private_key is not None:
        mac.update(b"key:" + private_key.public_data)
    return mac.hexdigest()
