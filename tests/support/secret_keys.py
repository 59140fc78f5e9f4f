"""The secret keys test servers seal recipients' secrets with: a real Postgres needs them
configured, as a deployment does. Fresh for each test session."""

from __future__ import annotations

from backchannel.sealing.key_ring import KeyRing, new_key_entry, parse_key_ring

#: As BACKCHANNEL_SECRET_KEYS takes it.
TEST_SECRET_KEYS = new_key_entry("test-1")


def key_ring(text: str = TEST_SECRET_KEYS) -> KeyRing:
    return parse_key_ring(text, "BACKCHANNEL_SECRET_KEYS")
