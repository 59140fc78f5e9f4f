"""A recipient's Slack settings, declared once: the host checks them (and never quotes the
secret URL in a problem) and hands the transport the parsed result."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Final

from pydantic import AfterValidator, Field
from yarl import URL

from backchannel.plugin import Destination, Secret, TransportSettings
from backchannel.plugin_support import ConnectTimeoutSeconds, number_above_zero, one_line, web_url

MAX_TITLE_CHARS: Final = 150
MAX_TIMEOUT: Final = 300.0


def _https_unless_loopback(url: URL) -> URL:
    if url.scheme == "http" and not _is_loopback(url.host or ""):
        raise ValueError("must be https:// (http:// is accepted only for loopback tests)")
    if url.user or url.password:
        raise ValueError("must not carry user information")
    return url


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


SlackWebhookUrl = Annotated[URL, web_url("https", "http"), AfterValidator(_https_unless_loopback)]


class SlackSettings(TransportSettings):
    """The settings of one Slack recipient: the incoming webhook's URL (its own credential,
    so a secret), a title, timeouts."""

    url: Annotated[
        SlackWebhookUrl,
        Secret(because="the webhook URL is its own credential"),
        Destination(),
    ] = Field(description="the incoming webhook's URL")
    title: Annotated[str, one_line(MAX_TITLE_CHARS)] | None = None
    connect_timeout_seconds: ConnectTimeoutSeconds | None = None
    timeout_seconds: Annotated[float, number_above_zero(MAX_TIMEOUT)] | None = None
