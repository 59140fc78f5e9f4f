"""OptionsMemo: the built-in formatters read a recipient's format options once per mapping
object (the delivery engine hands the same one to every render of a revision)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from backchannel.formatters._options_memo import OptionsMemo


class CountingReader:
    def __init__(self) -> None:
        self.reads = 0

    def __call__(self, settings: Mapping[str, Any], secrets: Mapping[str, Any]) -> str:
        self.reads += 1
        return f"{settings['url']} signed with {secrets['key']}"


def test_the_same_mappings_are_read_once() -> None:
    reader = CountingReader()
    memo = OptionsMemo(reader)
    settings, secrets = {"url": "https://a.example"}, {"key": "k1"}

    answers = {memo(settings, secrets) for _ in range(5)}

    assert answers == {"https://a.example signed with k1"}
    assert reader.reads == 1


def test_other_mappings_are_read_even_with_equal_content() -> None:
    reader = CountingReader()
    memo = OptionsMemo(reader)

    memo({"url": "https://a.example"}, {"key": "k1"})
    answer = memo({"url": "https://b.example"}, {"key": "k2"})
    memo({"url": "https://a.example"}, {"key": "k1"})

    assert answer == "https://b.example signed with k2"
    assert reader.reads == 3


def test_the_same_settings_with_other_secrets_are_read_again() -> None:
    reader = CountingReader()
    memo = OptionsMemo(reader)
    settings = {"url": "https://a.example"}

    memo(settings, {"key": "k1"})
    answer = memo(settings, {"key": "k2"})

    assert answer == "https://a.example signed with k2"
    assert reader.reads == 2


def test_at_most_size_revisions_are_kept() -> None:
    reader = CountingReader()
    memo = OptionsMemo(reader, size=2)
    pairs = [({"url": f"https://{i}.example"}, {"key": "k"}) for i in range(3)]

    for settings, secrets in pairs:
        memo(settings, secrets)
    memo(*pairs[0])

    assert reader.reads == 4  # the third pair made room by forgetting the first
