"""Whether an update changes where a recipient points: the settings its transport marks
:class:`~backchannel.plugin.Destination` (all of them, for a transport that marks none),
or the transport itself. The recipient's stored secrets must not follow such a change on
their own (see api.recipient_service, UpdateRecipient)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backchannel.plugin import Transport
from backchannel.plugin._settings import declared_destination

#: Stands for a stored value that could not be read: equal to nothing, so a setting whose
#: old value is unknown counts as changed.
UNREADABLE: Any = object()


def changed_destination(
    before_transport: str,
    after_transport: str,
    transport: Transport[Any] | None,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
) -> list[str]:
    """The destination settings that differ between ``before`` and ``after`` (each the
    recipient's plain and secret settings in one mapping, by name), or ``["transport"]``
    when the transport changes. ``transport``: the (after) transport, None when it is not
    installed, which counts as a change of everything."""
    if before_transport != after_transport:
        return ["transport"]
    if transport is None:
        return sorted({*before, *after})
    model = transport.settings_model
    changed = []
    for name in sorted(declared_destination(model)):
        field = model.model_fields[name]
        default = field.get_default(call_default_factory=True)
        if _given(before, name, default) != _given(after, name, default):
            changed.append(name)
    return changed


def _given(values: Mapping[str, Any], name: str, default: Any) -> Any:
    # A setting given as null is not set, as when settings are read.
    value = values.get(name)
    return default if value is None else value
