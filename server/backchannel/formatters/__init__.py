"""The built-in formatters: ``json``, ``xml``, ``csv``, ``form``, ``template``, ``postback``,
``meta_capi`` and ``google_ads_csv``.

Registered through the ``builtin_formatters`` entry point of the ``backchannel`` group.
Every formatter renders the canonical feedback document deterministically (the same
document and options give the same bytes) and reads these recipient ``format_options``;
``check_options`` reports every problem at once, and an option set to ``null`` counts as
not set.

========  ======================  ==========  =================================================
format    option                  default     meaning
========  ======================  ==========  =================================================
every     ``hash``                none        object: dotted path -> ``sha256_normalized``,
                                              ``sha256_google`` or ``sha256_meta``: the value
                                              replaced by the SHA-256 of its normalized form
                                              (applied first; see ``_field_hashing``)
every     ``drop``                none        dotted paths removed from the document
every     ``rename``              none        object: dotted path -> new dotted name
every     ``constants``           none        object: dotted name -> string, number, boolean
                                              or null; drop, rename and constants reshape
                                              the document in that order before it renders
                                              (see ``_field_mapping``)
json xml  ``fields``              everything  list of dotted paths (``outcome.value``,
csv form                                      ``consents.0.provider``) choosing and ordering
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
template  ``template``            summary     a sandboxed Jinja2 template (see ``_template``)
template  ``content_type``        text/plain  the body's media type; charset=utf-8 is added
template  ``file_extension``      txt         the file extension, no dot
template  ``autoescape``          html/xml    escape values for HTML/XML; default true when
                                              the content type is HTML or XML
postback  ``template``            all macros  query text with macros such as ``{lead_id}``
postback  ``return_template``     template    the same, for documents of kind ``return``
meta_capi ``event_name``          Purchase    the Conversions API event name
meta_capi ``action_source``       system_gen. where the conversion happened (Meta's list)
google_a. ``conversion_name``     Converted.. the Google Ads conversion action's name
========  ======================  ==========  =================================================

Content types and file extensions: ``application/json`` / ``json``, ``application/xml`` /
``xml``, ``text/csv; charset=utf-8`` / ``csv``, ``application/x-www-form-urlencoded`` /
``txt`` (postback too), the template's own (default ``text/plain; charset=utf-8`` /
``txt``). Each module documents its own layout (XML element names, CSV cells, form pairs).
"""

from __future__ import annotations

from collections.abc import Callable

from backchannel.formatters._csv import STANDARD_COLUMNS, CsvFormatter
from backchannel.formatters._form import FormFormatter
from backchannel.formatters._google_ads import GoogleAdsCsvFormatter
from backchannel.formatters._json import JsonFormatter
from backchannel.formatters._meta_capi import MetaCapiFormatter
from backchannel.formatters._postback import PostbackFormatter
from backchannel.formatters._template import TemplateFormatter
from backchannel.formatters._xml import XmlFormatter
from backchannel.plugin import Formatter, hookimpl


@hookimpl
def register_formatters(register: Callable[[Formatter], None]) -> None:
    register(JsonFormatter())
    register(XmlFormatter())
    register(CsvFormatter())
    register(FormFormatter())
    register(TemplateFormatter())
    register(PostbackFormatter())
    register(MetaCapiFormatter())
    register(GoogleAdsCsvFormatter())


__all__ = [
    "STANDARD_COLUMNS",
    "CsvFormatter",
    "FormFormatter",
    "GoogleAdsCsvFormatter",
    "JsonFormatter",
    "MetaCapiFormatter",
    "PostbackFormatter",
    "TemplateFormatter",
    "XmlFormatter",
    "register_formatters",
]
