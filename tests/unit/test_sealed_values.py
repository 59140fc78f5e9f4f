"""Sealed secrets: AES-256-GCM with a fresh nonce per value, bound to the key id, the
recipient and the setting name, so a value moved elsewhere does not open."""

from __future__ import annotations

import pytest

from backchannel.model import SealedSecret
from backchannel.sealing.key_ring import KeyRing, new_key_entry, parse_key_ring
from backchannel.sealing.sealed_values import (
    NoSecretKey,
    SecretDoesNotOpen,
    UnknownSecretKey,
    open_sealed,
    open_secrets,
    seal,
    seal_secrets,
)

SECRETS = {"bearer_token": "tok-abc-123", "signing_secrets": ["whsec_a", "whsec_b"]}


def ring(*ids: str) -> KeyRing:
    return parse_key_ring(",".join(new_key_entry(i) for i in ids), "a test")


def test_sealed_secrets_open_to_what_was_sealed() -> None:
    keys = ring("k1")

    sealed = seal_secrets(keys, "acme", SECRETS)

    assert open_secrets(keys, "acme", sealed) == SECRETS
    assert {value.key_id for value in sealed.values()} == {"k1"}


def test_a_sealed_value_holds_no_plaintext_and_each_has_its_own_nonce() -> None:
    keys = ring("k1")
    assert keys.newest is not None

    one = seal(keys.newest, "acme", "bearer_token", "tok-abc-123")
    two = seal(keys.newest, "acme", "bearer_token", "tok-abc-123")

    assert b"tok-abc-123" not in one.ciphertext
    assert one.nonce != two.nonce and one.ciphertext != two.ciphertext
    assert len(one.nonce) == 12


def test_new_secrets_are_sealed_under_the_newest_key_and_older_ones_still_open() -> None:
    old = ring("k1")
    sealed_before = seal_secrets(old, "acme", SECRETS)
    both = parse_key_ring(new_key_entry("k2") + "," + _entry_of(old, "k1"), "a test")

    sealed_now = seal_secrets(both, "acme", SECRETS)

    assert {value.key_id for value in sealed_now.values()} == {"k2"}
    assert open_secrets(both, "acme", sealed_before) == SECRETS


@pytest.mark.parametrize(
    ("recipient_id", "name"),
    [("other", "bearer_token"), ("acme", "api_key")],
    ids=["another recipient", "another setting"],
)
def test_a_value_moved_to_another_recipient_or_setting_does_not_open(
    recipient_id: str, name: str
) -> None:
    keys = ring("k1")
    sealed = seal_secrets(keys, "acme", {"bearer_token": "tok-abc-123"})["bearer_token"]

    with pytest.raises(SecretDoesNotOpen) as refused:
        open_sealed(keys, recipient_id, name, sealed)

    assert f"of recipient {recipient_id!r}" in str(refused.value)
    assert "tok-abc-123" not in str(refused.value)


def test_a_value_relabelled_with_another_key_id_does_not_open() -> None:
    keys = ring("k1", "k2")
    sealed = seal_secrets(keys, "acme", {"api_key": "key-1234"})["api_key"]

    with pytest.raises(SecretDoesNotOpen):
        open_sealed(keys, "acme", "api_key", SealedSecret("k2", sealed.nonce, sealed.ciphertext))


def test_an_altered_value_does_not_open() -> None:
    keys = ring("k1")
    sealed = seal_secrets(keys, "acme", {"api_key": "key-1234"})["api_key"]
    flipped = bytes([sealed.ciphertext[0] ^ 1]) + sealed.ciphertext[1:]

    with pytest.raises(SecretDoesNotOpen):
        open_sealed(keys, "acme", "api_key", sealed._replace(ciphertext=flipped))


def test_a_value_under_a_key_not_configured_names_the_key_id() -> None:
    sealed = seal_secrets(ring("gone-key"), "acme", {"api_key": "key-1234"})

    with pytest.raises(UnknownSecretKey) as refused:
        open_secrets(ring("k2"), "acme", sealed)

    assert refused.value.key_id == "gone-key"
    assert "key id 'gone-key', which is not configured (configured: 'k2'" in str(refused.value)


def test_sealing_without_a_key_is_refused_and_nothing_needs_none() -> None:
    assert seal_secrets(KeyRing(), "acme", {}) == {}
    with pytest.raises(NoSecretKey):
        seal_secrets(KeyRing(), "acme", {"api_key": "key-1234"})


def _entry_of(keys: KeyRing, key_id: str) -> str:
    import base64

    key = keys.get(key_id)
    assert key is not None
    return f"{key.id}:{base64.b64encode(key.material).decode()}"
