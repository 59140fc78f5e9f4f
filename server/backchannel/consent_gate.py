"""The consent gate: feedback goes to a recipient only if it grants every consent purpose
the recipient requires. A purpose denied, unknown or not stated is missing; a delivery
with a purpose missing ends suppressed, its event naming the purposes (never a silent
drop)."""

from __future__ import annotations

from collections.abc import Iterable

from backchannel_client.v1 import feedback_pb2


def missing_purposes(required: Iterable[str], feedback: feedback_pb2.Feedback) -> tuple[str, ...]:
    """The purposes of ``required`` that ``feedback`` does not grant, in ``required``'s
    order."""
    granted = {
        p.purpose
        for p in feedback.consent_purposes
        if p.state == feedback_pb2.CONSENT_STATE_GRANTED
    }
    return tuple(purpose for purpose in required if purpose not in granted)
