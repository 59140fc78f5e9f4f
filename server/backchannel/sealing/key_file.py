"""Which key ring a process uses: ``BACKCHANNEL_SECRET_KEYS``, the file
``BACKCHANNEL_SECRET_KEY_FILE`` names, or, for the embedded Postgres default only, a key
file the server creates in the data folder (mode 0600) the first time it starts."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from backchannel.sealing.key_ring import KeyRing, KeyRingError, new_key_entry, parse_key_ring
from backchannel.settings import Settings

log = logging.getLogger(__name__)

#: The key file of the embedded default, in its data folder.
EMBEDDED_KEY_FILE = "backchannel-secret-keys"
#: The id of the key the embedded default creates.
EMBEDDED_KEY_ID = "k1"
_HEADER = (
    "# Backchannel's secret keys, newest first, one id:base64-key a line. They seal the\n"
    "# recipients' secret settings in the database: without them those cannot be read.\n"
    "# To rotate: add a new line at the top, restart, run `backchannel secrets rotate`,\n"
    "# then remove the old line and restart again.\n"
)


def read_key_file(path: Path) -> KeyRing:
    try:
        text = path.read_text(encoding="utf-8")
        mode = path.stat().st_mode
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise KeyRingError(f"the secret key file {path} cannot be read: {reason}") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning(
            "the secret key file %s can be read by other users (mode %o): chmod 600 it",
            path,
            stat.S_IMODE(mode),
        )
    ring = parse_key_ring(text, f"the secret key file {path}")
    if not ring.configured:
        raise KeyRingError(f"the secret key file {path} holds no key")
    return ring


def embedded_key_ring(data_dir: Path) -> KeyRing:
    """The embedded default's ring: the key file in ``data_dir``, created (mode 0600, with
    one new key, said once in the log) when it does not exist yet."""
    path = data_dir / EMBEDDED_KEY_FILE
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return read_key_file(path)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(_HEADER + new_key_entry(EMBEDDED_KEY_ID) + "\n")
    log.info(
        "created the secret key file %s (mode 0600): it seals the recipients' secret "
        "settings; keep it with the data folder, since without it they cannot be read",
        path,
    )
    return read_key_file(path)


def configured_key_ring(settings: Settings, embedded_data_dir: Path | None) -> KeyRing:
    """The ring this process uses. ``embedded_data_dir``: the data folder of the embedded
    Postgres, when the process runs one. KeyRingError when the configuration is unusable."""
    if settings.secret_keys.configured and settings.secret_key_file:
        raise KeyRingError("give BACKCHANNEL_SECRET_KEYS or BACKCHANNEL_SECRET_KEY_FILE, not both")
    if settings.secret_keys.configured:
        return settings.secret_keys
    if settings.secret_key_file:
        return read_key_file(Path(settings.secret_key_file))
    if embedded_data_dir is not None:
        return embedded_key_ring(embedded_data_dir)
    return KeyRing()
