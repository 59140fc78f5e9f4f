"""The message a Workflows URL takes: one Adaptive Card summarising a feedback document.

Teams refuses messages above about 28 KB, so a card that would be larger is trimmed here, at
build time (long values are shortened, then facts dropped, personal data first) and says so
in a note: a delivery never fails for its size.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from backchannel.plugin import FeedbackDocument

from ._markdown import escape, one_line
from ._summary import Fact, summarise

CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
#: The newest schema Teams renders.
CARD_VERSION = "1.5"
#: The largest request body sent, in bytes: Teams refuses messages above about 28 KB.
MAX_MESSAGE_BYTES = 28_000
#: Once a card has to be trimmed, no value keeps more characters than this, no title more
#: than the next, and the heading no more than the last.
TRIMMED_VALUE_CHARS = 500
TRIMMED_TITLE_CHARS = 100
TRIMMED_HEADING_CHARS = 300
#: A value shortened to fit keeps at least this many characters, or its fact is dropped.
MIN_SHORTENED_CHARS = 16
ELLIPSIS = "…"
PERSONAL_SECTION = "Personal data"
TEST_CARD_TEXT = "Backchannel test card: lead feedback will be posted here."


@dataclass(frozen=True)
class CardMessage:
    body: bytes
    #: How many facts or texts were shortened or left out to fit the size limit.
    trimmed: int
    #: The kinds of personal data the document had that the card leaves out.
    omitted: tuple[str, ...]


def feedback_message(
    document: FeedbackDocument,
    *,
    title: str | None,
    include_personal_data: bool,
    max_bytes: int = MAX_MESSAGE_BYTES,
) -> CardMessage:
    """The message for one feedback document, at most ``max_bytes`` long."""
    summary = summarise(document, include_personal_data=include_personal_data)
    notes = [f"Personal data omitted: {', '.join(summary.omitted)}."] if summary.omitted else []
    layout = _Layout(title, summary.heading, notes)
    body = layout.message(summary.facts, summary.personal)
    if len(body) <= max_bytes:
        return CardMessage(body, 0, summary.omitted)
    body, trimmed = layout.trimmed(summary.facts, summary.personal, max_bytes)
    return CardMessage(body, trimmed, summary.omitted)


def probe_message(title: str | None) -> bytes:
    """A small card that carries no feedback, for checking a Workflows URL."""
    return _Layout(title, "Backchannel test", [TEST_CARD_TEXT]).message((), ())


class _Layout:
    """Lays a card out; measures it to decide what fits."""

    def __init__(self, title: str | None, heading: str, notes: Sequence[str]) -> None:
        self.title = title
        self.heading = heading
        self.notes = list(notes)

    def message(
        self,
        facts: Sequence[Fact],
        personal: Sequence[Fact],
        *,
        extra_notes: Sequence[str] = (),
        keep_empty_sections: bool = False,
    ) -> bytes:
        body: list[dict[str, Any]] = []
        if self.title:
            body.append(_text_block(self.title, size="Large", weight="Bolder", style="heading"))
        body.append(
            _text_block(
                self.heading,
                size="Medium",
                weight="Bolder",
                style=None if self.title else "heading",
            )
        )
        if facts or keep_empty_sections:
            body.append(_fact_set(facts))
        if personal or keep_empty_sections:
            body.append(_text_block(PERSONAL_SECTION, weight="Bolder", spacing="Medium"))
            body.append(_fact_set(personal))
        for index, note in enumerate([*self.notes, *extra_notes]):
            spacing = "Medium" if index == 0 else None
            body.append(_text_block(note, size="Small", is_subtle=True, spacing=spacing))
        card = {
            "$schema": CARD_SCHEMA,
            "type": "AdaptiveCard",
            "version": CARD_VERSION,
            "msteams": {"width": "Full"},
            "body": body,
        }
        attachment = {"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": card}
        return _json({"type": "message", "attachments": [attachment]})

    def trimmed(
        self, facts: Sequence[Fact], personal: Sequence[Fact], max_bytes: int
    ) -> tuple[bytes, int]:
        """The message cut down to ``max_bytes``, and how many items were cut."""
        trimmed: set[int] = set()
        if len(self.heading) > TRIMMED_HEADING_CHARS:
            self.heading = _shorten(self.heading, TRIMMED_HEADING_CHARS)
            trimmed.add(-1)
        # Facts in order of priority: the feedback's own first, personal data last.
        ordered = [(False, fact) for fact in facts] + [(True, fact) for fact in personal]
        capped: list[tuple[bool, Fact]] = []
        for index, (is_personal, fact) in enumerate(ordered):
            short = Fact(
                _shorten(fact.title, TRIMMED_TITLE_CHARS), _shorten(fact.value, TRIMMED_VALUE_CHARS)
            )
            if short != fact:
                trimmed.add(index)
            capped.append((is_personal, short))
        widest_note = _trim_note(len(ordered) + 1)
        fixed = len(self.message((), (), extra_notes=[widest_note], keep_empty_sections=True))
        room = max_bytes - fixed
        kept: list[tuple[int, bool, Fact]] = []
        for index, (is_personal, fact) in enumerate(capped):
            cost = _fact_cost(fact)
            if cost > room:
                trimmed.add(index)
                fitted = _fit(fact, room)
                if fitted is None:
                    continue
                fact, cost = fitted, _fact_cost(fitted)
            kept.append((index, is_personal, fact))
            room -= cost
        while True:
            body = self.message(
                [fact for _, is_personal, fact in kept if not is_personal],
                [fact for _, is_personal, fact in kept if is_personal],
                extra_notes=[_trim_note(len(trimmed))],
            )
            if len(body) <= max_bytes or not kept:
                return body, len(trimmed)
            # The costs above add up to at least the real size, so this only guards the limit.
            index, _, _ = kept.pop()
            trimmed.add(index)


def _trim_note(count: int) -> str:
    return f"Trimmed {count} item{'' if count == 1 else 's'} to fit Teams' size limit."


def _fit(fact: Fact, room: int) -> Fact | None:
    """``fact`` with its value shortened to fit ``room`` bytes, or None when too little fits."""
    if _fact_cost(Fact(fact.title, _shorten(fact.value, MIN_SHORTENED_CHARS))) > room:
        return None
    low, high = MIN_SHORTENED_CHARS, len(fact.value)
    while low < high:
        middle = (low + high + 1) // 2
        if _fact_cost(Fact(fact.title, _shorten(fact.value, middle))) <= room:
            low = middle
        else:
            high = middle - 1
    return Fact(fact.title, _shorten(fact.value, low))


def _shorten(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: chars - 1].rstrip() + ELLIPSIS


def _fact_cost(fact: Fact) -> int:
    """Bytes ``fact`` adds to a message, with the comma that separates it from the next."""
    return len(_json(_fact(fact))) + 1


def _fact(fact: Fact) -> dict[str, str]:
    return {"title": escape(fact.title), "value": escape(fact.value)}


def _fact_set(facts: Sequence[Fact]) -> dict[str, Any]:
    return {"type": "FactSet", "facts": [_fact(fact) for fact in facts]}


def _text_block(
    text: str,
    *,
    size: str | None = None,
    weight: str | None = None,
    style: str | None = None,
    spacing: str | None = None,
    is_subtle: bool = False,
) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "TextBlock", "text": escape(one_line(text)), "wrap": True}
    optional = {"size": size, "weight": weight, "style": style, "spacing": spacing}
    block.update({name: value for name, value in optional.items() if value is not None})
    if is_subtle:
        block["isSubtle"] = True
    return block


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
