"""The ``sftp`` transport: one file per attempt, uploaded over a pooled SSH connection."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
import posixpath
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from functools import partial
from secrets import token_hex

import asyncssh

from backchannel.plugin import (
    DeliveryResult,
    OutboundFile,
    OutboundMessage,
    ProbeStep,
    Transport,
    TransportContext,
)
from backchannel.plugin_support import SentBytes, connection_facts, with_facts

from ._filename import UnsafePath, placeholder_values, render_path
from ._outcome import error_result, is_connection_error
from ._pool import ConnectionPool
from ._session import OpenFailed, open_session
from ._settings import SftpSettings
from ._upload import Payload, RemoteStepFailed, remove, upload_atomically

logger = logging.getLogger(__name__)

#: Bodies above this size are compressed off the event loop.
_COMPRESS_IN_THREAD_BYTES = 256 * 1024
#: Seconds a probe waits for its own connection to close.
_PROBE_CLOSE_SECONDS = 2.0
PROBE_BODY = b"Backchannel probe: this file checks that uploads work and is removed at once.\n"

_UPLOAD_ERRORS = (UnsafePath, OpenFailed, RemoteStepFailed, TimeoutError, OSError, asyncssh.Error)


class SftpTransport(Transport[SftpSettings]):
    """Uploads rendered feedback as files to a recipient's SFTP server, host key pinned."""

    name = "sftp"
    settings_model = SftpSettings

    def __init__(self, *, idle_timeout: float = 30.0, max_uploads_per_connection: int = 4) -> None:
        """``idle_timeout``: seconds an unused connection stays open for the next delivery.
        ``max_uploads_per_connection``: uploads that share one connection at a time."""
        self._idle_timeout = idle_timeout
        self._max_uploads_per_connection = max_uploads_per_connection
        self._pool: ConnectionPool | None = None

    async def start(self, context: TransportContext) -> None:
        if self._pool is not None:
            raise RuntimeError("the sftp transport is already started")
        await super().start(context)
        self._pool = ConnectionPool(
            idle_timeout=self._idle_timeout,
            max_uploads_per_connection=self._max_uploads_per_connection,
        )

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.aclose()

    async def send(self, message: OutboundMessage, settings: SftpSettings) -> DeliveryResult:
        pool = self._pool
        if pool is None:
            raise RuntimeError("the sftp transport is not started")
        connect_timeout = settings.connect_timeout_seconds or self.context.connect_timeout
        timeout = settings.timeout_seconds or self.context.total_timeout
        payload = b""
        try:
            path = remote_path(settings, message)
            payload = await _payload(message.content.body, compress=settings.gzip)
            async with asyncio.timeout(timeout):
                rename = await self._upload(pool, settings, path, payload, connect_timeout)
        except _UPLOAD_ERRORS as error:
            failed = error_result(
                error, account=settings, connect_timeout=connect_timeout, timeout=timeout
            )
            if failed.bytes_sent == len(payload) > 0:
                # Written whole to the temporary name; a later step failed.
                failed = SentBytes(payload).reported(failed)
            return with_facts(
                failed, connection_facts("sftp", settings.host, settings.port, error=error)
            )
        uploaded = f"uploaded {len(payload)} bytes to {path} on {settings.target}"
        # The file as written (gzipped when asked), not the formatter's content.
        return SentBytes(payload).reported(
            DeliveryResult(
                succeeded=True,
                remote_id=path,
                response_excerpt=uploaded,
                details={
                    "rename": rename,
                    **connection_facts("sftp", settings.host, settings.port),
                },
            )
        )

    async def send_file(self, file: OutboundFile, settings: SftpSettings) -> DeliveryResult:
        """Uploads a batch file into ``directory`` under its own name (through a temporary
        name, renamed into place), then its companions in order (the ``.done`` marker
        last). A retry writes the same name again, replacing what a failed attempt left."""
        pool = self._pool
        if pool is None:
            raise RuntimeError("the sftp transport is not started")
        connect_timeout = settings.connect_timeout_seconds or self.context.connect_timeout
        # A large file takes longer: its own timeout plus a second per megabyte.
        timeout = (settings.timeout_seconds or self.context.total_timeout) + file.size / 1e6
        path = _join(settings.directory, file.name)
        stream = _CountedStream(file)
        try:
            async with asyncio.timeout(timeout):
                rename = await self._upload(pool, settings, path, stream, connect_timeout)
                for companion in file.companions:
                    await self._upload(
                        pool,
                        settings,
                        _join(settings.directory, companion.name),
                        companion.content,
                        connect_timeout,
                    )
        except _UPLOAD_ERRORS as error:
            return error_result(
                error, account=settings, connect_timeout=connect_timeout, timeout=timeout
            )
        written = ", ".join(c.name for c in file.companions)
        return stream.sent.reported(
            DeliveryResult(
                succeeded=True,
                remote_id=path,
                response_excerpt=f"uploaded {stream.sent.size} bytes to {path} on "
                f"{settings.target}" + (f", then {written}" if written else ""),
                details={"rename": rename},
            )
        )

    async def probe(self, settings: SftpSettings) -> list[ProbeStep]:
        """Connects on a connection of its own, logs in, writes a small file into
        ``directory`` (the way deliveries are written) and removes it."""
        steps: list[ProbeStep] = []
        connect_timeout = settings.connect_timeout_seconds or self.context.connect_timeout
        timeout = settings.timeout_seconds or self.context.total_timeout
        describe = partial(
            error_result, account=settings, connect_timeout=connect_timeout, timeout=timeout
        )
        connected = ProbeStep(
            "connect", True, f"connected to {settings.target}; its host key is in known_hosts"
        )
        try:
            async with asyncio.timeout(timeout):
                session = await open_session(
                    settings,
                    connect_timeout=connect_timeout,
                    context=self.context,
                )
        except (OpenFailed, TimeoutError) as error:
            stage = error.stage if isinstance(error, OpenFailed) else "connect"
            if stage == "login":
                steps.append(connected)
            steps.append(ProbeStep(stage, False, describe(error).response_excerpt))
            return steps
        steps.append(connected)
        steps.append(
            ProbeStep("login", True, f"logged in as {settings.username!r}; SFTP session started")
        )
        probe_path = _join(settings.directory, f"backchannel-probe-{token_hex(6)}.txt")
        try:
            try:
                async with asyncio.timeout(timeout):
                    await upload_atomically(
                        session.sftp,
                        probe_path,
                        PROBE_BODY,
                        rename_strategy=settings.rename_strategy,
                    )
            except _UPLOAD_ERRORS as error:
                steps.append(ProbeStep("write", False, describe(error).response_excerpt))
                return steps
            steps.append(ProbeStep("write", True, f"wrote {probe_path} ({len(PROBE_BODY)} bytes)"))
            try:
                async with asyncio.timeout(timeout):
                    await remove(session.sftp, probe_path)
            except _UPLOAD_ERRORS as error:
                steps.append(ProbeStep("remove", False, describe(error).response_excerpt))
                return steps
            steps.append(ProbeStep("remove", True, f"removed {probe_path}"))
            return steps
        finally:
            session.close()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(session.wait_closed(), _PROBE_CLOSE_SECONDS)

    async def _upload(
        self,
        pool: ConnectionPool,
        settings: SftpSettings,
        path: str,
        payload: Payload,
        connect_timeout: float,
    ) -> str:
        """Uploads on a pooled connection; a cached connection found dead is replaced and the
        upload made once more on a fresh one. Returns the rename strategy used."""
        opener = partial(
            open_session,
            settings,
            connect_timeout=connect_timeout,
            context=self.context,
        )
        for attempt in (1, 2):
            pooled, reused = await pool.acquire(settings.pool_key, opener)
            try:
                rename = await upload_atomically(
                    pooled.session.sftp, path, payload, rename_strategy=settings.rename_strategy
                )
            except BaseException as error:
                # A refused request leaves the connection usable; anything else (a lost
                # connection, a timeout in the middle of a request) does not.
                lost = is_connection_error(error)
                pool.release(pooled, broken=lost or not isinstance(error, RemoteStepFailed))
                if lost and reused and attempt == 1:
                    logger.info(
                        "cached SSH connection to %s was dead; reconnecting", settings.target
                    )
                    continue
                raise
            pool.release(pooled)
            return rename
        raise AssertionError("unreachable: the second attempt returns or raises")


class _CountedStream:
    """A batch file's stream for an upload, counted as it is written: the count of the
    last time the upload started it (an upload starts it again after making
    directories, or on a fresh connection)."""

    def __init__(self, file: OutboundFile) -> None:
        self._file = file
        self.sent = SentBytes()

    def __call__(self) -> AsyncIterator[bytes]:
        self.sent = SentBytes()
        return self.sent.counted(self._file.open())


def remote_path(settings: SftpSettings, message: OutboundMessage) -> str:
    """The final remote path of ``message``'s file; raises :class:`UnsafePath`."""
    values = placeholder_values(
        document=message.document,
        feedback_id=message.feedback_id,
        delivery_id=message.delivery_id,
        attempt=message.attempt,
        file_extension=message.content.file_extension,
        gzip=settings.gzip,
        now=datetime.now(UTC),
    )
    return _join(settings.directory, render_path(settings.filename_template, values))


def _join(directory: str, relative: str) -> str:
    return relative if directory == "." else posixpath.join(directory, relative)


async def _payload(body: bytes, *, compress: bool) -> bytes:
    if not compress:
        return body
    # mtime=0: the same body always compresses to the same bytes.
    if len(body) < _COMPRESS_IN_THREAD_BYTES:
        return gzip.compress(body, mtime=0)
    return await asyncio.to_thread(gzip.compress, body, mtime=0)
