"""Who asks for an operator's action (retry, resend, recover, run or retry a batch): with
authentication on, the caller's identity, and what it typed as ``requested_by`` only as a
note in the audit record; with it off, the ``requested_by`` given, which is then required."""

from __future__ import annotations

from backchannel.api.caller import current_caller
from backchannel.api.errors import Violations


def check_requested_by(requested_by: str, v: Violations) -> None:
    if not requested_by.strip() and not current_caller().authenticated:
        v.add("requested_by", "is required: who asks (a person or a system)")
    elif len(requested_by) > 200:
        v.add("requested_by", "must be at most 200 characters")


def requested_by(typed: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """Who asks, as recorded on the attempts, and the audit details: the authenticated
    identity (with what was typed as a note), else what was typed."""
    caller = current_caller()
    if not caller.authenticated:
        return typed, ()
    return caller.identity, ((("requested_by_note", typed),) if typed.strip() else ())
