"""Reading a recipient's settings once per revision instead of on every send."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

T = TypeVar("T")
Settings = Mapping[str, Any]


class SettingsMemo(Generic[T]):
    """What ``read(settings, secrets)`` made of a recipient's settings, kept by the
    identity of the two mappings: the host passes the same read-only mappings to every
    message for one revision of a recipient (see ``OutboundMessage.settings``), so a
    transport reads them once per revision. The mappings are kept with what was read, so
    an id is never taken for another object's. At most ``size`` revisions are kept."""

    def __init__(self, read: Callable[[Settings, Settings], T], size: int = 1024) -> None:
        self._read = read
        self._size = size
        self._entries: dict[tuple[int, int], tuple[Settings, Settings, T]] = {}

    def __call__(self, settings: Settings, secrets: Settings) -> T:
        key = (id(settings), id(secrets))
        entry = self._entries.get(key)
        if entry is not None and entry[0] is settings and entry[1] is secrets:
            return entry[2]
        value = self._read(settings, secrets)
        if len(self._entries) >= self._size:
            self._entries.clear()
        self._entries[key] = (settings, secrets, value)
        return value
