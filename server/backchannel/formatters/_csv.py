"""The ``csv`` formatter: a header line and one row, RFC 4180 (CRLF line ends), UTF-8.

Columns are dotted field paths (option ``columns``, or its alias ``fields``), and each
header is the path's text. Without the option the columns are :data:`STANDARD_COLUMNS`, the
same for every kind of feedback so that rows from many deliveries line up. A cell is empty
when the document does not have the path or holds ``None`` there; booleans are
``true``/``false``, numbers their exact text (``1250.00``), and a mapping or list (a column
such as ``attributes`` or ``consents``) is written as compact JSON.

Formula injection: with ``csv_injection_guard`` (default true) a text cell that starts with
``=``, ``+``, ``-``, ``@``, a tab or a CR, or with the full-width forms of the first four
(U+FF1D, U+FF0B, U+FF0D, U+FF20), gets a ``'`` in front so that spreadsheets show it
instead of evaluating it. Numbers are never prefixed: a negative value stays ``-5.00``, and
a number cannot be a formula.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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

STANDARD_COLUMNS: tuple[str, ...] = (
    "lead_id",
    "source_id",
    "kind",
    "feedback_id",
    "feedback_date",
    "accepted_at",
    "flow_id",
    "event_id",
    "click_id",
    "transaction_id",
    "outcome.status",
    "outcome.value",
    "outcome.currency",
    "outcome.conversion_date",
    "outcome.product",
    "return.reason_code",
    "return.reason_text",
    "return.return_date",
    "quality.overall_score",
    "quality.data_quality",
    "quality.conversion_likelihood",
    "quality.customer_satisfaction",
    "attribution.campaign",
    "attribution.creative",
    "attribution.keyword",
)
_STANDARD_PATHS: tuple[FieldPath, ...] = tuple(
    tuple(column.split(".")) for column in STANDARD_COLUMNS
)

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_QUOTE = '"'


@dataclass(frozen=True)
class _CsvOptions:
    columns: tuple[FieldPath, ...]
    delimiter: str
    header: bool
    csv_injection_guard: bool


def _delimiter_problem(delimiter: str) -> str | None:
    if len(delimiter) != 1:
        return "must be exactly one character"
    if delimiter == _QUOTE:
        return 'must not be the quote character "'
    if not (delimiter.isprintable() or delimiter == "\t"):
        return "must be a printable character or a tab"
    return None


class CsvFormatter(BuiltinFormatter[_CsvOptions]):
    """``text/csv``; options ``columns`` (alias ``fields``), ``delimiter``, ``header`` and
    ``csv_injection_guard``."""

    name = "csv"
    option_names = ("columns", "fields", "delimiter", "header", "csv_injection_guard")

    def read_options(self, reader: OptionReader) -> _CsvOptions:
        columns = reader.field_paths("columns")
        fields = reader.field_paths("fields")
        reader.conflict("columns", "fields")
        return _CsvOptions(
            columns=columns or fields or _STANDARD_PATHS,
            delimiter=reader.text("delimiter", ",", _delimiter_problem),
            header=reader.boolean("header", default=True),
            csv_injection_guard=reader.boolean("csv_injection_guard", default=True),
        )

    def render_with(self, document: Mapping[str, Any], options: _CsvOptions) -> RenderedContent:
        text = io.StringIO()
        writer = csv.writer(
            text,
            delimiter=options.delimiter,
            quotechar=_QUOTE,
            doublequote=True,
            lineterminator="\r\n",
            quoting=csv.QUOTE_MINIMAL,
        )
        if options.header:
            writer.writerow(".".join(path) for path in options.columns)
        guard = options.csv_injection_guard
        writer.writerow(_cell(lookup(document, path), guard=guard) for path in options.columns)
        body = encodable_text(text.getvalue()).encode("utf-8")
        return RenderedContent(
            body=body, content_type="text/csv; charset=utf-8", file_extension="csv"
        )


def _cell(value: Any, *, guard: bool) -> str:
    if value is MISSING or value is None:
        return ""
    if isinstance(value, str):
        return "'" + value if guard and value.startswith(FORMULA_TRIGGERS) else value
    if is_mapping(value) or is_list(value):
        return encode_json(value, pretty=False)
    return scalar_text(value)
