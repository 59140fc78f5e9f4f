"""The subject, body and HTML templates: Jinja2 in a sandbox, strict about names.

Templates see every field of the canonical feedback document at the top level
(``lead_id``, ``outcome.value``, ``return.reason_code``...). A field the feedback lacks is
``None``, which prints as nothing, so a template that renders against :data:`SAMPLE_DOCUMENT`
renders against every real document; a name the document can never have (a typo) is an
error, found when the recipient is saved rather than at send time.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from functools import lru_cache
from typing import Any, Final, get_origin, get_type_hints, is_typeddict

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from backchannel.plugin import FeedbackDocument
from backchannel.plugin import TemplateFailed as HostTemplateFailed
from backchannel.plugin_support import in_template_worker, template_amplifier

DEFAULT_SUBJECT_TEMPLATE: Final = "Lead {{ lead_id }}: {{ kind }}"
DEFAULT_BODY_TEMPLATE: Final = """\
Lead {{ lead_id }}: {{ kind }} feedback
Feedback id: {{ feedback_id }}
{%- if source_id is not none %}
Source: {{ source_id }}
{%- endif %}
{%- if (feedback_date or accepted_at) is not none %}
Feedback date: {{ feedback_date or accepted_at }}
{%- endif %}
{%- if outcome.status is not none or outcome.value is not none %}

Outcome: {{ outcome.status if outcome.status is not none else "-" }}
{%- if outcome.value is not none %}
Value: {{ outcome.value }}{% if outcome.currency is not none %} {{ outcome.currency }}{% endif %}
{%- endif %}
{%- if outcome.conversion_date is not none %}
Conversion date: {{ outcome.conversion_date }}
{%- endif %}
{%- if outcome.product is not none %}
Product: {{ outcome.product }}
{%- endif %}
{%- endif %}
{%- if return.reason_code is not none or return.reason_text is not none %}

Returned: {{ [return.reason_code, return.reason_text] | select | join(" - ") }}
{%- endif %}
{%- if quality.overall_score is not none %}

Quality score: {{ quality.overall_score }}
{%- for name, score in quality | dictsort if name != "overall_score" and score is not none %}
  {{ name }}: {{ score }}
{%- endfor %}
{%- endif %}
{%- if attribution.campaign is not none or attribution.creative is not none
      or attribution.keyword is not none %}

Attribution: campaign {{ attribution.campaign or "-" }}, creative \
{{ attribution.creative or "-" }}, keyword {{ attribution.keyword or "-" }}
{%- endif %}
"""

#: Quality dimensions are open-ended; these are in every template's namespace (as None when
#: a document lacks them), others are reached with ``quality.get("name")``.
USUAL_QUALITY_SCORES: Final = (
    "overall_score",
    "data_quality",
    "conversion_likelihood",
    "customer_satisfaction",
)


def _empty(kind: Any) -> Any:
    """What a template sees for a field of type ``kind`` that a document lacks."""
    if is_typeddict(kind):
        return {name: _empty(part) for name, part in get_type_hints(kind).items()}
    origin = get_origin(kind)
    return {} if origin is dict else [] if origin is list else None


#: Every field of the canonical document (``backchannel.plugin.FeedbackDocument``) with what
#: a template sees when a document lacks it, nested parts included: so a template that
#: renders against :data:`SAMPLE_DOCUMENT` renders against every real document.
_SKELETON: Final[Mapping[str, Any]] = {
    name: _empty(kind) for name, kind in get_type_hints(FeedbackDocument).items()
} | {"quality": dict.fromkeys(USUAL_QUALITY_SCORES)}

#: A conversion with every field set: what templates are checked against when a recipient is
#: saved.
SAMPLE_DOCUMENT: Final[FeedbackDocument] = {
    "feedback_id": "fb_01hzysample0000000000000",
    "kind": "conversion",
    "lead_id": "lead-1001",
    "source_id": "source-7",
    "flow_id": "flow-2",
    "event_id": "event-3",
    "click_id": "click-4",
    "transaction_id": "txn-5",
    "feedback_date": "2025-01-15T10:30:00Z",
    "accepted_at": "2025-01-15T10:30:01Z",
    "outcome": {
        "status": "sold",
        "conversion_date": "2025-01-14T16:00:00Z",
        "value": Decimal("1250.00"),
        "currency": "USD",
        "product": "auto-insurance",
    },
    "return": {"reason_code": "DUP", "reason_text": "duplicate lead"},
    "quality": {
        "overall_score": 87,
        "data_quality": 90,
        "conversion_likelihood": 80,
        "customer_satisfaction": 92,
    },
    "attribution": {
        "campaign": "spring",
        "creative": "banner-a",
        "keyword": "cheap insurance",
        "sub_ids": {"s1": "x"},
    },
    "consents": [{"provider": "trustedform", "reference": "cert-1"}],
    "attributes": {"channel": "web"},
}

MAX_TEMPLATE_CHARS: Final = 64 * 1024


def _print_none_as_nothing(value: Any) -> Any:
    return "" if value is None else value


# Immutable: a template must not change the document it is shown (the host shares it).
_TEXT = ImmutableSandboxedEnvironment(
    undefined=jinja2.StrictUndefined, autoescape=False, finalize=_print_none_as_nothing
)
_HTML = ImmutableSandboxedEnvironment(
    undefined=jinja2.StrictUndefined, autoescape=True, finalize=_print_none_as_nothing
)


class TemplateFailed(HostTemplateFailed):
    """A template does not compile or does not render; the message says where and why."""


@lru_cache(maxsize=256)
def _compiled(source: str, html: bool) -> jinja2.Template:
    environment = _HTML if html else _TEXT
    try:
        return environment.from_string(source)
    except jinja2.TemplateSyntaxError as error:
        raise TemplateFailed(f"syntax error on line {error.lineno}: {error.message}") from None


def template_namespace(
    document: FeedbackDocument, *, delivery_id: str = "", event_type: str = ""
) -> dict[str, Any]:
    """What a template sees: the document laid over the skeleton, plus a few facts of the
    delivery (``delivery_id``, ``event_type``) and the untouched ``document``."""
    namespace: dict[str, Any] = {}
    for name, empty in _SKELETON.items():
        value = document.get(name)
        if isinstance(empty, dict) and empty and isinstance(value, Mapping):
            namespace[name] = {**empty, **value}
        elif value is None:
            namespace[name] = empty.copy() if isinstance(empty, dict | list) else None
        else:
            namespace[name] = value
    for name, value in document.items():
        namespace.setdefault(name, value)
    namespace.update(document=document, delivery_id=delivery_id, event_type=event_type)
    return namespace


def render(source: str, namespace: Mapping[str, Any], *, html: bool = False) -> str:
    """Renders one template; raises :class:`TemplateFailed` with a secret-free reason."""
    template = _compiled(source, html)
    try:
        return template.render(namespace)
    except jinja2.UndefinedError as error:
        raise TemplateFailed(f"uses a name the document does not have: {error.message}") from None
    except jinja2.TemplateError as error:
        raise TemplateFailed(f"cannot be rendered: {error.message}") from None
    except (ArithmeticError, TypeError, ValueError, LookupError) as error:
        raise TemplateFailed(f"cannot be rendered: {type(error).__name__}: {error}") from None


def template_problem(source: str, *, html: bool = False) -> str | None:
    """Why a template is unusable (an amplifier, syntax, or a name the sample document
    lacks), or None. The sample is rendered only in the host's template workers (where the
    host checks this transport's settings when a recipient is saved: the transport
    declares ``renders_untrusted_templates``); elsewhere only what needs no rendering is
    checked, never running a recipient's template on an event loop."""
    amplifier = template_amplifier(source)
    if amplifier is not None:
        return f"is refused: {amplifier}"
    try:
        _compiled(source, html)
        if in_template_worker():
            namespace = template_namespace(SAMPLE_DOCUMENT, delivery_id="dlv_sample")
            render(source, namespace, html=html)
    except TemplateFailed as error:
        return str(error)
    return None
