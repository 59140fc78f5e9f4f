"""The ``template`` formatter: a recipient's own text format, written as a Jinja2 template.

The template runs in Jinja2's ``ImmutableSandboxedEnvironment`` with ``StrictUndefined``:
it cannot reach private or dunder attributes (``{{ ''.__class__ }}`` is refused), call
methods that change values, or use a variable the document does not define. Its variables
are the keys of the (reshaped, see ``drop``/``rename``/``constants``) feedback document:
``{{ lead_id }}``, ``{{ outcome.value }}``, ``{{ attribution.sub_ids.sub1 }}``.

Every field of the canonical document is always defined: one a feedback record does not
have is ``None`` (written as nothing), and an object it does not have (``outcome``,
``return``, ``attribution``) is an object whose fields are all ``None``. Keys under
``quality``, ``attributes`` and ``attribution.sub_ids`` vary from record to record, so any
of them reads as ``None`` when absent. ``consents`` is a list, possibly empty: loop over it
rather than indexing it. Booleans are written ``true``/``false``, money with exactly its own
digits (``1250.00``).

The formatter declares ``renders_untrusted_templates``: the host checks and renders it in
its template workers (a time budget, an output cap), never on an event loop, and the known
amplifiers (``lipsum``, large ``range`` loops, ``**``...; see
``backchannel.plugin_support.template_amplifier``) are refused when the recipient is saved.

``check_options`` compiles the template and renders it against two sample documents, one
with every field set and one with only the identifying fields (a return): syntax errors,
undefined variables, refused attributes and filters that fail on ``None`` are reported when
the recipient is created or updated, never at send time.

Options: ``template`` (default: a one-line summary), ``content_type`` (default
``text/plain``; ``charset=utf-8`` is added when missing, the body always being UTF-8),
``file_extension`` (default ``txt``) and ``autoescape`` (HTML/XML escaping of every value;
default true when the content type is HTML or XML).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from backchannel.formatters._document_paths import is_list, is_mapping
from backchannel.formatters._field_mapping import FieldMapping, apply_field_mapping
from backchannel.formatters._formatter import BuiltinFormatter
from backchannel.formatters._options import OptionReader
from backchannel.formatters._scalars import encodable_text
from backchannel.plugin import RenderedContent
from backchannel.plugin_support import template_amplifier

DEFAULT_TEMPLATE = (
    "{{ kind }} feedback {{ feedback_id }} for lead {{ lead_id }} from {{ source_id }}\n"
)
DEFAULT_CONTENT_TYPE = "text/plain; charset=utf-8"
MAX_TEMPLATE_LENGTH = 65_536

_TOKEN = r"[A-Za-z0-9!#$&^_.+-]+"
_CONTENT_TYPE = re.compile(
    rf"(?P<type>{_TOKEN}/{_TOKEN})(?P<parameters>(\s*;\s*{_TOKEN}=({_TOKEN}|\"[^\"]*\"))*)\s*"
)
_CHARSET = re.compile(r";\s*charset=\"?([^\";]*)\"?", re.IGNORECASE)
_FILE_EXTENSION = re.compile(r"[A-Za-z0-9]+([_-][A-Za-z0-9]+)*")

#: The fields of the canonical document's objects; None when a record lacks them.
_OBJECT_FIELDS: Mapping[str, tuple[str, ...]] = {
    "outcome": ("status", "conversion_date", "value", "currency", "product"),
    "return": ("reason_code", "reason_text", "return_date"),
    "attribution": ("campaign", "creative", "keyword", "sub_ids"),
    # Present only as far as the recipient's data policy lets it through (never by default).
    "subject": ("email", "phone", "first_name", "last_name", "postal_code", "country"),
}
#: Objects whose keys vary from record to record.
_OPEN_OBJECTS = frozenset({"quality", "attributes", "attribution.sub_ids", "consent_purposes"})
_SCALAR_FIELDS = (
    "feedback_id",
    "kind",
    "lead_id",
    "source_id",
    "flow_id",
    "event_id",
    "click_id",
    "transaction_id",
    "feedback_date",
    "accepted_at",
)
DOCUMENT_FIELDS: tuple[str, ...] = (
    *_SCALAR_FIELDS,
    "outcome",
    "return",
    "quality",
    "attribution",
    "consents",
    "consent_purposes",
    "attributes",
    "subject",
)

#: Every field set: what a template may use.
FULL_SAMPLE: Mapping[str, Any] = {
    "feedback_id": "fb_sample",
    "kind": "conversion",
    "lead_id": "LC123456789",
    "source_id": "SOURCE_ABC",
    "flow_id": "flow-1",
    "event_id": "event-1",
    "click_id": "click-1",
    "transaction_id": "tx-1",
    "feedback_date": "2024-01-15T10:30:00Z",
    "accepted_at": "2024-01-15T10:30:01Z",
    "outcome": {
        "status": "converted",
        "conversion_date": "2024-01-14T15:45:00Z",
        "value": Decimal("1250.00"),
        "currency": "USD",
        "product": "home_insurance",
    },
    "return": {
        "reason_code": "INVALID_PHONE",
        "reason_text": "The number is not in service.",
        "return_date": "2024-01-31T00:00:00Z",
    },
    "quality": {"overall_score": 85, "data_quality": 90},
    "attribution": {
        "campaign": "winter_2024",
        "creative": "banner_v2",
        "keyword": "home insurance quotes",
        "sub_ids": {"sub1": "a", "sub2": "b"},
    },
    "consents": [{"provider": "trustedform", "reference": "cert-1"}],
    "consent_purposes": {"ad_user_data": "granted"},
    "attributes": {"agent": "Ann"},
    "subject": {
        "email": "jane@example.com",
        "phone": "+16505551234",
        "first_name": "Jane",
        "last_name": "Doe",
        "postal_code": "94035",
        "country": "US",
    },
}
#: Only what every record has: everything else is None (or empty).
SPARSE_SAMPLE: Mapping[str, Any] = {
    "feedback_id": "fb_sample_return",
    "kind": "return",
    "lead_id": "LR-1",
    "source_id": "SOURCE_ABC",
}


class _OpenMapping(dict[str, Any]):
    """An object whose absent keys read as None."""

    def __missing__(self, key: str) -> None:
        return None


def template_context(document: Mapping[str, Any]) -> dict[str, Any]:
    """The template's variables: the document with every canonical field defined."""
    context: dict[str, Any] = dict.fromkeys(DOCUMENT_FIELDS)
    context["consents"] = []
    context.update(document)
    for name in DOCUMENT_FIELDS:
        context[name] = _shaped(name, context[name])
    return context


def _shaped(path: str, value: Any) -> Any:
    fields = _OBJECT_FIELDS.get(path)
    if fields is not None:
        shaped = dict.fromkeys(fields)
        if is_mapping(value):
            shaped.update(value)
        elif value is not None:
            return value
        return {key: _shaped(f"{path}.{key}", child) for key, child in shaped.items()}
    if path in _OPEN_OBJECTS:
        if value is None:
            return _OpenMapping()
        return _OpenMapping(value) if is_mapping(value) else value
    if path == "consents" and is_list(value):
        return [_OpenMapping(item) if is_mapping(item) else item for item in value]
    return value


def _finalize(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _environment(autoescape: bool) -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(
        undefined=jinja2.StrictUndefined,
        autoescape=autoescape,
        finalize=_finalize,
        keep_trailing_newline=True,
    )


_ENVIRONMENTS = {flag: _environment(flag) for flag in (False, True)}


@lru_cache(maxsize=256)
def _compiled(source: str, autoescape: bool) -> jinja2.Template:
    return _ENVIRONMENTS[autoescape].from_string(source)


def _syntax_problem(source: str) -> str | None:
    if len(source) > MAX_TEMPLATE_LENGTH:
        return f"must be at most {MAX_TEMPLATE_LENGTH} characters"
    amplifier = template_amplifier(source)
    if amplifier is not None:
        return f"is refused: {amplifier}"
    try:
        _compiled(source, False)
    except jinja2.TemplateSyntaxError as error:
        return f"is not a valid template: line {error.lineno}: {error.message}"
    return None


@lru_cache(maxsize=256)
def _sample_problem(source: str, autoescape: bool, mapping: FieldMapping) -> str | None:
    template = _compiled(source, autoescape)
    for label, sample in (("every field set", FULL_SAMPLE), ("only ids set", SPARSE_SAMPLE)):
        try:
            template.render(template_context(apply_field_mapping(sample, mapping)))
        except Exception as error:  # a template may fail in any way; all are its problem
            reason = str(error) or type(error).__name__
            return f"does not render on a sample document with {label}: {reason}"
    return None


def _content_type_problem(content_type: str) -> str | None:
    if _CONTENT_TYPE.fullmatch(content_type) is None:
        return "must be a media type such as text/html or text/plain; charset=utf-8"
    charset = _CHARSET.search(content_type)
    if charset is not None and charset[1].lower() not in ("utf-8", "utf8"):
        return "the body is UTF-8: the charset must be utf-8 or left out"
    return None


def _file_extension_problem(extension: str) -> str | None:
    if len(extension) > 16 or _FILE_EXTENSION.fullmatch(extension) is None:
        return "must be letters and digits (with _ or - between them), at most 16, no dot"
    return None


def _with_charset(content_type: str) -> str:
    if _CHARSET.search(content_type):
        return content_type
    return f"{content_type.rstrip()}; charset=utf-8"


def _is_markup(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type.endswith(("html", "xml"))


@dataclass(frozen=True)
class _TemplateOptions:
    template: str
    #: False when the template does not compile: nothing more to check.
    compiles: bool
    content_type: str
    file_extension: str
    autoescape: bool


class TemplateFormatter(BuiltinFormatter[_TemplateOptions]):
    """A sandboxed Jinja2 template; options ``template``, ``content_type``,
    ``file_extension`` and ``autoescape``."""

    name = "template"
    option_names = ("template", "content_type", "file_extension", "autoescape")
    # Checked and rendered in the host's template workers: a recipient's template may
    # loop or write without end, and the sandbox bounds neither.
    renders_untrusted_templates = True

    def read_options(self, reader: OptionReader) -> _TemplateOptions:
        before = len(reader.problems)
        template = reader.text("template", DEFAULT_TEMPLATE, _syntax_problem)
        compiles = len(reader.problems) == before
        content_type = reader.text("content_type", DEFAULT_CONTENT_TYPE, _content_type_problem)
        return _TemplateOptions(
            template=template,
            compiles=compiles,
            content_type=_with_charset(content_type),
            file_extension=reader.text("file_extension", "txt", _file_extension_problem),
            autoescape=reader.boolean("autoescape", default=_is_markup(content_type)),
        )

    def check_with(
        self, options: _TemplateOptions, mapping: FieldMapping, reader: OptionReader
    ) -> None:
        if not options.compiles:
            return
        problem = _sample_problem(options.template, options.autoescape, mapping)
        if problem is not None:
            reader.problem("template", problem)

    def render_with(
        self, document: Mapping[str, Any], options: _TemplateOptions
    ) -> RenderedContent:
        template = _compiled(options.template, options.autoescape)
        text = template.render(template_context(document))
        return RenderedContent(
            body=encodable_text(text).encode("utf-8"),
            content_type=options.content_type,
            file_extension=options.file_extension,
        )
