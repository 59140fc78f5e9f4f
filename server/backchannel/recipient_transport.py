"""A recipient's transport as the host calls it: the recipient's secrets opened and its
settings read once per revision, a failure or a hang made a result, and every answer
redacted before anyone sees it. Deliveries (``PreparedRecipients``) and TestRecipient go
through here alike. Secrets that do not open (sealed under a key this process lacks, or
altered) make every send a failed, retryable result: nothing is sent with them.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from backchannel.model import RecipientRecord
from backchannel.plugin import DeliveryResult, OutboundFile, OutboundMessage, ProbeStep, Transport
from backchannel.redaction import Redactor
from backchannel.sealing.key_ring import KeyRing
from backchannel.sealing.sealed_values import SecretsUnreadable, open_secrets
from backchannel.transport_settings import SettingsRead, read_settings

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class PreparedRecipient:
    """A transport and one recipient's settings, read."""

    transport: Transport[Any]
    read: SettingsRead
    #: Why the recipient's stored secrets cannot be opened, if they cannot.
    unreadable_secrets: str | None = None

    async def send(self, message: OutboundMessage, deadline: float) -> DeliveryResult:
        """One transmission, within ``deadline`` seconds. Secrets that do not open,
        settings with problems, a transport that raises and one that does not answer in
        time are failed results; every result comes back redacted."""
        return await self._transmit(
            lambda settings: self.transport.send(message, settings), deadline
        )

    async def send_file(self, file: OutboundFile, deadline: float) -> DeliveryResult:
        """One file transmission, under the same rules as :meth:`send`."""
        return await self._transmit(
            lambda settings: self.transport.send_file(file, settings), deadline
        )

    async def _transmit(
        self, call: Callable[[Any], Awaitable[DeliveryResult]], deadline: float
    ) -> DeliveryResult:
        settings = self.read.settings
        if self.unreadable_secrets is not None:
            # Retryable: configuring the key the secrets were sealed with cures it.
            result = DeliveryResult(
                succeeded=False,
                retryable=True,
                response_excerpt=f"not sent: {self.unreadable_secrets}",
            )
        elif settings is None:
            # Settings stored before the transport's rules tightened: no retry cures that.
            result = DeliveryResult(
                succeeded=False,
                response_excerpt=f"invalid settings: {self.read.describe_problems()}",
            )
        else:
            result = await _within(
                call(settings),
                deadline,
                DeliveryResult(
                    succeeded=False,
                    retryable=True,
                    response_excerpt="no answer before the deadline",
                ),
                lambda error: DeliveryResult(
                    succeeded=False,
                    retryable=True,
                    response_excerpt=f"transport error ({type(error).__name__})",
                ),
            )
        return self.read.redactor.result(result)

    async def probe(self, deadline: float) -> list[ProbeStep]:
        """The host's ``settings`` step, then the transport's own checks within
        ``deadline`` seconds, redacted; it stops at the first failed step."""
        settings = self.read.settings
        if self.unreadable_secrets is not None:
            detail = f"the secret settings cannot be read: {self.unreadable_secrets}"
            return self.read.redactor.steps([ProbeStep("secrets", False, detail)])
        if settings is None:
            detail = f"the settings are not usable: {self.read.describe_problems()}"
            return self.read.redactor.steps([ProbeStep("settings", False, detail)])
        steps = [ProbeStep("settings", True, "the settings are complete and valid")]
        steps += await _within(
            self.transport.probe(settings),
            deadline,
            [ProbeStep("deadline", False, f"no result within {deadline:g} s")],
            lambda error: [ProbeStep("probe", False, f"transport error ({type(error).__name__})")],
        )
        return self.read.redactor.steps(steps)


def prepare(
    transport: Transport[Any], settings: Mapping[str, Any], secrets: Mapping[str, Any]
) -> PreparedRecipient:
    """``transport`` with a recipient's ``settings`` and ``secrets`` read."""
    return PreparedRecipient(transport, read_settings(transport, settings, secrets))


def prepare_stored(
    transport: Transport[Any], recipient: RecipientRecord, ring: KeyRing
) -> PreparedRecipient:
    """``transport`` with a stored recipient's settings read and its secrets opened."""
    try:
        secrets = open_secrets(ring, recipient.id, recipient.sealed_secrets)
    except SecretsUnreadable as error:
        log.error("%s", error)
        unread = SettingsRead(None, (), Redactor.for_settings(recipient.transport_settings, {}))
        return PreparedRecipient(transport, unread, unreadable_secrets=str(error))
    return prepare(transport, recipient.transport_settings, secrets)


class PreparedRecipients:
    """One :class:`PreparedRecipient` per recipient revision: every change to a recipient
    bumps its revision, so its secrets are opened and its settings read (and its secrets'
    spellings worked out) once per revision, not on every send."""

    def __init__(self, ring: KeyRing, size: int = 4096) -> None:
        self._ring = ring
        self._size = size
        self._prepared: OrderedDict[tuple[str, int], PreparedRecipient] = OrderedDict()

    @property
    def ring(self) -> KeyRing:
        """The keys recipients' secrets, and feedback subjects, are sealed under."""
        return self._ring

    def get(self, recipient: RecipientRecord, transport: Transport[Any]) -> PreparedRecipient:
        key = (recipient.id, recipient.revision)
        prepared = self._prepared.get(key)
        if prepared is None or prepared.transport is not transport:
            prepared = self._prepared[key] = prepare_stored(transport, recipient, self._ring)
            if len(self._prepared) > self._size:
                self._prepared.popitem(last=False)
        else:
            self._prepared.move_to_end(key)
        return prepared


async def _within(
    call: Awaitable[T], deadline: float, on_timeout: T, on_error: Callable[[Exception], T]
) -> T:
    """What ``call`` returns within ``deadline`` seconds, ``on_timeout`` when it does not
    finish in time, or ``on_error(error)`` when it raises: a transport should return its
    failures, and its exception's message may hold a secret, so only its type is kept."""
    try:
        async with asyncio.timeout(deadline):
            return await call
    except TimeoutError:
        return on_timeout
    except Exception as error:
        log.warning("transport raised %s", type(error).__name__)
        return on_error(error)
