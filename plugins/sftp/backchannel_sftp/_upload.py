"""Putting one file in place so that a reader never sees half of it.

The bytes go to a temporary name in the target directory (``.<name>.<random>.part``), which
is then renamed to the final name. With the ``posix-rename@openssh.com`` extension the
rename replaces an existing file atomically; a server without it gets a plain SFTP rename,
and when that refuses because the final name exists, the old file is removed first (for a
moment there is no file, but never a partial one).
"""

from __future__ import annotations

import contextlib
import posixpath
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Final

import asyncssh

#: What an upload writes: the bytes, or a function that starts a stream of them (called
#: again if the write is tried again after making directories).
Payload = bytes | Callable[[], AsyncIterator[bytes]]

TEMPORARY_SUFFIX: Final = ".part"
_EXISTS_ERRORS = (asyncssh.SFTPFailure, asyncssh.SFTPFileAlreadyExists)


class RemoteStepFailed(Exception):
    """The server refused one step of an upload; the SFTP error is ``__cause__``."""

    def __init__(self, step: str, path: str, *, bytes_written: int = 0) -> None:
        super().__init__(f"{step} {path}")
        self.step = step
        self.path = path
        self.bytes_written = bytes_written


def temporary_name(path: str) -> str:
    """Where ``path``'s bytes go before they are renamed into place: a hidden name next to it."""
    directory, name = posixpath.split(path)
    return posixpath.join(directory, f".{name}.{secrets.token_hex(6)}{TEMPORARY_SUFFIX}")


async def upload_atomically(
    sftp: asyncssh.SFTPClient, path: str, payload: Payload, *, rename_strategy: str
) -> str:
    """Writes ``payload`` (bytes, or a function starting a stream of chunks) to ``path``
    through a temporary name, creating missing directories. Returns the rename strategy
    that was used; raises :class:`RemoteStepFailed`."""
    temporary = temporary_name(path)
    try:
        try:
            await _write(sftp, temporary, payload)
        except asyncssh.SFTPNoSuchFile:
            # Directories are made only when missing: one round trip less per file otherwise.
            await make_directories(sftp, posixpath.dirname(path))
            await _write(sftp, temporary, payload)
    except asyncssh.SFTPError as error:
        if not _is_connection_error(error):
            await _remove_quietly(sftp, temporary)
        # Named by the final path: the temporary name means nothing to whoever reads this.
        raise RemoteStepFailed("write", path) from error
    try:
        return await _rename_into_place(sftp, temporary, path, rename_strategy)
    except asyncssh.SFTPError as error:
        if not _is_connection_error(error):
            await _remove_quietly(sftp, temporary)
        written = len(payload) if isinstance(payload, bytes) else 0
        raise RemoteStepFailed("rename", path, bytes_written=written) from error


async def make_directories(sftp: asyncssh.SFTPClient, directory: str) -> None:
    """Creates ``directory`` and any missing parents, from the deepest one that exists."""
    missing: list[str] = []
    current = directory
    while current not in ("", ".", "/") and not await sftp.isdir(current):
        missing.append(current)
        current = posixpath.dirname(current)
    for path in reversed(missing):
        try:
            await sftp.mkdir(path)
        except asyncssh.SFTPError as error:
            # Another upload may have made it meanwhile; only a directory that is still not
            # there is a failure.
            if _is_connection_error(error):
                raise RemoteStepFailed("create directory", path) from error
            if await sftp.isdir(path):
                continue
            if await sftp.exists(path):
                # SFTP v3 servers answer a generic failure here; the cause is permanent.
                cause = asyncssh.SFTPNotADirectory("a file is in the way")
                raise RemoteStepFailed("create directory", path) from cause
            raise RemoteStepFailed("create directory", path) from error


async def remove(sftp: asyncssh.SFTPClient, path: str) -> None:
    try:
        await sftp.remove(path)
    except asyncssh.SFTPError as error:
        raise RemoteStepFailed("remove", path) from error


async def _write(sftp: asyncssh.SFTPClient, path: str, payload: Payload) -> None:
    # "x": the temporary name is new; never write into a file that is already there.
    async with sftp.open(path, "xb") as remote_file:
        if isinstance(payload, bytes):
            await remote_file.write(payload)
            return
        offset = 0
        async for chunk in payload():
            await remote_file.write(chunk, offset)
            offset += len(chunk)


async def _rename_into_place(
    sftp: asyncssh.SFTPClient, temporary: str, path: str, strategy: str
) -> str:
    if strategy == "posix-rename":
        try:
            await sftp.posix_rename(temporary, path)
        except asyncssh.SFTPOpUnsupported:
            pass
        else:
            return "posix-rename"
    try:
        await sftp.rename(temporary, path)
    except _EXISTS_ERRORS:
        if not await sftp.exists(path):
            raise
        await sftp.remove(path)
        await sftp.rename(temporary, path)
    return "rename"


async def _remove_quietly(sftp: asyncssh.SFTPClient, path: str) -> None:
    """Best effort: a leftover temporary file is hidden and harmless, just untidy."""
    with contextlib.suppress(asyncssh.SFTPError):
        await sftp.remove(path)


def _is_connection_error(error: asyncssh.SFTPError) -> bool:
    return isinstance(error, asyncssh.SFTPConnectionLost | asyncssh.SFTPNoConnection)
