"""What an audited recipient change changed, field by field, old -> new, in JSON. Secret
settings are never shown, only what happened to them: "secret `bearer_token` replaced"."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from typing import Any

from backchannel.model import FieldChange, RecipientRecord, RecipientState

#: Kept by the store, not set by callers.
_NOT_COMPARED = frozenset(("id", "revision", "create_time", "update_time", "sealed_secrets"))
#: Compared key by key, so a change names the one setting it touched.
_BY_KEY = frozenset(("transport_settings", "format_options"))


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def recipient_changes(
    before: RecipientRecord | None,
    after: RecipientRecord,
    secrets_written: Iterable[str] = (),
) -> tuple[FieldChange, ...]:
    """The changes from ``before`` (None: a new recipient) to ``after``; a secret counts
    as replaced when its name is among ``secrets_written`` (its value is never read)."""
    changes: list[FieldChange] = []
    for field in dataclasses.fields(RecipientRecord):
        name = field.name
        if name in _NOT_COMPARED:
            continue
        new = getattr(after, name)
        old = getattr(before, name) if before is not None else None
        if name in _BY_KEY:
            changes += _key_changes(name, old or {}, new or {})
        elif old != new and (before is not None or new not in (None, "", (), 0, 0.0, False)):
            changes.append(FieldChange(name, "" if before is None else _json(old), _json(new)))
    changes += _secret_changes(
        before.sealed_secrets.keys() if before is not None else (),
        after.sealed_secrets.keys(),
        secrets_written,
    )
    return tuple(changes)


def _key_changes(name: str, old: dict[str, Any], new: dict[str, Any]) -> list[FieldChange]:
    return [
        FieldChange(
            f"{name}.{key}",
            _json(old[key]) if key in old else "",
            _json(new[key]) if key in new else "",
        )
        for key in sorted(old.keys() | new.keys())
        if old.get(key) != new.get(key) or (key in old) != (key in new)
    ]


def _secret_changes(
    old_names: Iterable[str], new_names: Iterable[str], written: Iterable[str]
) -> list[FieldChange]:
    """What happened to each secret, known by its name only (values stay sealed)."""
    old, new, written = set(old_names), set(new_names), set(written)
    changes = []
    for key in sorted(old | new):
        if key not in old:
            happened = "set"
        elif key not in new:
            happened = "removed"
        elif key in written:
            happened = "replaced"
        else:
            continue
        changes.append(FieldChange(f"secret_settings.{key}", secret=f"secret `{key}` {happened}"))
    return changes


def recipient_action(before: RecipientRecord, after: RecipientRecord) -> str:
    """The audit action of an update: a change of state is named for what it did."""
    if before.state == after.state:
        return "recipient.update"
    return {
        RecipientState.ACTIVE: "recipient.enable",
        RecipientState.PAUSED: "recipient.pause",
        RecipientState.DISABLED: "recipient.disable",
    }[after.state]
