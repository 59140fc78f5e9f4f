"""What a process checks about the stored secrets before it serves or delivers: that every
key id they are sealed under is configured, and that the key configured under each id is
the one they were sealed with; then it seals what an earlier version stored in plain text.
A problem stops start-up with a message naming the key id: a server that cannot open its
recipients' secrets must not start, still less send anything in their place."""

from __future__ import annotations

import logging
from collections import Counter

import asyncpg

from backchannel.sealing.key_ring import KeyRing
from backchannel.sealing.rotation import PAGE, seal_plaintext_secrets
from backchannel.sealing.sealed_values import NoSecretKey, SecretDoesNotOpen, open_sealed
from backchannel.store import recipient_secrets as store
from backchannel.store.subject_keys import subject_key_ids

log = logging.getLogger(__name__)


class StoredSecretsError(Exception):
    """The stored secrets cannot be read with the configured keys; names the key ids."""


async def check_stored_secrets(pool: asyncpg.Pool, ring: KeyRing) -> None:
    """Raises StoredSecretsError when the stored secrets need a key ``ring`` lacks or
    holds under another id; seals plain-text secrets of earlier versions."""
    in_use = await store.key_ids_in_use(pool)
    # Subjects' data keys are sealed under the same ring: a key they need must stay too.
    for what, needed in (
        ("stored secrets", set(in_use)),
        ("feedback subjects", set(await subject_key_ids(pool))),
    ):
        unknown = sorted(needed - set(ring.ids))
        if not unknown:
            continue
        names = ", ".join(repr(i) for i in unknown)
        configured = (
            f"configured: {', '.join(repr(i) for i in ring.ids)}, from {ring.source}"
            if ring.configured
            else "no secret key is configured"
        )
        raise StoredSecretsError(
            f"{what} are sealed under key id {names}, which this server does not "
            f"have ({configured}): give that key in BACKCHANNEL_SECRET_KEYS or "
            f"BACKCHANNEL_SECRET_KEY_FILE, or the {what} sealed under it cannot be read"
        )
    await _check_keys_open(pool, ring)
    try:
        sealed = await seal_plaintext_secrets(pool, ring)
    except NoSecretKey:
        raise StoredSecretsError(
            "the database holds secret settings an earlier version stored in plain text, and "
            "no secret key is configured to seal them: set BACKCHANNEL_SECRET_KEYS or "
            "BACKCHANNEL_SECRET_KEY_FILE"
        ) from None
    if sealed:
        log.info(
            "sealed the secret settings of %d recipients, which an earlier version stored "
            "in plain text",
            sealed,
        )


async def _check_keys_open(pool: asyncpg.Pool, ring: KeyRing) -> None:
    """Opens every stored secret. One that does not open is logged (altered, or copied from
    another row); a key id under which none opens holds the wrong key: that stops start-up."""
    opened: Counter[str] = Counter()
    failed: Counter[str] = Counter()
    after = ""
    while page := await store.sealed_secrets_page(pool, after, PAGE):
        for recipient_id, sealed in page:
            for name, value in sealed.items():
                try:
                    open_sealed(ring, recipient_id, name, value)
                except SecretDoesNotOpen as error:
                    log.error("%s", error)
                    failed[value.key_id] += 1
                else:
                    opened[value.key_id] += 1
        after = page[-1][0]
    wrong = sorted(key_id for key_id in failed if not opened[key_id])
    if wrong:
        names = ", ".join(repr(i) for i in wrong)
        raise StoredSecretsError(
            f"no stored secret sealed under key id {names} opens with the key configured "
            f"under that id (from {ring.source}): it is not the key they were sealed with"
        )
