"""The ``form`` formatter: the document as ``application/x-www-form-urlencoded`` pairs.

Every scalar becomes one pair named by its dotted path, in document order:
``outcome.value=1250.00``, ``attribution.sub_ids.sub1=a``, list elements numbered from 0
(``consents.0.provider=trustedform``). ``None`` and empty mappings or lists are left out,
booleans are ``true``/``false``, numbers their exact text. Names and values are UTF-8,
percent-encoded with spaces as ``+``. An attribute key containing a dot reads like a deeper
path: flattening cannot tell ``{"a.b": 1}`` from ``{"a": {"b": 1}}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from backchannel.formatters._document_paths import FieldPath, flatten, select_fields
from backchannel.formatters._formatter import BuiltinFormatter
from backchannel.formatters._options import OptionReader
from backchannel.formatters._scalars import encodable_text, scalar_text
from backchannel.plugin import RenderedContent


@dataclass(frozen=True)
class _FormOptions:
    fields: tuple[FieldPath, ...] | None


class FormFormatter(BuiltinFormatter[_FormOptions]):
    """``application/x-www-form-urlencoded``; option ``fields``."""

    name = "form"
    option_names = ("fields",)

    def read_options(self, reader: OptionReader) -> _FormOptions:
        return _FormOptions(fields=reader.field_paths("fields"))

    def render_with(self, document: Mapping[str, Any], options: _FormOptions) -> RenderedContent:
        pairs = [
            (encodable_text(path), encodable_text(scalar_text(value)))
            for path, value in flatten(select_fields(document, options.fields))
            if value is not None
        ]
        body = urlencode(pairs).encode("ascii")
        return RenderedContent(
            body=body, content_type="application/x-www-form-urlencoded", file_extension="txt"
        )
