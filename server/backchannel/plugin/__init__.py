"""The public plugin API: what a transport or formatter author imports.
(:mod:`backchannel.plugin_support` adds shared setting types and helpers every transport
needs alike; :mod:`backchannel.testing` holds the conformance suites.)

A plugin is an ordinary distribution with an entry point in the ``backchannel`` group whose
module implements one or both registration hooks::

    from backchannel.plugin import hookimpl

    @hookimpl
    def register_transports(register):
        register(MyTransport())

The host calls each hook once at start-up. A transport subclasses :class:`Transport` and
declares its settings as a :class:`TransportSettings` model; the host validates each
recipient's settings against it and passes the parsed settings to ``send`` and ``probe``.
Everything on the send path is plain async code: the host owns retries, timeouts, rate
limits, logging, tracing, the address guard and masking secrets; a transport only
transmits and answers with a :class:`DeliveryResult`; a formatter only renders.
"""

from __future__ import annotations

from backchannel.outbound import IPNetwork

from ._components import (
    PROJECT_NAME,
    Formatter,
    HookSpecs,
    RegisterFormatter,
    RegisterTransport,
    Transport,
    hookimpl,
    hookspec,
)
from ._document import (
    Attribution,
    Consent,
    FeedbackDocument,
    FeedbackKind,
    Outcome,
    ReturnDetails,
)
from ._files import CompanionFile, OutboundFile
from ._messages import (
    ContentRefused,
    DeliveryResult,
    FieldProblem,
    OutboundMessage,
    ProbeStep,
    RenderedContent,
    TemplateFailed,
    TransportContext,
)
from ._settings import Destination, Secret, SettingError, TransportSettings

__all__ = [
    "PROJECT_NAME",
    "Attribution",
    "CompanionFile",
    "Consent",
    "ContentRefused",
    "DeliveryResult",
    "Destination",
    "FeedbackDocument",
    "FeedbackKind",
    "FieldProblem",
    "Formatter",
    "HookSpecs",
    "IPNetwork",
    "OutboundFile",
    "OutboundMessage",
    "Outcome",
    "ProbeStep",
    "RegisterFormatter",
    "RegisterTransport",
    "RenderedContent",
    "ReturnDetails",
    "Secret",
    "SettingError",
    "TemplateFailed",
    "Transport",
    "TransportContext",
    "TransportSettings",
    "hookimpl",
    "hookspec",
]
