"""Batch file names: a template of tokens, checked when the recipient is saved (a name that
could leave its folder is refused then, never at send time), filled in for each batch.

Tokens: ``{recipient_id}``, ``{sequence}`` (a number: ``{sequence:06d}``), ``{period_start}``,
``{period_end}`` and ``{run_time}`` (times in the schedule's zone, with a strftime format:
``{run_time:%Y%m%dT%H%M}``; without one, ``%Y%m%dT%H%M%S``) and ``{ext}``, the extension chain
(``csv``, ``csv.gz``, ``xlsx.zip.pgp``...).
"""

from __future__ import annotations

import re
import string
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

TOKENS = ("recipient_id", "sequence", "period_start", "period_end", "run_time", "ext")
_TIMES = ("period_start", "period_end", "run_time")
DEFAULT_TIME_FORMAT = "%Y%m%dT%H%M%S"
MAX_NAME_CHARS = 200
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")
#: What a filled-in name may hold: letters, digits and . _ - + = @ ~ only.
_SAFE_NAME = re.compile(r"[A-Za-z0-9._+=@~-]+")
_STRFTIME_DIRECTIVE = re.compile(r"%[aAbBcdfHIjmMpSUwWxXyYzZGuV%-]")


def extension(file_format: str, compression: str, encrypted: bool) -> str:
    chain = [file_format]
    if compression == "gzip":
        chain.append("gz")
    elif compression == "zip":
        chain.append("zip")
    if encrypted:
        chain.append("pgp")
    return ".".join(chain)


def template_problems(template: str) -> list[str]:
    """Everything wrong with a name template, each in words; empty when it is usable."""
    if len(template) > MAX_NAME_CHARS:
        return [f"must be at most {MAX_NAME_CHARS} characters"]
    problems: list[str] = []
    if "/" in template or "\\" in template:
        problems.append("must be a file name: no / or \\ (it could leave its folder)")
    if ".." in template:
        problems.append("must not contain .. (it could leave its folder)")
    if _CONTROL.search(template):
        problems.append("must not contain control characters")
    if template.startswith("."):
        problems.append("must not start with . (a hidden file)")
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        return [*problems, "has an unbalanced { or } (write {{ or }} for a brace)"]
    for literal, name, spec, conversion in parsed:
        unbraced = literal.replace("{", "").replace("}", "")
        if unbraced and not _SAFE_NAME.fullmatch(unbraced):
            problems.append(f"text {literal!r} may only hold letters, digits and . _ - + = @ ~")
        if name is None:
            continue
        if name not in TOKENS:
            problems.append(f"has an unknown token {{{name}}} (known: {', '.join(TOKENS)})")
        elif conversion:
            problems.append(f"token {{{name}}} takes no conversion")
        elif name == "sequence" and spec and not re.fullmatch(r"0?\d{0,2}d", spec):
            problems.append("{sequence} takes a number format such as 06d")
        elif name in _TIMES and spec and not _strftime_ok(spec):
            problems.append(
                f"{{{name}}} takes a strftime format of letters, digits, - _ and % codes"
            )
        elif name in ("recipient_id", "ext") and spec:
            problems.append(f"token {{{name}}} takes no format")
    if not problems:
        sample = render(
            template,
            recipient_id="r",
            sequence=1,
            period_start=datetime(2024, 1, 1, tzinfo=UTC),
            period_end=datetime(2024, 1, 2, tzinfo=UTC),
            run_time=datetime(2024, 1, 2, tzinfo=UTC),
            ext="csv",
            zone=ZoneInfo("UTC"),
        )
        if not _SAFE_NAME.fullmatch(sample) or sample.startswith("."):
            problems.append(
                "makes a name with characters other than letters, digits, . _ - + = @ ~"
            )
    return problems


def _strftime_ok(spec: str) -> bool:
    rest = _STRFTIME_DIRECTIVE.sub("", spec)
    return "%" not in rest and bool(_SAFE_NAME.fullmatch(rest or "x"))


def render(
    template: str,
    *,
    recipient_id: str,
    sequence: int,
    period_start: datetime | None,
    period_end: datetime,
    run_time: datetime,
    ext: str,
    zone: ZoneInfo,
) -> str:
    """The name a checked template gives one batch."""
    values: dict[str, Any] = {
        "recipient_id": recipient_id,
        "sequence": sequence,
        "period_start": _LocalTime((period_start or period_end).astimezone(zone)),
        "period_end": _LocalTime(period_end.astimezone(zone)),
        "run_time": _LocalTime(run_time.astimezone(zone)),
        "ext": ext,
    }
    return template.format_map(values)


class _LocalTime:
    """A time that formats with a strftime format (the default when none is given)."""

    def __init__(self, value: datetime) -> None:
        self._value = value

    def __format__(self, spec: str) -> str:
        return self._value.strftime(spec or DEFAULT_TIME_FORMAT)
