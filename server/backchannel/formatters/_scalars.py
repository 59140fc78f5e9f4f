"""Scalars of the feedback document as text, the same way in every format."""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

# A str can hold a lone surrogate (json.loads accepts "\ud800"); UTF-8 cannot encode one.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def scalar_text(value: Any) -> str:
    """A string, number or boolean as text: ``true``/``false``, a Decimal with exactly its
    own digits (``1250.00``), a float in its shortest round-tripping form.

    ``None``, containers and other types are the caller's business; passing one is a bug.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"the feedback document holds a non-finite number: {value!r}")
        return repr(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"the feedback document holds a non-finite number: {value!r}")
        return str(value)
    raise TypeError(f"the feedback document holds a {type(value).__name__}, not a JSON value")


def has_lone_surrogate(text: str) -> bool:
    return _LONE_SURROGATE.search(text) is not None


def encodable_text(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD, so that it encodes as UTF-8."""
    return _LONE_SURROGATE.sub("\ufffd", text)
