"""The ``json`` formatter: the document as UTF-8 JSON, money as exact number literals.

The standard library cannot write a Decimal as a number literal with its own digits
(``1250.00``, not ``1250.0``), so this module writes JSON itself. Without Decimals the text
is what ``json.dumps(value, ensure_ascii=False, separators=(",", ":"))`` writes, or with
``pretty`` what ``json.dumps(value, ensure_ascii=False, indent=2)`` writes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from backchannel.formatters._document_paths import (
    FieldPath,
    is_list,
    is_mapping,
    select_fields,
)
from backchannel.formatters._formatter import BuiltinFormatter
from backchannel.formatters._options import OptionReader
from backchannel.formatters._scalars import has_lone_surrogate, scalar_text
from backchannel.plugin import RenderedContent

_INDENT = "  "


@dataclass(frozen=True)
class _JsonOptions:
    fields: tuple[FieldPath, ...] | None
    pretty: bool


class JsonFormatter(BuiltinFormatter[_JsonOptions]):
    """``application/json``; options ``fields`` and ``pretty``."""

    name = "json"
    option_names = ("fields", "pretty")

    def read_options(self, reader: OptionReader) -> _JsonOptions:
        return _JsonOptions(
            fields=reader.field_paths("fields"),
            pretty=reader.boolean("pretty", default=False),
        )

    def render_with(self, document: Mapping[str, Any], options: _JsonOptions) -> RenderedContent:
        selected = select_fields(document, options.fields)
        body = encode_json(selected, pretty=options.pretty).encode("utf-8")
        return RenderedContent(body=body, content_type="application/json", file_extension="json")


def encode_json(value: Any, *, pretty: bool) -> str:
    """``value`` as JSON text; Decimals become number literals with exactly their digits.

    The standard library's C encoder writes the document, with each Decimal as a unique
    placeholder string that is then replaced by its digits; documents it cannot take
    (lone surrogates) go through the slower writer below.
    """
    try:
        return _fast_encoded(value, pretty)
    except (TypeError, ValueError, UnicodeEncodeError):
        return _encoded(value, "" if pretty else None)


def _fast_encoded(value: Any, pretty: bool) -> str:
    decimals: list[str] = []
    nonce = os.urandom(6).hex()

    def placeholder(item: object) -> object:
        if isinstance(item, Decimal):
            decimals.append(scalar_text(item))
            return f"{nonce}:{len(decimals) - 1}"
        if is_mapping(item):
            return dict(item)
        raise TypeError(f"cannot write a {type(item).__name__} as JSON")

    if pretty:
        text = json.dumps(value, ensure_ascii=False, indent=2, default=placeholder)
    else:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=placeholder)
    text.encode("utf-8")  # a lone surrogate cannot be written as UTF-8: the slow writer can
    for index, digits in enumerate(decimals):
        text = text.replace(f'"{nonce}:{index}"', digits, 1)
    return text


def _encoded(value: Any, indent: str | None) -> str:
    """``indent`` is the current line's indentation when pretty, None when compact."""
    inner = None if indent is None else indent + _INDENT
    if value is None:
        return "null"
    if isinstance(value, str):
        return _string(value)
    if is_mapping(value):
        colon = ":" if indent is None else ": "
        members = [f"{_key(key)}{colon}{_encoded(child, inner)}" for key, child in value.items()]
        return _joined("{", members, "}", indent)
    if is_list(value):
        return _joined("[", [_encoded(child, inner) for child in value], "]", indent)
    # bool, int, float and Decimal: their text is already a JSON literal.
    return scalar_text(value)


def _joined(opening: str, items: list[str], closing: str, indent: str | None) -> str:
    if not items:
        return opening + closing
    if indent is None:
        return opening + ",".join(items) + closing
    inner = "\n" + indent + _INDENT
    return opening + inner + ("," + inner).join(items) + "\n" + indent + closing


def _key(key: object) -> str:
    if not isinstance(key, str):
        raise TypeError(f"the feedback document has a {type(key).__name__} key: {key!r}")
    return _string(key)


def _string(text: str) -> str:
    # A lone surrogate cannot be written as UTF-8; as a \u escape it stays valid JSON.
    return json.dumps(text, ensure_ascii=has_lone_surrogate(text))
