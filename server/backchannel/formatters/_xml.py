"""The ``xml`` formatter: the document as one UTF-8 XML element.

Layout: an XML declaration, then the root element (option ``root_element``, default
``feedback``) holding one element per document key, in document order. A mapping becomes an
element holding its keys' elements; a list an element holding one ``<item>`` per element;
``None``, an empty mapping or list, or an empty string an empty element (``<x/>``);
booleans ``true``/``false``; numbers their exact text (``1250.00``). No attributes, except
the ``key`` attribute below, and no whitespace between elements.

Element names. A key of ASCII letters, digits, ``_``, ``-`` and ``.``, starting with a
letter or ``_`` and not with ``xml`` in any case, is used as it is. Any other key is
sanitised: every other character becomes ``_``, then ``_`` is put in front when the result
is empty, does not start with a letter or ``_``, or starts with ``xml``. The element then
carries the original key in a ``key`` attribute (``<first_name key="first name">``), so
nothing is lost when two keys sanitise to the same name. Colons are not kept because a
namespace-aware parser would read them as undeclared prefixes.

Text. Characters XML 1.0 cannot hold (control characters other than tab, LF and CR, lone
surrogates, U+FFFE and U+FFFF) become U+FFFD; ``&``, ``<`` and ``>`` are escaped, and CR is
written ``&#13;`` so that a parser does not turn it into LF.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from backchannel.formatters._document_paths import (
    FieldPath,
    is_list,
    is_mapping,
    select_fields,
)
from backchannel.formatters._formatter import BuiltinFormatter
from backchannel.formatters._options import OptionReader
from backchannel.formatters._scalars import scalar_text
from backchannel.plugin import RenderedContent

DEFAULT_ROOT_ELEMENT = "feedback"
LIST_ITEM_ELEMENT = "item"

_NAME = re.compile(r"(?!xml)[A-Za-z_][A-Za-z0-9_.-]*", re.IGNORECASE)
_NOT_NAME_CHARACTER = re.compile(r"[^A-Za-z0-9_.-]")
_NOT_XML_CHARACTER = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_ESCAPES = {
    "&": "&amp;",
    "<": "&lt;",
    ">": "&gt;",
    '"': "&quot;",
    "\t": "&#9;",
    "\n": "&#10;",
    "\r": "&#13;",
}
_TEXT_SPECIAL = re.compile("[&<>\r]")
_ATTRIBUTE_SPECIAL = re.compile('[&<>\r"\t\n]')


@dataclass(frozen=True)
class _XmlOptions:
    fields: tuple[FieldPath, ...] | None
    root_element: str


class XmlFormatter(BuiltinFormatter[_XmlOptions]):
    """``application/xml``; options ``fields`` and ``root_element``."""

    name = "xml"
    option_names = ("fields", "root_element")

    def read_options(self, reader: OptionReader) -> _XmlOptions:
        return _XmlOptions(
            fields=reader.field_paths("fields"),
            root_element=reader.text("root_element", DEFAULT_ROOT_ELEMENT, _name_problem),
        )

    def render_with(self, document: Mapping[str, Any], options: _XmlOptions) -> RenderedContent:
        parts = ['<?xml version="1.0" encoding="UTF-8"?>\n']
        _write_element(parts, options.root_element, select_fields(document, options.fields))
        body = "".join(parts).encode("utf-8")
        return RenderedContent(body=body, content_type="application/xml", file_extension="xml")


def _name_problem(name: str) -> str | None:
    if _NAME.fullmatch(name):
        return None
    return (
        "must be an XML name of ASCII letters, digits, _, - and ., starting with a letter "
        "or _ and not with xml"
    )


def element_name(key: str) -> str:
    """The element name a document key is written as (see the module's documentation)."""
    if _NAME.fullmatch(key):
        return key
    name = _NOT_NAME_CHARACTER.sub("_", key)
    return name if _NAME.fullmatch(name) else "_" + name


def _write_element(parts: list[str], key: str, value: Any) -> None:
    name = element_name(key)
    attributes = "" if name == key else f' key="{_escaped(key, _ATTRIBUTE_SPECIAL)}"'
    if is_mapping(value):
        children = [(str(child_key), child) for child_key, child in value.items()]
    elif is_list(value):
        children = [(LIST_ITEM_ELEMENT, child) for child in value]
    else:
        text = "" if value is None else _escaped(scalar_text(value), _TEXT_SPECIAL)
        parts.append(f"<{name}{attributes}>{text}</{name}>" if text else f"<{name}{attributes}/>")
        return
    if not children:
        parts.append(f"<{name}{attributes}/>")
        return
    parts.append(f"<{name}{attributes}>")
    for child_key, child in children:
        _write_element(parts, child_key, child)
    parts.append(f"</{name}>")


def _escaped(text: str, special: re.Pattern[str]) -> str:
    text = _NOT_XML_CHARACTER.sub("\ufffd", text)
    return special.sub(lambda match: _ESCAPES[match.group()], text)
