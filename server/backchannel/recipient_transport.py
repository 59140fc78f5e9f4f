"""A recipient's transport as the host calls it: the recipient's settings read once per
revision, a failure or a hang made a result, and every answer redacted before anyone sees
it. Deliveries (``PreparedRecipients``) and TestRecipient go through here alike.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from backchannel.plugin import DeliveryResult, OutboundFile, OutboundMessage, ProbeStep, Transport
from backchannel.transport_settings import SettingsRead, read_settings

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class PreparedRecipient:
    """A transport and one recipient's settings, read."""

    transport: Transport[Any]
    read: SettingsRead

    async def send(self, message: OutboundMessage, deadline: float) -> DeliveryResult:
        """One transmission, within ``deadline`` seconds. Settings with problems, a
        transport that raises and one that does not answer in time are failed results;
        every result comes back redacted."""
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
        if settings is None:
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


class PreparedRecipients:
    """One :class:`PreparedRecipient` per recipient revision: every change to a recipient
    bumps its revision, so its settings are read (and its secrets' spellings worked out)
    once per revision, not on every send."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._prepared: OrderedDict[tuple[str, int], PreparedRecipient] = OrderedDict()

    def get(
        self,
        recipient_id: str,
        revision: int,
        transport: Transport[Any],
        settings: Mapping[str, Any],
        secrets: Mapping[str, Any],
    ) -> PreparedRecipient:
        key = (recipient_id, revision)
        prepared = self._prepared.get(key)
        if prepared is None or prepared.transport is not transport:
            prepared = self._prepared[key] = prepare(transport, settings, secrets)
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
