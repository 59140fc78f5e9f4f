"""Opening one SSH connection and its SFTP session, with the host key always verified.

Nothing on the machine the service runs on is consulted: not ``~/.ssh/config``, not
``~/.ssh/known_hosts``, not the default ``~/.ssh/id_*`` keys, not an ssh-agent, not GSSAPI.
The only trusted host keys are the recipient's ``known_hosts`` lines, and the only
credentials are the recipient's secrets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import asyncssh

from backchannel.plugin import TransportContext

from ._settings import SftpSettings

#: Seconds without traffic after which a keepalive checks that an idle connection lives.
KEEPALIVE_INTERVAL_SECONDS = 10.0

Stage = Literal["connect", "login"]


class OpenFailed(Exception):
    """Opening a session failed during ``stage``: ``connect`` (TCP, key exchange, host key)
    or ``login`` (authentication, starting SFTP). The cause is ``__cause__``."""

    def __init__(self, stage: Stage) -> None:
        super().__init__(stage)
        self.stage: Stage = stage


@dataclass
class Session:
    connection: asyncssh.SSHClientConnection
    sftp: asyncssh.SFTPClient

    def close(self) -> None:
        self.sftp.exit()
        self.connection.close()

    async def wait_closed(self) -> None:
        await self.connection.wait_closed()


class _Client(asyncssh.SSHClient):
    """Notes when authentication begins: by then the host key has been verified."""

    def __init__(self) -> None:
        self.authenticating = False

    def begin_auth(self, username: str) -> None:
        self.authenticating = True


async def open_session(
    account: SftpSettings,
    *,
    connect_timeout: float,
    context: TransportContext,
) -> Session:
    """A logged-in SSH connection with an SFTP session; raises :class:`OpenFailed`.

    The host is resolved once and checked by the host's guard (``context.resolve``); the
    connection goes to the address that was checked."""
    client = _Client()
    try:
        [address, *_] = await context.resolve(account.host, account.port)
        connection = await asyncssh.connect(
            address,
            account.port,
            # Host keys are matched against the name the recipient gave, not the address.
            host_key_alias=account.host,
            known_hosts=account.known_hosts.trusted,
            x509_trusted_certs=None,
            username=account.username,
            password=account.password,
            client_keys=[account.private_key] if account.private_key is not None else None,
            agent_path=None,
            pkcs11_provider=None,
            gss_host=None,
            host_based_auth=False,
            config=None,
            client_factory=lambda: client,
            connect_timeout=connect_timeout,
            keepalive_interval=KEEPALIVE_INTERVAL_SECONDS,
        )
    except (OSError, asyncssh.Error, TimeoutError) as error:
        raise OpenFailed("login" if client.authenticating else "connect") from error
    try:
        sftp = await connection.start_sftp_client()
    except (OSError, asyncssh.Error, TimeoutError) as error:
        connection.close()
        raise OpenFailed("login") from error
    except BaseException:
        connection.close()
        raise
    return Session(connection, sftp)
