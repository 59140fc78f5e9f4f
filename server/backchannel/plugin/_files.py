"""A file a transport is asked to carry: a batch file, streamed from the host's spool.

A transport that carries files overrides :meth:`Transport.send_file`; the host asks
``supports_files()`` when a batch recipient is saved and refuses a transport that does not.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class CompanionFile:
    """A small file that goes with the data file, written after it: a manifest, and last an
    empty ``.done`` marker that tells the reader the data file is complete."""

    name: str
    content: bytes
    content_type: str


@dataclass(frozen=True)
class OutboundFile:
    """One file transmission. Every attempt of one batch carries the same ``batch_id``,
    ``name`` and bytes (``size`` and ``sha256`` describe exactly them): the recipient's
    idempotency identity is the batch id, or the file name."""

    batch_id: str
    recipient_id: str
    #: The attempt number, from 1.
    attempt: int
    #: A plain file name: no directory, no ``/``, no ``..``.
    name: str
    content_type: str
    size: int
    #: SHA-256 of the bytes, lower-case hex.
    sha256: str
    #: Each call starts a new stream of the file's bytes from the beginning, in chunks of
    #: at most a few megabytes: the file is never in memory whole.
    open: Callable[[], AsyncIterator[bytes]]
    #: Written after the file, in this order.
    companions: tuple[CompanionFile, ...] = ()
    #: Feedback items in the file.
    item_count: int = 0
    #: When above 0: the recipient takes at most this many bytes per transmission and
    #: accepts the file in numbered parts (only transports with ``splits_files``).
    part_size: int = 0
    #: W3C trace context of the attempt.
    traceparent: str | None = None
    #: The file is a message to be read (a summary report), titled ``title``: a transport
    #: that can show it shows it rather than attaching it (email: an HTML file as the
    #: body, with its ``text/plain`` companion as the plain-text alternative). Others
    #: carry it like any file.
    inline: bool = False
    title: str = ""

    async def read_all(self) -> bytes:
        """The whole file (for tests and small files only)."""
        return b"".join([chunk async for chunk in self.open()])
