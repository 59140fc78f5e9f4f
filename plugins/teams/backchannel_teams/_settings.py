"""A recipient's Teams settings, declared: the host checks them against this model and hands
the transport the parsed result.

The Workflows URL carries its credential in ``sig=``, so it is only ever a secret setting, and
no problem with it quotes any part of it.
"""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import AfterValidator, Field
from yarl import URL

from backchannel.plugin import Destination, Secret, TransportSettings
from backchannel.plugin_support import (
    ConnectTimeoutSeconds,
    PemCertificates,
    number_above_zero,
    one_line,
    web_url,
)

MAX_TITLE_CHARS: Final = 200
MAX_TIMEOUT_SECONDS: Final = 300.0
#: Workflows throttles a trigger URL above about 4 requests a second.
MAX_REQUESTS_PER_SECOND: Final = 4.0


def _no_user_information(url: URL) -> URL:
    if url.user is not None or url.password is not None:
        raise ValueError("must not carry user:password@ (Workflows signs with sig=)")
    return url


#: Sent exactly as given (percent-encoded): re-encoding it (``%2F`` to ``/`` in ``sp=``)
#: could change what the signature covers.
WorkflowsUrl = Annotated[URL, web_url("https", encoded=True), AfterValidator(_no_user_information)]


class TeamsSettings(TransportSettings):
    """The settings of one Teams recipient (see the README for each)."""

    url: Annotated[
        WorkflowsUrl,
        Secret(because="a Workflows URL carries its credential in sig="),
        Destination(),
    ] = Field(description="the workflow's HTTP POST URL")
    title: Annotated[str, one_line(MAX_TITLE_CHARS, strip=True)] | None = None
    include_personal_data: bool = False
    ca_certificate: Annotated[PemCertificates | None, Destination()] = None
    connect_timeout_seconds: ConnectTimeoutSeconds | None = None
    timeout_seconds: Annotated[float, number_above_zero(MAX_TIMEOUT_SECONDS)] | None = None
    max_requests_per_second: Annotated[
        float, number_above_zero(MAX_REQUESTS_PER_SECOND, what="a number")
    ] = MAX_REQUESTS_PER_SECOND
