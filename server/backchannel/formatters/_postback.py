"""The ``postback`` formatter: an affiliate postback, the way affiliate platforms take it.

Option ``template`` is the postback's query text with macros, e.g.
``tid={transaction_id}&amount={value}&s1={sub1}``; ``return_template`` is used instead for
a document of kind ``return`` (a reversal), and defaults to ``template``. Each macro is
replaced by the document's value, UTF-8 and percent-encoded (everything but letters, digits
and ``-._~``, so a space is ``%20`` and ``&`` is ``%26``), or by nothing when the document
does not have it:

===================  ==========================================================
macro                value
===================  ==========================================================
``{lead_id}``        ``lead_id`` (likewise ``{source_id}``, ``{transaction_id}``,
                     ``{click_id}``, ``{kind}``, ``{feedback_id}``)
``{value}``          ``outcome.value`` with exactly its own digits (``1250.00``)
``{currency}``       ``outcome.currency``
``{status}``         ``outcome.status``
``{sub1}``…``{sub5}`` ``attribution.sub_ids.sub1`` … ``sub5``
===================  ==========================================================

Macros read the document after ``drop``/``rename``/``constants``. The text between macros is
written as it is, so it must already be percent-encoded: printable ASCII without spaces or
braces. ``check_options`` refuses unknown macros and stray braces.

The result is labelled ``application/x-www-form-urlencoded`` (file extension ``txt``): the
webhook transport POSTs it as the request body. Sending it as the query of a GET request
is not supported yet.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import quote

from backchannel.formatters._document_paths import (
    MISSING,
    FieldPath,
    is_list,
    is_mapping,
    lookup,
)
from backchannel.formatters._formatter import BuiltinFormatter
from backchannel.formatters._json import encode_json
from backchannel.formatters._options import OptionReader
from backchannel.formatters._scalars import encodable_text, scalar_text
from backchannel.plugin import RenderedContent

#: Each macro and the document path it reads.
MACROS: Mapping[str, FieldPath] = {
    "lead_id": ("lead_id",),
    "source_id": ("source_id",),
    "transaction_id": ("transaction_id",),
    "click_id": ("click_id",),
    "value": ("outcome", "value"),
    "currency": ("outcome", "currency"),
    "status": ("outcome", "status"),
    "kind": ("kind",),
    "feedback_id": ("feedback_id",),
    **{f"sub{n}": ("attribution", "sub_ids", f"sub{n}") for n in range(1, 6)},
}
DEFAULT_TEMPLATE = (
    "lead_id={lead_id}&source_id={source_id}&transaction_id={transaction_id}"
    "&click_id={click_id}&kind={kind}&status={status}&value={value}&currency={currency}"
)
MAX_TEMPLATE_LENGTH = 8_192

_PARTS = re.compile(r"(\{[^{}]*\})")
_LITERAL = re.compile(r"[!-~]*")  # printable ASCII, no space

#: A parsed template: literal text, and macro names as 1-tuples.
_Parsed = tuple[str | tuple[str], ...]


def _parsed(template: str) -> tuple[_Parsed, list[str]]:
    parts: list[str | tuple[str]] = []
    problems: list[str] = []
    for index, part in enumerate(_PARTS.split(template)):
        if index % 2:
            name = part[1:-1]
            if name in MACROS:
                parts.append((name,))
            else:
                problems.append(f"unknown macro {part} (known: {_known()})")
        elif part:
            if "{" in part or "}" in part:
                problems.append(f"has a brace that opens or closes no macro: {part!r}")
            elif _LITERAL.fullmatch(part) is None:
                problems.append(
                    f"text between macros must be printable ASCII without spaces "
                    f"(percent-encode it): {part!r}"
                )
            else:
                parts.append(part)
    return tuple(parts), problems


def _known() -> str:
    return ", ".join("{" + name + "}" for name in MACROS)


def _template_problem(template: str) -> str | None:
    if len(template) > MAX_TEMPLATE_LENGTH:
        return f"must be at most {MAX_TEMPLATE_LENGTH} characters"
    if not template:
        return "must not be empty"
    problems = _parsed(template)[1]
    return "; ".join(problems) if problems else None


def macro_text(value: Any) -> str:
    """A document value as macro text, before percent-encoding."""
    if value is MISSING or value is None:
        return ""
    if isinstance(value, Decimal) and value.is_finite():
        return format(value, "f")  # 1E+3 would read as text: write 1000
    if is_mapping(value) or is_list(value):
        return encode_json(value, pretty=False)
    return scalar_text(value)


@dataclass(frozen=True)
class _PostbackOptions:
    template: _Parsed
    return_template: _Parsed


class PostbackFormatter(BuiltinFormatter[_PostbackOptions]):
    """An affiliate postback with macros; options ``template`` and ``return_template``."""

    name = "postback"
    option_names = ("template", "return_template")

    def read_options(self, reader: OptionReader) -> _PostbackOptions:
        template = reader.text("template", DEFAULT_TEMPLATE, _template_problem)
        return_template = reader.text("return_template", template, _template_problem)
        return _PostbackOptions(
            template=_parsed(template)[0], return_template=_parsed(return_template)[0]
        )

    def render_with(
        self, document: Mapping[str, Any], options: _PostbackOptions
    ) -> RenderedContent:
        parts = options.return_template if document.get("kind") == "return" else options.template
        text = "".join(
            part
            if isinstance(part, str)
            else quote(encodable_text(macro_text(lookup(document, MACROS[part[0]]))), safe="")
            for part in parts
        )
        return RenderedContent(
            body=text.encode("ascii"),
            content_type="application/x-www-form-urlencoded",
            file_extension="txt",
        )
