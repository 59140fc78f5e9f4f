"""The host reads a recipient's settings against its transport's declaration: every problem
at once, named by its path, in words that hold no secret; then it calls the transport with
what it read, making failures results and masking every answer."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Self

from pydantic import Field, ValidationInfo, field_validator, model_validator

from backchannel.model import RecipientRecord, RecipientState
from backchannel.plugin import (
    DeliveryResult,
    OutboundMessage,
    ProbeStep,
    Secret,
    SettingError,
    Transport,
    TransportSettings,
)
from backchannel.plugin_support import Port, one_or_more
from backchannel.recipient_transport import PreparedRecipients
from backchannel.sealing.key_ring import KeyRing, new_key_entry, parse_key_ring
from backchannel.sealing.sealed_values import seal_secrets
from backchannel.testing import parsed_settings, prepare_recipient, sample_message
from backchannel.transport_settings import read_settings


class DemoSettings(TransportSettings):
    host: str = Field(description="the server's name")
    port: Port = 22
    mode: Literal["fast", "safe"] = "safe"
    tags: Annotated[list[str], one_or_more("a tag")] = Field(default_factory=list)
    labels: dict[str, Annotated[str, Field(max_length=3)]] = Field(default_factory=dict)
    url: Annotated[str | None, Secret(or_plain=True)] = None
    token: Annotated[str | None, Secret(because="it opens the account")] = Field(
        None, validate_default=True
    )
    password: Annotated[str | None, Secret()] = None

    @field_validator("token")
    @classmethod
    def _token_in_safe_mode(cls, token: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("mode") == "safe" and token is None:
            raise ValueError('is required when mode is "safe"')
        return token

    @field_validator("password")
    @classmethod
    def _careless(cls, password: str | None) -> str | None:
        if password is not None and len(password) < 12:
            raise ValueError(f"{password} is too short")  # quotes the secret, carelessly
        return password

    @model_validator(mode="after")
    def _no_tags_in_fast_mode(self) -> Self:
        if self.mode == "fast" and self.tags:
            raise SettingError(("tags", 0), "is not used in fast mode")
        return self


class DemoTransport(Transport[DemoSettings]):
    name = "demo"
    settings_model = DemoSettings
    behaviour = "answer"

    async def send(self, message: OutboundMessage, settings: DemoSettings) -> DeliveryResult:
        if self.behaviour == "raise":
            raise RuntimeError(f"boom with {settings.token}")
        if self.behaviour == "hang":
            await asyncio.sleep(60)
        return DeliveryResult(
            succeeded=False, response_excerpt=f"remote says token={settings.token}\x00!"
        )


def problems(settings: dict[str, Any], secrets: dict[str, Any]) -> dict[str, str]:
    read = read_settings(DemoTransport(), settings, secrets)
    return {problem.field: problem.description for problem in read.problems}


def test_settings_in_their_places_are_read_into_the_model() -> None:
    read = read_settings(DemoTransport(), {"host": "h", "port": 2222.0}, {"token": "tok-1"})
    assert read.problems == ()
    assert isinstance(read.settings, DemoSettings)
    assert (read.settings.port, read.settings.token) == (2222, "tok-1")


def test_every_problem_is_reported_at_once_by_its_path() -> None:
    found = problems(
        {"port": "22", "mode": "slow", "tags": 7, "labels": {"a": "long"}, "colour": "red"},
        {"pin": "1234"},
    )
    assert found == {
        "transport_settings.host": "is required: the server's name",
        "transport_settings.port": "must be a whole number from 1 to 65535",
        "transport_settings.mode": "must be one of 'fast' or 'safe'",
        "transport_settings.tags": "must be a tag or a non-empty list of them",
        "transport_settings.labels.a": "must be at most 3 characters",
        "transport_settings.colour": "is not a setting of the demo transport "
        "(known: host, labels, mode, port, tags, url)",
        "secret_settings.pin": "is not a secret setting of the demo transport "
        "(known: password, token, url)",
    }


def test_a_rule_across_settings_is_reported_alongside_the_others() -> None:
    # token depends on mode, which is valid; port is not: both are reported.
    assert set(problems({"host": "h", "port": 0}, {})) == {
        "transport_settings.port",
        "secret_settings.token",
    }


def test_a_secret_given_in_plain_settings_is_refused_saying_why_and_not_missing() -> None:
    found = problems({"host": "h", "token": "tok-leaky-77"}, {})
    assert found == {
        "transport_settings.token": "is secret (it opens the account): give it in secret_settings"
    }


def test_a_plain_setting_given_as_a_secret_is_refused() -> None:
    assert problems({}, {"host": "h", "token": "t"}) == {
        "secret_settings.host": "is not secret: give it in transport_settings"
    }


def test_a_setting_that_may_be_either_is_secret_where_it_is_given() -> None:
    transport = DemoTransport()
    as_secret = parsed_settings(transport, {"host": "h"}, {"token": "t", "url": "https://u"})
    as_plain = parsed_settings(transport, {"host": "h", "url": "https://u"}, {"token": "t"})
    assert (as_secret.is_secret("url"), as_plain.is_secret("url")) == (True, False)
    assert as_plain.is_secret("token") and not as_plain.is_secret("host")
    assert problems({"host": "h", "url": "a"}, {"token": "t", "url": "b"}) == {
        "secret_settings.url": "give it once: here or in transport_settings.url, not both"
    }


def test_a_model_validator_names_the_setting_at_fault_with_its_path() -> None:
    assert problems({"host": "h", "mode": "fast", "tags": ["a", "b"]}, {}) == {
        "transport_settings.tags[0]": "is not used in fast mode"
    }


def test_a_single_value_given_for_a_list_is_named_without_an_index() -> None:
    class Strict(TransportSettings):
        tags: Annotated[list[Annotated[str, Field(min_length=2)]], one_or_more("a tag")]

    class StrictTransport(DemoTransport):
        settings_model = Strict  # type: ignore[assignment]

    read = read_settings(StrictTransport(), {"tags": "x"}, {})
    assert [problem.field for problem in read.problems] == ["transport_settings.tags"]


def test_no_description_holds_a_secret_even_when_a_validator_quotes_it() -> None:
    found = problems({"host": "h"}, {"token": "t", "password": "hunter2-x"})
    assert found == {"secret_settings.password": "*** is too short"}


async def test_a_send_with_unusable_settings_fails_without_retrying_and_never_runs() -> None:
    transport = DemoTransport()
    transport.behaviour = "raise"
    result = await prepare_recipient(transport, {"port": 0}, {}).send(sample_message(), 5)
    assert (result.succeeded, result.retryable) == (False, False)
    assert result.response_excerpt.startswith("invalid settings: transport_settings.host")


async def test_what_a_transport_answers_is_masked_and_cleaned() -> None:
    prepared = prepare_recipient(DemoTransport(), {"host": "h"}, {"token": "tok-secret-9"})
    result = await prepared.send(sample_message(), 5)
    assert result.response_excerpt == "remote says token=***!"


async def test_a_transport_that_raises_gives_a_retryable_failure_naming_only_the_error() -> None:
    transport = DemoTransport()
    transport.behaviour = "raise"
    prepared = prepare_recipient(transport, {"host": "h"}, {"token": "tok-secret-9"})
    result = await prepared.send(sample_message(), 5)
    assert (result.succeeded, result.retryable) == (False, True)
    assert result.response_excerpt == "transport error (RuntimeError)"


async def test_a_transport_that_hangs_gives_a_retryable_failure_at_the_deadline() -> None:
    transport = DemoTransport()
    transport.behaviour = "hang"
    prepared = prepare_recipient(transport, {"host": "h"}, {"token": "t"})
    result = await prepared.send(sample_message(), 0.05)
    assert (result.succeeded, result.retryable) == (False, True)
    assert result.response_excerpt == "no answer before the deadline"


async def test_a_probe_starts_with_the_settings_step_and_a_transport_without_one_says_so() -> None:
    steps = await prepare_recipient(DemoTransport(), {"host": "h"}, {"token": "t"}).probe(5)
    assert [(step.name, step.passed) for step in steps] == [("settings", True), ("endpoint", True)]
    assert "not checked" in steps[1].detail


async def test_a_probe_of_unusable_settings_is_one_failed_settings_step() -> None:
    steps = await prepare_recipient(DemoTransport(), {}, {"password": "pw-1"}).probe(5)
    assert steps == [
        ProbeStep(
            "settings",
            False,
            "the settings are not usable: transport_settings.host is required: the server's "
            'name; secret_settings.token is required when mode is "safe"; '
            "secret_settings.password *** is too short",
        )
    ]


def stored_recipient(revision: int, settings: dict[str, Any], ring: KeyRing) -> RecipientRecord:
    return RecipientRecord(
        id="acme",
        display_name="",
        recipient_type="source",
        transport="demo",
        transport_settings=settings,
        sealed_secrets=seal_secrets(ring, "acme", {"token": "t"}),
        format="json",
        format_options={},
        subscribed_kinds=(),
        subscribed_source_ids=(),
        state=RecipientState.ACTIVE,
        revision=revision,
        create_time=datetime.now(UTC),
        update_time=datetime.now(UTC),
    )


def test_settings_are_read_once_per_recipient_revision() -> None:
    ring = parse_key_ring(new_key_entry("k1"), "a test")
    prepared, transport = PreparedRecipients(ring, size=2), DemoTransport()
    first = prepared.get(stored_recipient(1, {"host": "h"}, ring), transport)
    assert prepared.get(stored_recipient(1, {"host": "changed"}, ring), transport) is first
    second = prepared.get(stored_recipient(2, {"host": "changed"}, ring), transport)
    assert second is not first
    assert second.read.settings is not None and second.read.settings.host == "changed"
    assert second.read.settings.token == "t"


def test_a_setting_given_as_null_counts_as_not_set() -> None:
    read = read_settings(
        DemoTransport(), {"host": "h", "port": None, "colour": None}, {"token": "t", "pin": None}
    )
    assert read.problems == ()
    assert read.settings is not None and read.settings.port == 22
