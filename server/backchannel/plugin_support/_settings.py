"""Checks every transport makes on a recipient's settings, with the same wording everywhere.

Problems are named by their path in the recipient (``transport_settings.port``,
``secret_settings.password``), as :class:`~backchannel.plugin.FieldProblem` expects.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import Any

from backchannel.plugin import FieldProblem

#: Where plain settings are given in a recipient.
PLAIN = "transport_settings"
#: Where secret settings are given in a recipient.
SECRET = "secret_settings"


def setting_name_problems(
    settings: Mapping[str, Any],
    secrets: Mapping[str, Any],
    *,
    plain_names: Collection[str],
    secret_names: Collection[str],
    unknown: str,
) -> list[FieldProblem]:
    """A problem for each setting given where it does not belong: a secret among the plain
    settings, a plain one among the secrets, or a name the transport does not know.

    ``unknown`` says what an unknown name is not, e.g. ``"an sftp setting"``; the known names
    of that side follow it.
    """
    problems: list[FieldProblem] = []
    for where, given, known, elsewhere, belongs_elsewhere in (
        (PLAIN, settings, plain_names, SECRET, secret_names),
        (SECRET, secrets, secret_names, PLAIN, plain_names),
    ):
        for name in given:
            if name in known:
                continue
            if name in belongs_elsewhere:
                kind = "secret" if where == PLAIN else "not secret"
                description = f"is {kind}: give it in {elsewhere}"
                problems.append(FieldProblem(f"{where}.{name}", description))
            else:
                known_names = ", ".join(sorted(known))
                problems.append(
                    FieldProblem(f"{where}.{name}", f"is not {unknown} (known: {known_names})")
                )
    return problems


def positive_number(
    settings: Mapping[str, Any],
    name: str,
    maximum: float,
    problems: list[FieldProblem],
    *,
    what: str = "a number of seconds",
) -> float | None:
    """The plain setting ``name`` as a float above 0 and at most ``maximum`` (a timeout, a
    rate), or None when it is not given. A value that is not such a number (a bool, text,
    NaN, infinity, 0 or less, above ``maximum``) adds a problem to ``problems`` and gives
    None; ``what`` names the number in it."""
    value = settings.get(name)
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 < value <= maximum
    ):
        problems.append(
            FieldProblem(f"{PLAIN}.{name}", f"must be {what} above 0, at most {maximum:g}")
        )
        return None
    return float(value)
