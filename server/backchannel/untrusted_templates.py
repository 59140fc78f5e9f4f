"""Where the host calls a plugin's code that renders templates a recipient wrote: in the
template workers (:mod:`backchannel.template_pool`) for a formatter or transport that
declares ``renders_untrusted_templates``, in-process for the others. Every caller that
checks a recipient's settings or options, or renders a delivery's content, goes through
here, so none of it runs a recipient's template on an event loop."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from backchannel import template_pool, template_worker
from backchannel.plugin import (
    FeedbackDocument,
    FieldProblem,
    Formatter,
    RenderedContent,
    TemplateFailed,
    Transport,
)
from backchannel.transport_settings import read_settings


async def option_problems(formatter: Formatter, options: Mapping[str, Any]) -> list[FieldProblem]:
    """What ``formatter.check_options`` finds wrong with ``options``."""
    if not formatter.renders_untrusted_templates:
        return list(formatter.check_options(options))
    try:
        return await template_pool.shared().run(
            template_worker.formatter_options_problems, formatter, dict(options)
        )
    except TemplateFailed as error:
        return [FieldProblem("format_options", f"could not be checked: a template {error}")]


async def settings_problems(
    transport: Transport[Any], settings: Mapping[str, Any], secrets: Mapping[str, Any]
) -> list[FieldProblem]:
    """What the host's read of a recipient's settings for ``transport`` finds wrong."""
    if not transport.renders_untrusted_templates:
        return list(read_settings(transport, settings, secrets).problems)
    try:
        return await template_pool.shared().run(*_settings_check(transport, settings, secrets))
    except TemplateFailed as error:
        return _not_checked(error)


def settings_problems_blocking(
    transport: Transport[Any], settings: Mapping[str, Any], secrets: Mapping[str, Any]
) -> list[FieldProblem]:
    """:func:`settings_problems` without an event loop (``backchannel.testing``)."""
    if not transport.renders_untrusted_templates:
        return list(read_settings(transport, settings, secrets).problems)
    try:
        return template_pool.shared().run_blocking(*_settings_check(transport, settings, secrets))
    except TemplateFailed as error:
        return _not_checked(error)


def _settings_check(
    transport: Transport[Any], settings: Mapping[str, Any], secrets: Mapping[str, Any]
) -> tuple[
    Callable[..., list[FieldProblem]], str, Any, dict[str, Any], dict[str, Any], tuple[Any, ...]
]:
    """The worker's call that reads a transport's settings: a started transport holds
    sessions that do not travel, so it goes by name, settings model and the operator's
    outbound allowlist (which the destination checks read)."""
    return (
        template_worker.settings_problems,
        transport.name,
        transport.settings_model,
        dict(settings),
        dict(secrets),
        tuple(transport.context.allowed_networks),
    )


def _not_checked(error: TemplateFailed) -> list[FieldProblem]:
    return [FieldProblem("transport_settings", f"could not be checked: a template {error}")]


async def render_content(
    formatter: Formatter, document: FeedbackDocument, options: Mapping[str, Any]
) -> RenderedContent:
    """``formatter.render(document, options)``; raises TemplateFailed when a template
    runs past the budget or its output past the cap."""
    if not formatter.renders_untrusted_templates:
        return formatter.render(document, options)
    pool = template_pool.shared()
    return await pool.run(
        template_worker.formatter_render,
        formatter,
        document,
        dict(options),
        pool.budget.max_output_bytes,
    )
