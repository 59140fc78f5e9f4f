"""What runs inside a template worker process (see :mod:`backchannel.template_pool`): every
function here is called there, by reference, with picklable arguments, and returns or
raises something picklable. Nothing here runs on an event loop.

- :func:`render_template`: a sandboxed Jinja2 template for a transport
  (``TransportContext.render_template``), its output capped;
- :func:`formatter_render` and :func:`formatter_options_problems`: a formatter that
  declares ``renders_untrusted_templates``, called as the host would call it in-process;
- :func:`settings_problems`: a transport's settings read, for a transport that declares
  ``renders_untrusted_templates`` (its settings model may render templates against sample
  documents while it validates).
"""

from __future__ import annotations

import resource
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from backchannel.plugin import FeedbackDocument, FieldProblem, Formatter, RenderedContent
from backchannel.plugin._messages import TemplateFailed, TransportContext

_in_worker = False


def in_template_worker() -> bool:
    """Whether this process is a template worker (where untrusted templates may run)."""
    return _in_worker


def start_worker(memory_bytes: int) -> None:
    """The pool's initializer: marks the process and caps its address space, so a
    template that allocates without end fails with MemoryError instead of taking the
    machine's memory."""
    global _in_worker
    _in_worker = True
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))


def _print_none_as_nothing(value: Any) -> Any:
    return "" if value is None else value


_ENVIRONMENTS = {
    autoescape: ImmutableSandboxedEnvironment(
        undefined=jinja2.StrictUndefined, autoescape=autoescape, finalize=_print_none_as_nothing
    )
    for autoescape in (False, True)
}


@lru_cache(maxsize=256)
def _compiled(source: str, autoescape: bool) -> jinja2.Template:
    try:
        return _ENVIRONMENTS[autoescape].from_string(source)
    except jinja2.TemplateSyntaxError as error:
        raise TemplateFailed(f"syntax error on line {error.lineno}: {error.message}") from None


def render_template(
    source: str, namespace: Mapping[str, Any], autoescape: bool, max_chars: int
) -> str:
    """``source`` rendered against ``namespace``; raises TemplateFailed with a reason that
    holds no value of the namespace."""
    template = _compiled(source, autoescape)
    parts: list[str] = []
    size = 0
    try:
        for part in template.generate(namespace):
            size += len(part)
            if size > max_chars:
                raise TemplateFailed(f"its output is longer than {max_chars} characters")
            parts.append(part)
    except jinja2.UndefinedError as error:
        raise TemplateFailed(f"uses a name the document does not have: {error.message}") from None
    except jinja2.TemplateError as error:
        raise TemplateFailed(f"cannot be rendered: {error.message}") from None
    except MemoryError:
        raise TemplateFailed("ran out of memory while rendering") from None
    except (ArithmeticError, TypeError, ValueError, LookupError, RecursionError) as error:
        raise TemplateFailed(f"cannot be rendered: {type(error).__name__}") from None
    return "".join(parts)


def formatter_render(
    formatter: Formatter, document: FeedbackDocument, options: Mapping[str, Any], max_bytes: int
) -> RenderedContent:
    try:
        content = formatter.render(document, options)
    except MemoryError:
        raise TemplateFailed("ran out of memory while rendering") from None
    if len(content.body) > max_bytes:
        raise TemplateFailed(f"its output is larger than {max_bytes} bytes")
    return content


def formatter_options_problems(
    formatter: Formatter, options: Mapping[str, Any]
) -> list[FieldProblem]:
    return list(formatter.check_options(options))


def settings_problems(
    transport_name: str,
    settings_model: Any,
    settings: Mapping[str, Any],
    secrets: Mapping[str, Any],
    allowed_networks: tuple[Any, ...] = (),
) -> list[FieldProblem]:
    """What the host's settings read finds wrong, for a transport known here only by its
    name, settings model and outbound allowlist (a started transport holds sessions that
    do not travel)."""
    from backchannel.transport_settings import read_settings

    class _Named:
        name = transport_name
        context = TransportContext(allowed_networks=allowed_networks)

    _Named.settings_model = settings_model  # type: ignore[attr-defined]
    return list(read_settings(_Named(), settings, secrets).problems)  # type: ignore[arg-type]
