"""The stages a batch file's bytes pass on their way into the spool: compression (gzip or
zip, both streamed), then encryption (``openpgp``), then the spool itself, which counts
the bytes and their SHA-256 as they are written (the file's size and digest are those of
exactly the bytes every attempt sends)."""

from __future__ import annotations

import hashlib
import io
import zipfile
import zlib
from datetime import datetime

import asyncpg

from backchannel.store import spool

#: Bytes gathered before one write into the spool.
SPOOL_WRITE_BYTES = 1024 * 1024


class SpoolWriter:
    """Appends to one large object, a megabyte at a time."""

    def __init__(self, pool: asyncpg.Pool, oid: int) -> None:
        self._pool = pool
        self.oid = oid
        self.size = 0
        self._digest = hashlib.sha256()
        self._pending: list[bytes] = []
        self._pending_size = 0

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    async def write(self, data: bytes) -> None:
        if not data:
            return
        self._digest.update(data)
        self._pending.append(data)
        self._pending_size += len(data)
        if self._pending_size >= SPOOL_WRITE_BYTES:
            await self._flush()

    async def _flush(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        self._pending_size = 0
        await spool.append(self._pool, self.oid, self.size, data)
        self.size += len(data)

    async def close(self) -> None:
        await self._flush()


class Compressor:
    """No compression: bytes pass as they are."""

    def feed(self, data: bytes) -> bytes:
        return data

    def finish(self) -> bytes:
        return b""


class GzipCompressor(Compressor):
    """gzip with a fixed header (no name, no time): the same file compresses the same."""

    def __init__(self) -> None:
        self._deflate = zlib.compressobj(6, zlib.DEFLATED, 31)

    def feed(self, data: bytes) -> bytes:
        return self._deflate.compress(data) if data else b""

    def finish(self) -> bytes:
        return self._deflate.flush()


class _Collected(io.RawIOBase):
    """A write-only, unseekable stream zipfile writes into (so it streams, with data
    descriptors), drained after every write."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._parts.append(bytes(data))
        return len(data)

    def drain(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


class ZipCompressor(Compressor):
    """A zip archive holding the one file, its entry dated ``when`` (the batch's period end)."""

    def __init__(self, inner_name: str, when: datetime) -> None:
        self._out = _Collected()
        self._archive = zipfile.ZipFile(self._out, "w", zipfile.ZIP_DEFLATED)
        entry = zipfile.ZipInfo(inner_name, date_time=_zip_time(when))
        entry.compress_type = zipfile.ZIP_DEFLATED
        self._entry = self._archive.open(entry, "w", force_zip64=True)

    def feed(self, data: bytes) -> bytes:
        if data:
            self._entry.write(data)
        return self._out.drain()

    def finish(self) -> bytes:
        self._entry.close()
        self._archive.close()
        return self._out.drain()


def _zip_time(when: datetime) -> tuple[int, int, int, int, int, int]:
    year = min(max(when.year, 1980), 2107)
    return (year, when.month, when.day, when.hour, when.minute, when.second)


def compressor_for(compression: str, inner_name: str, when: datetime) -> Compressor:
    if compression == "gzip":
        return GzipCompressor()
    if compression == "zip":
        return ZipCompressor(inner_name, when)
    return Compressor()
