"""How a transport declares its settings: one pydantic model, secret settings marked.

The host validates a recipient's ``transport_settings`` and ``secret_settings`` against the
model once per recipient revision, reports what is wrong as field problems named by path,
and hands the transport the parsed, typed settings. The transport never reads raw settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import IPv6Address
from typing import Self

from pydantic import BaseModel, ConfigDict, PrivateAttr, ValidationInfo, model_validator

from backchannel.outbound import IPNetwork, address_literal, embedded_ipv4, is_allowlisted

#: The key under which the host passes, in the validation context, the names of the
#: settings given in ``secret_settings``.
GIVEN_AS_SECRET = "backchannel.given_as_secret"
#: The key under which the host passes, in the validation context, the networks its
#: operator allowlists for outbound connections.
ALLOWED_NETWORKS = "backchannel.allowed_networks"


@dataclass(frozen=True)
class Secret:
    """Marks a setting as secret where it is declared::

        password: Annotated[str | None, Secret()] = None

    A secret setting is given in a recipient's ``secret_settings`` and refused in
    ``transport_settings``; it is never shown back, and the host masks it (in every
    spelling it knows) in whatever the transport answers."""

    #: Also accepted in ``transport_settings``, where it is not a secret: a URL that may or
    #: may not carry a credential. :meth:`TransportSettings.is_secret` says which it was.
    or_plain: bool = False
    #: Why the setting is secret, said when someone gives it in ``transport_settings``.
    because: str = ""


@dataclass(frozen=True)
class Destination:
    """Marks a setting as part of where a recipient's transport sends, or of whom it trusts
    there (a URL, a host, a port, an account, a pinned host key or CA)::

        host: Annotated[HostName, Destination()]

    An update that changes any such setting of a stored recipient must give the
    recipient's secret settings again, as a browser drops credentials on a redirect to
    another origin: whoever may edit a recipient cannot have its password sent to a
    server of their own. A transport that marks no setting is taken to have every setting
    in its destination."""


class SettingError(ValueError):
    """Raised by a validator to name the setting at fault when it is not the one being
    validated (a model validator's rule across settings, a key of a mapping)::

        raise SettingError("password", "is required unless private_key is given")

    ``path`` is a setting's name or a tuple of names and indexes (``("headers", "X-Id")``).
    The message must not contain a secret value."""

    def __init__(self, path: str | tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.path: tuple[str | int, ...] = (path,) if isinstance(path, str) else path


class TransportSettings(BaseModel):
    """Base class of a transport's settings model. Declare every setting as a field, with
    its type, default and limits (``Annotated[float, Field(gt=0, le=300)]``); mark secret
    ones with :class:`Secret`; put rules across settings in validators (a field validator
    sees the settings declared before it in ``info.data``). Names the model does not
    declare are refused, and so are values of the wrong type: ``"yes"`` is not a bool and
    ``"22"`` not a number. The shared types of :mod:`backchannel.plugin_support` (ports,
    host names, timeouts, certificates...) keep the rules the same across transports.

    A validator's ``ValueError`` message becomes the problem's description: describe what
    is wrong, never quote the value."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        strict=True,
        arbitrary_types_allowed=True,
        hide_input_in_errors=True,
    )

    _given_as_secret: frozenset[str] = PrivateAttr(default=frozenset())
    _allowed_networks: tuple[IPNetwork, ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _remember_the_settings_given_as_secrets(self, info: ValidationInfo) -> Self:
        # Runs before a subclass's model validators, so they may call is_secret() and
        # plaintext_credentials_allowed().
        context = info.context
        if isinstance(context, Mapping):
            self._given_as_secret = frozenset(context.get(GIVEN_AS_SECRET, ()))
            self._allowed_networks = tuple(context.get(ALLOWED_NETWORKS, ()))
        return self

    @classmethod
    def secret_names(cls) -> frozenset[str]:
        """The settings marked :class:`Secret`, including those that may also be plain."""
        return frozenset(declared_secrets(cls))

    def is_secret(self, name: str) -> bool:
        """Whether setting ``name`` is a secret in this recipient: marked :class:`Secret`,
        and given in ``secret_settings`` when it may be either."""
        marker = declared_secrets(type(self)).get(name)
        return marker is not None and (not marker.or_plain or name in self._given_as_secret)

    def plaintext_credentials_allowed(self, host: str) -> bool:
        """Whether credentials may cross to ``host`` unencrypted (``http://``): only when
        it is this machine (a loopback address, ``localhost``) or an address the operator
        allowlists for outbound connections. A host name other than ``localhost`` never
        is: where it resolves is not known when settings are read. Refuse credentials over
        plain text otherwise, unless the recipient says so explicitly."""
        name = host.rstrip(".").lower()
        if name == "localhost" or name.endswith(".localhost"):
            return True
        address = address_literal(host)
        if address is None:
            return False
        wrapped = embedded_ipv4(address) if isinstance(address, IPv6Address) else None
        return (wrapped or address).is_loopback or is_allowlisted(address, self._allowed_networks)


def declared_destination(model: type[BaseModel]) -> frozenset[str]:
    """The settings of ``model`` marked :class:`Destination`; all of them when none is."""
    marked = frozenset(
        name
        for name, info in model.model_fields.items()
        if any(isinstance(m, Destination) for m in info.metadata)
    )
    return marked or frozenset(model.model_fields)


def declared_secrets(model: type[BaseModel]) -> dict[str, Secret]:
    """Each setting of ``model`` marked :class:`Secret`, with its marker."""
    found: dict[str, Secret] = {}
    for name, info in model.model_fields.items():
        marker = next((m for m in info.metadata if isinstance(m, Secret)), None)
        if marker is not None:
            found[name] = marker
    return found
