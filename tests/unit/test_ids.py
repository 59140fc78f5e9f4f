"""Identifiers carry their creation time in their first digits, so they sort by it."""

from __future__ import annotations

import time

from backchannel.ids import new_id

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def decoded(identifier: str) -> int:
    value = 0
    for digit in identifier.split("_", 1)[1]:
        value = value * 32 + ALPHABET.index(digit)
    return value


def test_an_id_is_the_prefix_and_26_crockford_digits_of_time_and_randomness() -> None:
    before = int(time.time() * 1000)
    identifier = new_id("fb")
    after = int(time.time() * 1000)

    prefix, digits = identifier.split("_", 1)
    assert prefix == "fb"
    assert len(digits) == 26 and set(digits) <= set(ALPHABET)
    assert before <= decoded(identifier) >> 80 <= after


def test_ids_made_later_sort_later_and_never_repeat() -> None:
    first = [new_id("dlv") for _ in range(1000)]
    time.sleep(0.002)
    later = new_id("dlv")

    assert len(set(first)) == 1000
    assert all(identifier < later for identifier in first)
