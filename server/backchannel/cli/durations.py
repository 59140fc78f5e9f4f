"""Durations as people type them on a command line: ``90m``, ``1h``, ``2d``, ``1h30m``,
``2w`` (units s, m, h, d, w)."""

from __future__ import annotations

import re
from datetime import timedelta

_PART = re.compile(r"(\d+)\s*([smhdw])")
_WHOLE = re.compile(r"(?:\d+\s*[smhdw]\s*)+")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
EXAMPLES = "30m, 1h, 2d, 1h30m"


def parse_duration(text: str) -> timedelta | None:
    """The duration ``text`` says, or None when it is not one."""
    cleaned = text.strip().lower()
    if not _WHOLE.fullmatch(cleaned):
        return None
    return timedelta(seconds=sum(int(n) * _UNITS[unit] for n, unit in _PART.findall(cleaned)))
