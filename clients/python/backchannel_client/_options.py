"""How a client connects and retries: TLS, the bearer token, deadlines, backoff."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import grpc

#: Where a Backchannel server listens by default.
DEFAULT_TARGET = "127.0.0.1:50051"

#: A bearer token, or a function returning the current one (called before every call).
Token = str | Callable[[], str]
ChannelOptions = Sequence[tuple[str, Any]]

# Codes after which repeating a call is safe and may succeed. SendFeedback is made safe to
# repeat by its request id (AIP-155); reads are safe anyway.
_RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED})
# A stream ends with these when the server shuts down or drops a subscriber that fell
# behind, or when the connection breaks; resuming after the last cursor loses nothing.
# (CANCELLED counts only when the client did not cancel: a proxy or the server did.)
_RESUMABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.CANCELLED,
    }
)


@dataclass(frozen=True)
class RetrySettings:
    """Transparent retries of calls that are safe to repeat (``send_feedback`` with its
    request id, and reads), and reconnection of event streams.

    A call is tried at most ``max_attempts`` times (the first included), on
    ``UNAVAILABLE`` or ``DEADLINE_EXCEEDED`` only, and never once ``total_timeout``
    seconds have passed since the first attempt. The pause before retry *n* is
    ``min(max_backoff, initial_backoff * multiplier ** (n - 1))``, scaled by a random
    factor in ``[1 - jitter, 1 + jitter]``.

    ``follow_events`` reconnects with the same pauses for as long as it keeps failing for
    less than ``stream_reconnect_timeout`` seconds in a row (``None``: forever).
    """

    max_attempts: int = 5
    initial_backoff: float = 0.2
    max_backoff: float = 5.0
    multiplier: float = 2.0
    jitter: float = 0.2
    total_timeout: float = 60.0
    stream_reconnect_timeout: float | None = 300.0

    def __post_init__(self) -> None:
        problems = []
        if self.max_attempts < 1:
            problems.append("max_attempts must be at least 1")
        if self.initial_backoff < 0 or self.max_backoff < 0:
            problems.append("backoffs must not be negative")
        if self.multiplier < 1:
            problems.append("multiplier must be at least 1")
        if not 0 <= self.jitter < 1:
            problems.append("jitter must be in [0, 1)")
        if self.total_timeout <= 0:
            problems.append("total_timeout must be positive")
        if self.stream_reconnect_timeout is not None and self.stream_reconnect_timeout < 0:
            problems.append("stream_reconnect_timeout must not be negative")
        if problems:
            raise ValueError("; ".join(problems))

    @classmethod
    def disabled(cls) -> RetrySettings:
        """One attempt per call; streams still reconnect."""
        return cls(max_attempts=1)

    def backoffs(self) -> Iterator[float]:
        """The pauses before each retry, without end (callers bound the attempts)."""
        base = self.initial_backoff
        while True:
            yield min(self.max_backoff, base) * random.uniform(1 - self.jitter, 1 + self.jitter)
            base *= self.multiplier


def is_retryable(code: grpc.StatusCode) -> bool:
    return code in _RETRYABLE


def is_resumable(code: grpc.StatusCode, details: str | None) -> bool:
    # An HTTP/2 stream reset by a proxy (an idle timeout...) surfaces as INTERNAL.
    return code in _RESUMABLE or (
        code == grpc.StatusCode.INTERNAL and "RST_STREAM" in (details or "")
    )


def secure_credentials(
    tls: bool,
    root_certificates: bytes | None,
    credentials: grpc.ChannelCredentials | None,
    certificate_chain: bytes | None = None,
    private_key: bytes | None = None,
) -> grpc.ChannelCredentials | None:
    """The credentials of a secure channel, or None for plaintext. A client certificate
    (``certificate_chain`` with its ``private_key``, PEM) is presented to servers that
    ask for one (mTLS); giving either implies TLS."""
    if (certificate_chain is None) != (private_key is None):
        raise ValueError("a client certificate needs both certificate_chain and private_key")
    if credentials is not None:
        if certificate_chain is not None or root_certificates is not None:
            raise ValueError(
                "give channel_credentials, or root_certificates/certificate_chain/private_key"
            )
        return credentials
    if tls or root_certificates is not None or certificate_chain is not None:
        return grpc.ssl_channel_credentials(
            root_certificates=root_certificates,
            private_key=private_key,
            certificate_chain=certificate_chain,
        )
    return None


def call_metadata(token: Token | None) -> tuple[tuple[str, str], ...]:
    """The metadata sent with every call: the bearer token, when one is set."""
    if token is None:
        return ()
    value = token() if callable(token) else token
    return (("authorization", f"Bearer {value}"),)
