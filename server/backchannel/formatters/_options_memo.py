"""Reading a recipient's format options once per revision instead of on every render."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

T = TypeVar("T")
Settings = Mapping[str, Any]


class OptionsMemo(Generic[T]):
    """What ``read(options, same_options)`` made of a recipient's format options, kept by
    the identity of the mappings: the delivery engine renders every delivery to one
    revision of a recipient with the same read-only options mapping (one record per
    revision, see ``store.deliveries.RecipientRevisions``), so the built-in formatters read
    them once per revision. The mappings are kept with what was read, so an id is never
    taken for another object's. At most ``size`` revisions are kept. This is the host's
    own arrangement with its built-in formatters, not a promise to plugins."""

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
