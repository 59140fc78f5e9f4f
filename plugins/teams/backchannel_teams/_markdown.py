"""Text from a feedback document, made safe for the markdown of Adaptive Cards.

Teams reads ``TextBlock.text``, ``Fact.title`` and ``Fact.value`` as a subset of CommonMark
(bold, italic, lists, links) and expands ``{{DATE(...)}}``/``{{TIME(...)}}``. A lead's data
must show as the characters it is, so every character that could start markup is escaped
with a backslash, as CommonMark allows for any ASCII punctuation.
"""

from __future__ import annotations

import re

#: Line breaks, tabs and other control characters: one line per value (markdown needs two
#: newlines for a break anyway, and Postgres never sees a NUL).
_BREAKS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")
_SURROGATES = re.compile(r"[\ud800-\udfff]")
#: Characters that start or end markup wherever they stand: emphasis, code, links, autolinks
#: and HTML, the DATE/TIME functions, and the escape character itself. ``&`` only where it
#: would start an entity (``&amp;``).
_ANYWHERE = re.compile(r"[\\*_~`\[\]<>{}|]|&(?=#?[A-Za-z0-9]+;)")
#: Markup that counts only at the start of a line and before a space: list items, headings.
_LINE_START = re.compile(r"^(?:([-+#])|([0-9]{1,9})([.)]))(?=\s|$)")


def one_line(text: str) -> str:
    """``text`` on one line: breaks and control characters become single spaces."""
    return _SURROGATES.sub("\ufffd", _BREAKS.sub(" ", text)).strip()


def escape(text: str) -> str:
    """Markdown that shows exactly ``text`` (already on one line, see :func:`one_line`)."""
    escaped = _ANYWHERE.sub(lambda match: "\\" + match.group(0), text)
    return _LINE_START.sub(_escape_line_start, escaped)


def _escape_line_start(match: re.Match[str]) -> str:
    marker, number, delimiter = match.groups()
    if marker is not None:
        return "\\" + marker
    return f"{number}\\{delimiter}"
