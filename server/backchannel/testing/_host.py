"""A transport run the way the host runs it, for a plugin's own tests: found through its
entry point, a recipient's settings read against its settings model, sends and probes
through the host's wrapper (deadline, failures made results, secrets masked). These call
the host's own code."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from backchannel.plugin import FieldProblem, Formatter, Transport, TransportSettings
from backchannel.plugin_host import load_plugins
from backchannel.recipient_transport import PreparedRecipient, prepare
from backchannel.transport_settings import read_settings

SettingsT = TypeVar("SettingsT", bound=TransportSettings)


def installed_formatter(name: str) -> Formatter:
    """The formatter ``name``, found through the installed distributions' entry points
    exactly as the server finds it."""
    formatters = load_plugins().formatters
    if name not in formatters:
        raise LookupError(
            f"no installed plugin registers a formatter named {name!r} "
            f"(installed: {', '.join(sorted(formatters)) or 'none'}); pip install -e your "
            "distribution, with an entry point in the 'backchannel' group"
        )
    return formatters[name]


def installed_transport(name: str) -> Transport[Any]:
    """A fresh instance of the transport ``name``, found through the installed
    distributions' entry points exactly as the server finds it (not yet started)."""
    transports = load_plugins().transports
    if name not in transports:
        raise LookupError(
            f"no installed plugin registers a transport named {name!r} "
            f"(installed: {', '.join(sorted(transports)) or 'none'}); pip install -e your "
            "distribution, with an entry point in the 'backchannel' group"
        )
    return transports[name]


def settings_problems(
    transport: Transport[Any], settings: Mapping[str, Any], secrets: Mapping[str, Any]
) -> list[FieldProblem]:
    """Every problem the host finds with a recipient's ``transport_settings`` and
    ``secret_settings`` for ``transport``, as CreateRecipient would report them."""
    return list(read_settings(transport, settings, secrets).problems)


def parsed_settings(
    transport: Transport[SettingsT], settings: Mapping[str, Any], secrets: Mapping[str, Any]
) -> SettingsT:
    """The settings ``transport.send`` and ``probe`` are given for a recipient with these
    settings; raises ``ValueError`` listing the problems when there are any."""
    read = read_settings(transport, settings, secrets)
    if read.settings is None:
        raise ValueError(f"the settings have problems: {read.describe_problems()}")
    parsed: SettingsT = read.settings  # type: ignore[assignment]  # read with its own model
    return parsed


def prepare_recipient(
    transport: Transport[Any], settings: Mapping[str, Any], secrets: Mapping[str, Any]
) -> PreparedRecipient:
    """``transport`` with one recipient's settings, as the host calls it: ``await
    prepared.send(message, deadline)`` and ``await prepared.probe(deadline)`` return what the
    host records or answers (settings problems as a failed result or step, exceptions and
    timeouts as failures, every secret of the recipient masked)."""
    return prepare(transport, settings, secrets)
