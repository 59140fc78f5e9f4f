"""The built-in formatters: ``json``, ``xml``, ``csv`` and ``form``.

Registered through the ``builtin_formatters`` entry point of the ``backchannel`` group.
Every formatter renders the canonical feedback document deterministically (the same
document and options give the same bytes) and reads these recipient ``format_options``;
``check_options`` reports every problem at once, and an option set to ``null`` counts as
not set.

========  ======================  ==========  =================================================
format    option                  default     meaning
========  ======================  ==========  =================================================
all       ``fields``              everything  list of dotted paths (``outcome.value``,
                                              ``consents.0.provider``) choosing and ordering
                                              what is written; paths the document lacks are
                                              left out (csv: an empty cell)
json      ``pretty``              false       indent by two spaces
xml       ``root_element``        feedback    name of the root element
csv       ``columns``             standard    alias of ``fields`` (set one of them); the
                                              default is :data:`STANDARD_COLUMNS`
csv       ``delimiter``           ``,``       one printable character or a tab, not ``"``
csv       ``header``              true        write the header line
csv       ``csv_injection_guard`` true        put ``'`` before text cells that start with
                                              ``= + - @``, tab or CR
========  ======================  ==========  =================================================

Content types and file extensions: ``application/json`` / ``json``, ``application/xml`` /
``xml``, ``text/csv; charset=utf-8`` / ``csv``, ``application/x-www-form-urlencoded`` /
``txt``. Each module documents its own layout (XML element names, CSV cells, form pairs).
"""

from __future__ import annotations

from collections.abc import Callable

from backchannel.formatters._csv import STANDARD_COLUMNS, CsvFormatter
from backchannel.formatters._form import FormFormatter
from backchannel.formatters._json import JsonFormatter
from backchannel.formatters._xml import XmlFormatter
from backchannel.plugin import Formatter, hookimpl


@hookimpl
def register_formatters(register: Callable[[Formatter], None]) -> None:
    register(JsonFormatter())
    register(XmlFormatter())
    register(CsvFormatter())
    register(FormFormatter())


__all__ = [
    "STANDARD_COLUMNS",
    "CsvFormatter",
    "FormFormatter",
    "JsonFormatter",
    "XmlFormatter",
    "register_formatters",
]
