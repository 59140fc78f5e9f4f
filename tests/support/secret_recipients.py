"""Recipients holding every kind of secret setting the four built-in transports take, and
every spelling of those secrets a leak could take: as given, base64 (an ``Authorization:
Basic`` header, SMTP AUTH), percent-encoded, hex (as a dump shows ``bytea``), the parts of
a secret URL, the lines of a private key.

The values are distinctive, so a hit anywhere is a leak and never a coincidence."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus, unquote

import asyncssh
from backchannel_client.v1 import recipient_pb2

from support.recipient_calls import struct

BEARER_TOKEN = "tok-bearer-7Qm2xLp9Vw4s"
SIGNING_SECRET = "whsec_" + base64.b64encode(b"signing-key-of-the-leak-tests-01").decode()
BASIC_USER = "bc-basic-user"
BASIC_PASSWORD = "pw-basic-3Nf8Rk2Zq"
API_KEY = "key-api-9Hs4Tj6Wd1"
URL_USER = "bc-url-user"
URL_PASSWORD = "pw-in-url-5Gk7Lm3Xc"
#: Percent-encoded in the URL (``%2F``), as tokens often are.
URL_TOKEN = "tok-in-query-8Bv2%2FNq6Jy"
SFTP_PASSWORD = "pw-sftp-4Rt9Yu2Io"
SFTP_KEY_PASSPHRASE = "pp-sftp-key-6Ws1Ed3Rf"
SMTP_PASSWORD = "pw-smtp-2Qa5Zx8Cv"
TEAMS_SIGNATURE = "sIg-teams-7Hj3Kl9Mn0Pq2Rs4"

#: Lines of a PEM key's base64 shorter than this are not looked for (the last one may be
#: a few characters).
_MIN_KEY_LINE = 16


def recipient(
    recipient_id: str, transport: str, settings: dict[str, Any], secrets: dict[str, Any]
) -> recipient_pb2.Recipient:
    return recipient_pb2.Recipient(
        id=recipient_id,
        recipient_type=recipient_pb2.RECIPIENT_TYPE_PARTNER,
        transport=transport,
        format="json",
        transport_settings=struct(settings),
        secret_settings=struct(secrets),
    )


@dataclass
class SecretKinds:
    """The recipients, and every secret text they were given."""

    recipients: list[recipient_pb2.Recipient] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    #: (user, password) pairs sent together (HTTP Basic, user:password@ in a URL).
    pairs: list[tuple[str, str]] = field(default_factory=list)

    def add(
        self,
        recipient_id: str,
        transport: str,
        settings: dict[str, Any],
        secrets: dict[str, Any],
    ) -> None:
        self.recipients.append(recipient(recipient_id, transport, settings, secrets))
        for value in secrets.values():
            self.secrets += value if isinstance(value, list) else [value]

    def spellings(self) -> list[str]:
        """Every spelling of every secret to look for, longest first."""
        found: set[str] = set()
        for secret in self.secrets:
            found |= spellings_of(secret)
        for user, password in self.pairs:
            found |= _encodings(f"{user}:{password}")
            found |= _encodings(f"\0{user}\0{password}")
        return sorted((s for s in found if len(s) >= 6), key=len, reverse=True)


def spellings_of(secret: str) -> set[str]:
    parts = {secret, unquote(secret)}
    if secret.startswith("whsec_"):
        parts.add(secret.removeprefix("whsec_"))
    if "-----BEGIN" in secret:
        parts |= {
            line.strip()
            for line in secret.splitlines()
            if len(line.strip()) >= _MIN_KEY_LINE and not line.startswith("-----")
        }
    found: set[str] = set()
    for part in parts:
        found |= _encodings(part)
    return found


def _encodings(text: str) -> set[str]:
    raw = text.encode()
    return {
        text,
        quote(text, safe=""),
        quote_plus(text),
        base64.b64encode(raw).decode(),
        base64.b64encode(raw).decode().rstrip("="),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        binascii.hexlify(raw).decode(),
    }


def encrypted_private_key() -> str:
    key = asyncssh.generate_private_key("ssh-ed25519")
    return key.export_private_key("openssh", SFTP_KEY_PASSPHRASE).decode()


def every_kind_of_secret(
    webhook_base: str,
    sftp: tuple[str, int, str],
    smtp: tuple[str, int, str],
    teams: tuple[str, str],
    sftp_key: tuple[str, str] | None = None,
    sftp_directory: str = ".",
) -> SecretKinds:
    """Webhook recipients with a bearer token and signing secret, HTTP Basic, an API key
    and a secret URL carrying user:password@ and a token; SFTP with a password and with an
    encrypted private key; SMTP with a password; Teams with its signed Workflows URL.
    ``webhook_base``: ``http://host:port``; ``sftp``: host, port, known_hosts line; ``smtp``:
    host, port, CA PEM; ``teams``: the URL's prefix before ``sig=``'s value, CA PEM;
    ``sftp_key``: an encrypted private key's text and passphrase (default: a new key)."""
    kinds = SecretKinds()
    host_port = webhook_base.removeprefix("http://")
    kinds.add(
        "wh-bearer",
        "webhook",
        {"url": f"{webhook_base}/bearer", "auth": "bearer"},
        {"bearer_token": BEARER_TOKEN, "signing_secrets": SIGNING_SECRET},
    )
    kinds.add(
        "wh-basic",
        "webhook",
        {"url": f"{webhook_base}/basic", "auth": "basic", "basic_username": BASIC_USER},
        {"basic_password": BASIC_PASSWORD},
    )
    kinds.pairs.append((BASIC_USER, BASIC_PASSWORD))
    kinds.add(
        "wh-api-key",
        "webhook",
        {"url": f"{webhook_base}/api-key", "auth": "api_key", "api_key_header": "X-Api-Key"},
        {"api_key": API_KEY},
    )
    kinds.add(
        "wh-secret-url",
        "webhook",
        {},
        {"url": f"http://{URL_USER}:{URL_PASSWORD}@{host_port}/secret-url?token={URL_TOKEN}"},
    )
    kinds.secrets += [URL_PASSWORD, URL_TOKEN]
    kinds.pairs.append((URL_USER, URL_PASSWORD))
    sftp_host, sftp_port, known_hosts = sftp
    sftp_settings = {
        "host": sftp_host,
        "port": sftp_port,
        "directory": sftp_directory,
        "known_hosts": known_hosts,
    }
    kinds.add(
        "sftp-password",
        "sftp",
        {**sftp_settings, "username": "backchannel-sftp-test"},
        {"password": SFTP_PASSWORD},
    )
    kinds.add(
        "sftp-key",
        "sftp",
        {**sftp_settings, "username": "backchannel-sftp-test"},
        {
            "private_key": sftp_key[0] if sftp_key else encrypted_private_key(),
            "private_key_passphrase": sftp_key[1] if sftp_key else SFTP_KEY_PASSPHRASE,
        },
    )
    smtp_host, smtp_port, smtp_ca = smtp
    kinds.add(
        "mail",
        "email",
        {
            "host": smtp_host,
            "port": smtp_port,
            "ca_certificate": smtp_ca,
            "username": "backchannel",
            "from_address": "feedback@backchannel.example",
            "to": ["partner@example.com"],
        },
        {"password": SMTP_PASSWORD},
    )
    kinds.pairs.append(("backchannel", SMTP_PASSWORD))
    teams_prefix, teams_ca = teams
    kinds.add(
        "teams",
        "teams",
        {"ca_certificate": teams_ca},
        {"url": f"{teams_prefix}{TEAMS_SIGNATURE}"},
    )
    kinds.secrets.append(TEAMS_SIGNATURE)
    return kinds
