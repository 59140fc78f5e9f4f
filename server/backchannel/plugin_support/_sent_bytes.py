"""What a transport put on the wire, counted and hashed as it writes, so that the event of
an attempt describes the bytes a recipient got (a gzipped file, a Teams card, a MIME
message) rather than what the formatter produced."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import replace

from backchannel.plugin import DeliveryResult


class SentBytes:
    """The size and SHA-256 of the bytes a transport sends for the content::

        sent = SentBytes(body)
        ...
        return sent.reported(DeliveryResult(succeeded=True, ...))

    A stream is counted as it is written with :meth:`update` or :meth:`counted`."""

    def __init__(self, data: bytes = b"") -> None:
        self._hash = hashlib.sha256()
        self.size = 0
        self.update(data)

    def update(self, chunk: bytes) -> None:
        self._hash.update(chunk)
        self.size += len(chunk)

    @property
    def sha256(self) -> str:
        """SHA-256 of what was counted so far, lower-case hex."""
        return self._hash.hexdigest()

    async def counted(self, chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
        """``chunks`` passed through unchanged, each counted as it is taken."""
        async for chunk in chunks:
            self.update(chunk)
            yield chunk

    def reported(self, result: DeliveryResult) -> DeliveryResult:
        """``result`` saying these bytes were put on the wire (``bytes_sent`` and
        ``sha256_sent``)."""
        return replace(result, bytes_sent=self.size, sha256_sent=self.sha256)
