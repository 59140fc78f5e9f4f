"""A recipient's Slack settings: every problem with them, never quoting the secret URL."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from yarl import URL

from backchannel.plugin import FieldProblem
from backchannel.plugin_support import positive_number

PLAIN_SETTINGS: Final = frozenset({"title", "connect_timeout_seconds", "timeout_seconds"})
SECRET_SETTINGS: Final = frozenset({"url"})
MAX_TITLE_CHARS: Final = 150
MAX_CONNECT_TIMEOUT: Final = 60.0
MAX_TIMEOUT: Final = 300.0


@dataclass(frozen=True)
class SlackSettings:
    url: URL
    title: str | None
    connect_timeout: float | None
    timeout: float | None


def read_settings(
    settings: Mapping[str, Any], secrets: Mapping[str, Any]
) -> tuple[SlackSettings | None, list[FieldProblem]]:
    """The settings, or every problem with them."""
    problems: list[FieldProblem] = []
    for key in settings:
        if key in SECRET_SETTINGS:
            problems.append(
                FieldProblem(
                    f"transport_settings.{key}",
                    "is secret (the webhook URL is its own credential): give it in secret_settings",
                )
            )
        elif key not in PLAIN_SETTINGS:
            known = ", ".join(sorted(PLAIN_SETTINGS))
            problems.append(
                FieldProblem(
                    f"transport_settings.{key}", f"is not a slack setting (known: {known})"
                )
            )
    for key in secrets:
        if key not in SECRET_SETTINGS:
            problems.append(
                FieldProblem(f"secret_settings.{key}", "is not a slack secret setting (known: url)")
            )
    url = _url(secrets.get("url"), problems)
    title = _title(settings.get("title"), problems)
    connect = positive_number(
        settings, "connect_timeout_seconds", MAX_CONNECT_TIMEOUT, problems, what="a number"
    )
    timeout = positive_number(settings, "timeout_seconds", MAX_TIMEOUT, problems, what="a number")
    if problems or url is None:
        return None, problems
    return SlackSettings(url, title, connect, timeout), []


def _url(value: Any, problems: list[FieldProblem]) -> URL | None:
    field = "secret_settings.url"
    if value is None:
        problems.append(FieldProblem(field, "is required: the incoming webhook's URL"))
        return None
    if not isinstance(value, str) or not value:
        problems.append(FieldProblem(field, "must be a non-empty string"))
        return None
    try:
        url = URL(value)
    except ValueError:
        problems.append(FieldProblem(field, "is not a URL"))
        return None
    if url.scheme not in ("https", "http") or not url.host:
        problems.append(FieldProblem(field, "must be an https:// URL with a host"))
    elif url.scheme == "http" and not _is_loopback(url.host):
        problems.append(
            FieldProblem(field, "must be https:// (http:// is accepted only for loopback tests)")
        )
    if url.user or url.password or url.fragment:
        problems.append(FieldProblem(field, "must not carry user information or a #fragment"))
    return url


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _title(value: Any, problems: list[FieldProblem]) -> str | None:
    if value is None:
        return None
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value) > MAX_TITLE_CHARS
        or "\n" in value
    ):
        problems.append(
            FieldProblem(
                "transport_settings.title", f"must be one line of 1 to {MAX_TITLE_CHARS} characters"
            )
        )
        return None
    return value
