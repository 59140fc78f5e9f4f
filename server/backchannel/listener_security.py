"""Refusing an open listener: on a non-loopback address the server must have TLS and
authentication, unless ``BACKCHANNEL_INSECURE=true`` says to go without (and then every
start logs a warning). Loopback, the embedded default, needs neither."""

from __future__ import annotations

import logging

from backchannel.settings import Settings, SettingsError

log = logging.getLogger(__name__)


def tls_configured(settings: Settings) -> bool:
    """Whether the listener serves TLS: when a certificate file is set (api/listener_tls
    refuses to start with a certificate it cannot use)."""
    return bool(settings.tls_cert_file)


def missing_protections(settings: Settings) -> list[str]:
    """What a non-loopback listener lacks; nothing on loopback."""
    if settings.listens_on_loopback:
        return []
    missing = []
    if not tls_configured(settings):
        missing.append("TLS (BACKCHANNEL_TLS_CERT_FILE)")
    if not settings.auth_enabled:
        missing.append("authentication (BACKCHANNEL_AUTH)")
    return missing


def check_listener(settings: Settings) -> None:
    """Raises SettingsError for a non-loopback listener without TLS or authentication,
    unless ``insecure`` allows it; then warns."""
    missing = missing_protections(settings)
    if not missing:
        return
    what = f"listening on {settings.listen} without {' and without '.join(missing)}"
    if not settings.insecure:
        raise SettingsError(
            [
                f"refusing to start {what}: anyone who can reach the port could use it. "
                "Configure them, listen on loopback, or set BACKCHANNEL_INSECURE=true to "
                "accept the risk"
            ]
        )
    log.warning("INSECURE: %s (BACKCHANNEL_INSECURE=true)", what)
