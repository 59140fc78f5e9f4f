"""The base classes a plugin's transports and formatters subclass, and the hooks that
register them.

Every member but ``name``, ``settings_model`` and ``send`` (a formatter: ``name`` and
``render``) has a default here, so a member added later breaks no plugin.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, Generic, TypeVar

import pluggy

from ._document import FeedbackDocument
from ._files import OutboundFile
from ._messages import (
    DeliveryResult,
    FieldProblem,
    OutboundMessage,
    ProbeStep,
    RenderedContent,
    TransportContext,
)
from ._settings import TransportSettings

PROJECT_NAME = "backchannel"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

SettingsT = TypeVar("SettingsT", bound=TransportSettings)


class Transport(ABC, Generic[SettingsT]):
    """Delivers rendered feedback to a recipient. Subclass it, set ``name`` and
    ``settings_model``, and implement :meth:`send`::

        class AcmeTransport(Transport[AcmeSettings]):
            name = "acme"
            settings_model = AcmeSettings

            async def send(self, message, settings):
                ...

    The host owns retries, timeouts around the call, rate limits, logging, tracing, the
    address guard (see :class:`TransportContext`) and masking secrets in what a transport
    answers; a transport only transmits.
    """

    #: What recipients set as their ``transport``: lower-case letters, digits, ``-`` and
    #: ``_``, starting with a letter.
    name: str
    #: The settings a recipient gives this transport, as a :class:`TransportSettings`
    #: model. The host reads them once per recipient revision and passes the result to
    #: :meth:`send` and :meth:`probe`.
    settings_model: type[SettingsT]
    #: The host's context, set by :meth:`start`.
    context: TransportContext = TransportContext()
    #: True when validating this transport's settings renders templates a recipient gave
    #: (against sample documents, to find mistakes when it is saved): the host then
    #: checks them in its template workers, with a time budget, never on an event loop.
    #: Render at send time with ``self.context.render_template``.
    renders_untrusted_templates: ClassVar[bool] = False
    #: Whether :meth:`send_file` sends a file larger than ``OutboundFile.part_size`` as
    #: numbered parts (a recipient may then ask for that).
    splits_files: ClassVar[bool] = False

    async def start(self, context: TransportContext) -> None:
        """Called once in the running event loop before the first send: open sessions and
        pools here. The default keeps ``context`` as ``self.context``; call it when you
        override this."""
        self.context = context

    @abstractmethod
    async def send(self, message: OutboundMessage, settings: SettingsT) -> DeliveryResult:
        """Makes one transmission to the recipient ``settings`` describe. Returns a result
        for every outcome a remote can cause: a 500, a refused login and a timeout are
        results (``retryable=True`` when trying later may work), not exceptions."""

    async def send_file(self, file: OutboundFile, settings: SettingsT) -> DeliveryResult:
        """Makes one transmission of a file (a batch file and its companions) to the
        recipient, streaming ``file.open()``. Same rules as :meth:`send`: failures are
        results. The default carries no files and says so; override it to carry them."""
        return DeliveryResult(
            succeeded=False, response_excerpt=f"the {self.name} transport cannot carry files"
        )

    @classmethod
    def supports_files(cls) -> bool:
        """Whether the transport carries files: true when it overrides :meth:`send_file`."""
        return cls.send_file is not Transport.send_file

    async def probe(self, settings: SettingsT) -> Sequence[ProbeStep]:
        """Checks a recipient for real before it goes live (log in, write and remove a
        file, send a test message...), step by step, stopping at the first failure. The
        host has checked the settings already. The default has no check to make and says
        so."""
        return [
            ProbeStep(
                "endpoint",
                True,
                f"not checked: the {self.name} transport has no probe; "
                "the first delivery will show whether the endpoint takes it",
            )
        ]

    async def aclose(self) -> None:
        """Releases connections; called once at shutdown. The default has none."""


class Formatter(ABC):
    """Turns the canonical feedback document into bytes for a recipient. Subclass it, set
    ``name`` and implement :meth:`render`."""

    #: What recipients set as their ``format``, like a transport's name.
    name: str
    #: True when options carry templates a recipient wrote: the host then calls
    #: :meth:`check_options` and :meth:`render` in its template workers (a time budget,
    #: an output cap), never on an event loop, so the formatter may render with Jinja2
    #: directly. The formatter must be picklable.
    renders_untrusted_templates: ClassVar[bool] = False

    def check_options(self, options: Mapping[str, Any]) -> Sequence[FieldProblem]:
        """Problems with a recipient's ``format_options``, each named by its path
        (``format_options.fields[2]``); empty when they are usable. The default takes no
        options."""
        return [
            FieldProblem(f"format_options.{option}", f"the {self.name} format takes no options")
            for option in options
        ]

    @abstractmethod
    def render(self, document: FeedbackDocument, options: Mapping[str, Any]) -> RenderedContent:
        """Renders one feedback document with options :meth:`check_options` accepted.
        Must not change the document: the host shares it."""


RegisterTransport = Callable[[Transport[Any]], None]
RegisterFormatter = Callable[[Formatter], None]


class HookSpecs:
    """The hooks a plugin may implement."""

    @hookspec
    def register_transports(self, register: RegisterTransport) -> None:
        """Call ``register(transport)`` for each transport the plugin provides."""

    @hookspec
    def register_formatters(self, register: RegisterFormatter) -> None:
        """Call ``register(formatter)`` for each formatter the plugin provides."""
