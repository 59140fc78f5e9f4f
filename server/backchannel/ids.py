"""Identifiers: a prefix and 26 characters of Crockford base32 (48-bit millisecond time,
80 random bits), so ids sort roughly by creation time and never collide in practice; and
the id of this process as a worker."""

from __future__ import annotations

import os
import socket
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
# Two digits per 10 bits: 13 lookups write the 26 digits of 130 bits, most significant
# first (half the time of 26 divisions).
_DIGIT_PAIRS = tuple(high + low for high in _ALPHABET for low in _ALPHABET)
_SHIFTS = tuple(range(120, -1, -10))


def new_id(prefix: str) -> str:
    value = (int(time.time() * 1000) << 80) | int.from_bytes(os.urandom(10), "big")
    return f"{prefix}_{''.join([_DIGIT_PAIRS[(value >> shift) & 1023] for shift in _SHIFTS])}"


def worker_id() -> str:
    """This process as a worker: ``host:pid``. Events name the process that made each
    attempt with it, and each process reports its metrics under it."""
    return f"{socket.gethostname()}:{os.getpid()}"
