"""Opaque cursors and page tokens over event positions."""

from __future__ import annotations

import base64
import hashlib
import json
import re

import grpc

from backchannel.api.errors import ApiError
from backchannel.model import EventPosition

_CURSOR = re.compile(r"^(\d{1,20})-(\d{1,20})$")


def encode_cursor(position: EventPosition) -> str:
    return f"{position.xid}-{position.seq}"


_LIMIT = 2**63


def decode_cursor(cursor: str, field: str) -> EventPosition:
    match = _CURSOR.fullmatch(cursor)
    if match is None or int(match[1]) >= _LIMIT or int(match[2]) >= _LIMIT:
        raise ApiError(
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
            f"{field} is not a cursor returned by this service",
            [(field, "is not a cursor returned by this service")],
        )
    return EventPosition(int(match[1]), int(match[2]))


DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def page_size_of(requested: int) -> int:
    """The page size of a list request (AIP-158): 0 means the default, more than the
    maximum is the maximum, negative is refused."""
    if requested < 0:
        raise ApiError(
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
            "page_size must not be negative",
            [("page_size", "must not be negative")],
        )
    return min(requested or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def _fingerprint(filter_text: str) -> str:
    return hashlib.sha256(filter_text.encode()).hexdigest()[:16]


def encode_page_token(position: EventPosition, filter_text: str) -> str:
    payload = json.dumps({"p": [position.xid, position.seq], "f": _fingerprint(filter_text)})
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_page_token(token: str, filter_text: str) -> EventPosition:
    problem = "is not a page token returned for this filter"
    try:
        padded = token + "=" * (-len(token) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
        xid, seq = (int(v) for v in payload["p"])
        if payload["f"] != _fingerprint(filter_text):
            problem = "was returned for a different filter; start again without a page_token"
            raise ValueError(problem)
        if not (0 <= xid < _LIMIT and 0 <= seq < _LIMIT):
            raise ValueError(problem)
        return EventPosition(xid, seq)
    except (ValueError, KeyError, TypeError) as error:
        raise ApiError(
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
            f"page_token {problem}",
            [("page_token", problem)],
        ) from error


def encode_sequence_token(seq: int, filter_text: str) -> str:
    """A page token after row ``seq`` of a table ordered by a sequence (the audit trail)."""
    return encode_page_token(EventPosition(seq, 0), filter_text)


def decode_sequence_token(token: str, filter_text: str) -> int:
    return decode_page_token(token, filter_text).xid
