"""How one upload ended, as a :class:`DeliveryResult` (the host masks any secret a server
echoes in it).

Retrying cannot fix what only the recipient's settings or the server's set-up can: a host
key that does not match, refused credentials, a path the account may not write or that
cannot exist. Everything that may pass (refused or lost connections, timeouts, a full disk)
is retryable.
"""

from __future__ import annotations

import os
import socket

import asyncssh

from backchannel.plugin import DeliveryResult
from backchannel.plugin_support import EXCERPT_CHARS, DestinationRefused

from ._filename import UnsafePath
from ._session import OpenFailed
from ._settings import SftpSettings
from ._upload import RemoteStepFailed

#: Server answers that only a change of settings or of the server's set-up can fix.
_PERMANENT_SFTP_ERRORS: tuple[type[asyncssh.SFTPError], ...] = (
    asyncssh.SFTPPermissionDenied,
    asyncssh.SFTPNoSuchFile,
    asyncssh.SFTPNoSuchPath,
    asyncssh.SFTPNotADirectory,
    asyncssh.SFTPFileIsADirectory,
    asyncssh.SFTPInvalidFilename,
    asyncssh.SFTPWriteProtect,
    asyncssh.SFTPOpUnsupported,
    asyncssh.SFTPFileAlreadyExists,
    asyncssh.SFTPOwnerInvalid,
    asyncssh.SFTPGroupInvalid,
    asyncssh.SFTPCannotDelete,
    asyncssh.SFTPLinkLoop,
    asyncssh.SFTPInvalidParameter,
    asyncssh.SFTPUnknownPrincipal,
)
_LOST_SFTP_ERRORS = (asyncssh.SFTPConnectionLost, asyncssh.SFTPNoConnection)
#: Connection-level failures after which a cached connection is replaced.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    *_LOST_SFTP_ERRORS,
    asyncssh.DisconnectError,
    asyncssh.ChannelOpenError,
    ConnectionError,
    BrokenPipeError,
)
_STEP_PHRASES = {
    "write": "cannot write",
    "create directory": "cannot create directory",
    "rename": "cannot rename the upload to",
    "remove": "cannot remove",
}


def failure(
    description: str,
    *,
    retryable: bool,
    remote_code: int | None = None,
    bytes_sent: int = 0,
    error: BaseException | None = None,
) -> DeliveryResult:
    details = {"error": type(error).__name__} if error is not None else {}
    return DeliveryResult(
        succeeded=False,
        retryable=retryable,
        remote_code=remote_code,
        bytes_sent=bytes_sent,
        response_excerpt=description[:EXCERPT_CHARS],
        details=details,
    )


def is_connection_error(error: BaseException) -> bool:
    """Whether ``error`` says the connection itself is gone (not that a request failed)."""
    if isinstance(error, RemoteStepFailed | OpenFailed):
        error = error.__cause__ or error
    return isinstance(error, CONNECTION_ERRORS)


def error_result(
    error: BaseException,
    *,
    account: SftpSettings,
    connect_timeout: float,
    timeout: float,
) -> DeliveryResult:
    """The result of an upload that raised ``error``."""
    target = account.target
    if isinstance(error, OpenFailed):
        cause = error.__cause__ or error
        retryable, description = _describe_opening(error.stage, cause, account, connect_timeout)
        return failure(description, retryable=retryable, error=cause)
    if isinstance(error, RemoteStepFailed):
        cause = error.__cause__ or error
        if isinstance(cause, asyncssh.SFTPError) and not isinstance(cause, _LOST_SFTP_ERRORS):
            phrase = _STEP_PHRASES.get(error.step, error.step)
            reason = _reason(cause)
            return failure(
                f"{phrase} {error.path} on {target}: {reason}",
                retryable=not isinstance(cause, _PERMANENT_SFTP_ERRORS),
                remote_code=cause.code,
                bytes_sent=error.bytes_written,
                error=cause,
            )
        return failure(
            f"connection to {target} was lost during {error.step} of {error.path}",
            retryable=True,
            bytes_sent=error.bytes_written,
            error=cause,
        )
    if isinstance(error, UnsafePath):
        return failure(str(error), retryable=False, error=error)
    if isinstance(error, TimeoutError):
        return failure(
            f"timed out uploading to {target} (after {timeout:g} s)",
            retryable=True,
            error=error,
        )
    if isinstance(error, CONNECTION_ERRORS):
        return failure(f"connection to {target} was lost", retryable=True, error=error)
    return failure(
        f"upload to {target} failed ({type(error).__name__})",
        retryable=True,
        error=error,
    )


def _describe_opening(
    stage: str, cause: BaseException, account: SftpSettings, connect_timeout: float
) -> tuple[bool, str]:
    """Whether to retry, and what went wrong, when a connection could not be opened."""
    target = account.target
    if isinstance(cause, DestinationRefused):
        return False, str(cause)
    if isinstance(cause, asyncssh.HostKeyNotVerifiable):
        return False, (
            f"host key mismatch: {target} presented a host key that is not in known_hosts "
            "(update known_hosts if the server's key really changed)"
        )
    if isinstance(cause, asyncssh.PermissionDenied | asyncssh.IllegalUserName):
        return False, (
            f"login refused: {target} did not accept the credentials for {account.username!r}"
        )
    if isinstance(cause, asyncssh.KeyExchangeFailed | asyncssh.ProtocolNotSupported):
        return False, f"SSH negotiation with {target} failed: {_reason(cause)}"
    if isinstance(cause, TimeoutError):
        doing = "logging in to" if stage == "login" else "connecting to"
        return True, f"timed out {doing} {target} (after {connect_timeout:g} s)"
    if isinstance(cause, socket.gaierror):
        return True, f"DNS lookup for {account.host} failed"
    if isinstance(cause, asyncssh.ChannelOpenError | asyncssh.SFTPError):
        return True, f"{target} did not start an SFTP session: {_reason(cause)}"
    if isinstance(cause, asyncssh.DisconnectError):
        doing = "logging in" if stage == "login" else "connecting"
        return True, f"connection to {target} was lost while {doing}: {_reason(cause)}"
    if isinstance(cause, OSError):
        return True, f"cannot connect to {target}: {_os_reason(cause)}"
    return True, f"cannot connect to {target} ({type(cause).__name__})"


def _reason(error: asyncssh.Error) -> str:
    """The words the server (or asyncssh) gave, or the error's name when there are none."""
    return error.reason.strip() or type(error).__name__


def _os_reason(error: OSError) -> str:
    # Only the error number's text: asyncio's own messages name the address it tried.
    if error.errno:
        return os.strerror(error.errno).lower()
    return type(error).__name__
