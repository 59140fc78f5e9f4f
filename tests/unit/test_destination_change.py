"""Which settings decide where a recipient points: those its transport marks
Destination(), or every one for a transport that marks none; a change of transport is a
change of everything."""

from __future__ import annotations

from typing import Annotated, Any

from backchannel.destination_change import UNREADABLE, changed_destination
from backchannel.plugin import (
    DeliveryResult,
    Destination,
    OutboundMessage,
    Secret,
    Transport,
    TransportSettings,
)
from backchannel.plugin_support import Port


class MarkedSettings(TransportSettings):
    host: Annotated[str, Destination()]
    port: Annotated[Port, Destination()] = 22
    url: Annotated[str | None, Secret(or_plain=True), Destination()] = None
    timeout_seconds: float | None = None
    password: Annotated[str | None, Secret()] = None


class UnmarkedSettings(TransportSettings):
    host: str
    timeout_seconds: float | None = None


class Marked(Transport[MarkedSettings]):
    name = "marked"
    settings_model = MarkedSettings

    async def send(self, message: OutboundMessage, settings: MarkedSettings) -> DeliveryResult:
        return DeliveryResult(succeeded=True)


class Unmarked(Transport[UnmarkedSettings]):
    name = "unmarked"
    settings_model = UnmarkedSettings

    async def send(self, message: OutboundMessage, settings: UnmarkedSettings) -> DeliveryResult:
        return DeliveryResult(succeeded=True)


def changed(
    before: dict[str, Any], after: dict[str, Any], transport: Transport[Any] | None = None
) -> list[str]:
    return changed_destination("marked", "marked", transport or Marked(), before, after)


def test_a_marked_setting_that_changes_is_a_new_destination() -> None:
    assert changed({"host": "a", "port": 22}, {"host": "b", "port": 2222}) == ["host", "port"]


def test_an_unmarked_setting_or_a_secret_is_not() -> None:
    before = {"host": "a", "timeout_seconds": 5, "password": "pw-1"}
    assert changed(before, {"host": "a", "timeout_seconds": 9, "password": "pw-2"}) == []


def test_a_default_given_or_left_out_is_the_same_destination() -> None:
    assert changed({"host": "a"}, {"host": "a", "port": 22.0, "url": None}) == []


def test_a_secret_destination_whose_old_value_is_unreadable_counts_as_changed() -> None:
    assert changed({"host": "a", "url": UNREADABLE}, {"host": "a", "url": "https://x"}) == ["url"]


def test_a_transport_that_marks_nothing_has_every_setting_in_its_destination() -> None:
    found = changed_destination(
        "unmarked", "unmarked", Unmarked(), {"host": "a", "timeout_seconds": 5}, {"host": "a"}
    )
    assert found == ["timeout_seconds"]


def test_another_transport_is_another_destination() -> None:
    assert changed_destination("unmarked", "marked", Marked(), {"host": "a"}, {"host": "a"}) == [
        "transport"
    ]
