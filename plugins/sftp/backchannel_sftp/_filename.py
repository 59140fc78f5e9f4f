"""Remote file names: a ``filename_template`` checked once, then filled in for each delivery.

Values come from the feedback document, so they are untrusted: each one is made into a
single safe path segment before it is put in (no ``/``, no ``\\``, no control characters,
never ``.`` or ``..`` and never starting with a dot), and the filled-in path is checked
again before anything is written.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Final

from backchannel.plugin import FeedbackDocument

PLACEHOLDERS: Final = (
    "feedback_id",
    "lead_id",
    "source_id",
    "kind",
    "delivery_id",
    "attempt",
    "date",
    "time",
    "extension",
)
DEFAULT_TEMPLATE: Final = "{source_id}/{date}/{feedback_id}.{extension}"
#: A template needs one of these, or different feedback would be written to the same file.
IDENTITY_PLACEHOLDERS: Final = ("feedback_id", "delivery_id")
#: What a placeholder becomes when the document has no value for it.
MISSING_VALUE: Final = "unknown"
#: The extension used when the formatter gives none.
DEFAULT_EXTENSION: Final = "bin"
MAX_TEMPLATE_LENGTH: Final = 512
#: Bytes in one segment of a remote path. Below the usual 255 so that the temporary name
#: (a dot, the name, a dot, 12 hex digits and ``.part``) still fits.
MAX_SEGMENT_BYTES: Final = 200

_UNSAFE_CHARACTERS = re.compile(r"[/\\\x00-\x1f\x7f]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class UnsafePath(ValueError):
    """A filled-in template is not a plain relative path below the directory."""


def template_problems(template: str) -> list[str]:
    """Everything wrong with ``template``, each in words; empty when it is usable."""
    if len(template) > MAX_TEMPLATE_LENGTH:
        return [f"is longer than {MAX_TEMPLATE_LENGTH} characters"]
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        return ["is not a valid template: a { or } is unbalanced (write {{ or }} for a brace)"]
    problems: list[str] = []
    names: set[str] = set()
    for _, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in PLACEHOLDERS:
            shown = "{" + name + "}"
            problems.append(
                f"has an unknown placeholder {shown} (known: {', '.join(PLACEHOLDERS)})"
            )
        elif spec or conversion:
            problems.append(f"placeholder {{{name}}} takes no format spec or conversion")
        else:
            names.add(name)
    if not names.intersection(IDENTITY_PLACEHOLDERS):
        problems.append(
            "must contain {feedback_id} or {delivery_id}: without one, different feedback "
            "would be written to the same file"
        )
    if not problems:
        sample = template.format_map({name: "x" for name in PLACEHOLDERS})
        problems.extend(path_problems(sample))
    return problems


def path_problems(path: str) -> list[str]:
    """Why ``path`` is not a plain relative path of named segments; empty when it is."""
    problems: list[str] = []
    if path.startswith("/"):
        problems.append("must be relative to the directory (no leading /)")
    if "\\" in path:
        problems.append("must separate directories with /, not \\")
    if _CONTROL.search(path):
        problems.append("must not contain control characters")
    segments = path.removeprefix("/").split("/")
    if any(segment in (".", "..") for segment in segments):
        problems.append("must not contain . or .. segments")
    if any(segment == "" for segment in segments):
        problems.append("must not contain empty segments (//) or end with /")
    if any(len(segment.encode()) > MAX_SEGMENT_BYTES for segment in segments):
        problems.append(f"must not have a segment longer than {MAX_SEGMENT_BYTES} bytes")
    return problems


def safe_segment(value: str) -> str:
    """``value`` as one harmless path segment: never a separator, never hidden or special."""
    cleaned = _UNSAFE_CHARACTERS.sub("_", value)
    if cleaned.startswith("."):
        cleaned = "_" + cleaned[1:]
    return cleaned or MISSING_VALUE


def render_path(template: str, values: Mapping[str, str]) -> str:
    """The relative path ``template`` names for ``values``; raises :class:`UnsafePath`."""
    filled = template.format_map({name: safe_segment(values[name]) for name in PLACEHOLDERS})
    problems = path_problems(filled)
    if problems:
        raise UnsafePath(f"the file name made from filename_template {'; '.join(problems)}")
    return filled


def placeholder_values(
    *,
    document: FeedbackDocument,
    feedback_id: str,
    delivery_id: str,
    attempt: int,
    file_extension: str,
    gzip: bool,
    now: datetime,
) -> dict[str, str]:
    """The value of every placeholder for one delivery (before they are made safe)."""
    accepted = _accepted_at(document.get("accepted_at")) or now.astimezone(UTC)
    extension = file_extension.lstrip(".") or DEFAULT_EXTENSION
    return {
        "feedback_id": feedback_id or document.get("feedback_id", ""),
        "lead_id": document.get("lead_id", ""),
        "source_id": document.get("source_id", ""),
        "kind": document.get("kind", ""),
        "delivery_id": delivery_id,
        "attempt": str(attempt),
        "date": accepted.strftime("%Y-%m-%d"),
        "time": accepted.strftime("%H%M%S"),
        "extension": f"{extension}.gz" if gzip else extension,
    }


def _accepted_at(value: str | None) -> datetime | None:
    """``accepted_at`` (RFC 3339) in UTC, or None when the document has no usable one."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
