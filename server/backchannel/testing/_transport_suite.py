"""The conformance suite every transport passes: built-in and third-party alike."""

from __future__ import annotations

import hashlib
import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar

import pytest

from backchannel.plugin import (
    DeliveryResult,
    FieldProblem,
    OutboundMessage,
    ProbeStep,
    Transport,
    TransportSettings,
)
from backchannel.plugin._settings import declared_secrets
from backchannel.plugin_host import load_plugins
from backchannel.testing._host import parsed_settings, prepare_recipient, settings_problems
from backchannel.testing._samples import loopback_context, sample_file, sample_message
from backchannel.testing._secrets import (
    leaked_secrets,
    problem_texts,
    result_texts,
    secret_values,
    step_texts,
)

_COMPONENT_NAME = re.compile(r"[a-z][a-z0-9_-]*")
#: Seconds the suite gives one send or probe through the host's wrapper.
DEADLINE = 60.0
#: Settings no transport knows, to see that the host names each of them.
UNKNOWN_SETTING = "no_such_setting_for_conformance"
UNKNOWN_SECRET = "no_such_secret_for_conformance"
#: What a secret given in plain settings holds when the working secrets have no value for it.
PLACEHOLDER_SECRET = "conformance-secret-value-7f3a"


@dataclass(frozen=True)
class Arrival:
    """One thing a test endpoint received: the bytes that matter (a request body, a file, a
    mail's attachment) and, when the transport exposes one, the idempotency identity it
    carried (a ``webhook-id`` header, a ``Message-ID``, a remote file name...)."""

    body: bytes
    identity: str | None = None
    #: Everything the transport put on the wire for it, when the endpoint sees that whole
    #: (the request body, the file as written, the message as the SMTP server got it): the
    #: suite checks a result's ``bytes_sent`` and ``sha256_sent`` against it.
    transmitted: bytes | None = None


ReceivedPayloads = Callable[[], Sequence[Arrival]]


def normalize_distribution(name: str) -> str:
    """The PEP 503 form of a distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


class TransportConformance:
    """Subclass this (as ``TestMyTransportConformance``) and provide these fixtures:

    ``transport``
        a started transport (``await transport.start(loopback_context())``; ``aclose`` it
        after the ``yield``);
    ``working_settings`` / ``working_secrets``
        settings that reach a real test endpoint your fixture starts on loopback. Put at
        least one secret in ``working_secrets`` so the secret checks have something to find;
    ``broken_settings``
        settings for an endpoint nothing listens on (see :func:`unused_port`).

    Optional fixtures, looked up by name:

    ``broken_secrets``
        secrets to go with ``broken_settings`` (default: ``working_secrets``);
    ``received_payloads``
        a callable returning the :class:`Arrival` list of what the endpoint received so far.
        Without it the content and idempotency checks are skipped, visibly.

    And set ``distribution`` to the name of the distribution that ships the transport.
    Override :meth:`expected_fragments` when the transport sends something other than the
    rendered content (a chat message summarising the document, for instance).

    Settings are given as a recipient gives them (plain and secret mappings); the suite
    reads them as the host does, through the transport's ``settings_model``.
    """

    #: The distribution whose ``backchannel`` entry point registers the transport.
    distribution: ClassVar[str]

    # --- hooks a subclass may override --------------------------------------------------

    def outbound_message(self, *, delivery_id: str) -> OutboundMessage:
        """The message the send checks use."""
        return sample_message(delivery_id=delivery_id)

    def expected_fragments(self, message: OutboundMessage) -> Sequence[bytes]:
        """Bytes that must each appear, unchanged, in one arrival after ``message`` is sent.
        By default the whole rendered content."""
        return [message.content.body]

    # --- optional fixtures, resolved before the test's event loop runs ----------------------

    @pytest.fixture
    def conformance_broken_secrets(self, request: pytest.FixtureRequest) -> Mapping[str, Any]:
        secrets = _optional_fixture(request, "broken_secrets")
        if secrets is None:
            secrets = request.getfixturevalue("working_secrets")
        assert isinstance(secrets, Mapping)
        return secrets

    @pytest.fixture
    def conformance_received(self, request: pytest.FixtureRequest) -> ReceivedPayloads:
        received = _optional_fixture(request, "received_payloads")
        if received is None:
            pytest.skip(
                "no received_payloads fixture: provide one returning what the test endpoint "
                "received, so the suite can see the content arrive"
            )
        assert callable(received)
        return received  # type: ignore[no-any-return]

    # --- registration and shape ---------------------------------------------------------

    def test_is_registered_through_its_distributions_entry_point(
        self, transport: Transport[Any]
    ) -> None:
        loaded = load_plugins()
        assert transport.name in loaded.transports, (
            f"no installed plugin registers a transport named {transport.name!r}; "
            f"is the distribution installed (pip install -e .) with an entry point in the "
            f"'backchannel' group? Plugins found: {[p.distribution for p in loaded.plugins]}"
        )
        origin = loaded.origin_of_transport(transport.name)
        assert normalize_distribution(origin.distribution) == normalize_distribution(
            self.distribution
        )
        assert type(loaded.transports[transport.name]) is type(transport)

    def test_subclasses_transport_and_declares_a_settings_model(
        self, transport: Transport[Any]
    ) -> None:
        assert isinstance(transport, Transport)
        for method in ("start", "send", "probe", "aclose"):
            assert inspect.iscoroutinefunction(getattr(transport, method)), f"{method} not async"
        model = transport.settings_model
        assert isinstance(model, type) and issubclass(model, TransportSettings), model

    def test_name_is_lower_case_letters_digits_dashes_and_underscores(
        self, transport: Transport[Any]
    ) -> None:
        assert isinstance(transport.name, str)
        assert _COMPONENT_NAME.fullmatch(transport.name), transport.name

    def test_the_working_secrets_are_declared_secret(
        self, transport: Transport[Any], working_secrets: Mapping[str, Any]
    ) -> None:
        declared = transport.settings_model.secret_names()
        assert declared <= set(transport.settings_model.model_fields)
        assert set(working_secrets) <= declared, "a working secret is not marked Secret()"

    # --- settings, as the host reads them ------------------------------------------------

    def test_the_working_settings_have_no_problems(
        self,
        transport: Transport[Any],
        working_settings: Mapping[str, Any],
        working_secrets: Mapping[str, Any],
    ) -> None:
        assert settings_problems(transport, working_settings, working_secrets) == []

    def test_empty_settings_have_problems(self, transport: Transport[Any]) -> None:
        problems = settings_problems(transport, {}, {})
        _assert_field_problems(problems)
        assert len(problems) > 0, "empty settings were accepted: nothing is required?"

    def test_every_problem_of_garbage_settings_is_reported_at_once(
        self, transport: Transport[Any]
    ) -> None:
        missing = {problem.field for problem in settings_problems(transport, {}, {})}
        problems = settings_problems(
            transport, {UNKNOWN_SETTING: ["garbage", 1]}, {UNKNOWN_SECRET: {"x": None}}
        )
        _assert_field_problems(problems)
        fields = {problem.field for problem in problems}
        assert any(UNKNOWN_SETTING in field for field in fields), fields
        assert any(UNKNOWN_SECRET in field for field in fields), fields
        assert missing <= fields, f"not reported alongside the unknown names: {missing - fields}"

    def test_each_secret_given_in_plain_settings_is_refused(
        self,
        transport: Transport[Any],
        working_settings: Mapping[str, Any],
        working_secrets: Mapping[str, Any],
    ) -> None:
        declared = declared_secrets(transport.settings_model)
        secret_only = sorted(name for name, marker in declared.items() if not marker.or_plain)
        if not secret_only:
            pytest.skip(f"{transport.name} declares no setting that is only ever secret")
        for name in secret_only:
            value = working_secrets.get(name, PLACEHOLDER_SECRET)
            problems = settings_problems(
                transport, {**working_settings, name: value}, working_secrets
            )
            _assert_field_problems(problems)
            assert any(name in problem.field for problem in problems), (
                f"secret setting {name!r} was accepted in plain settings"
            )
            assert leaked_secrets(problem_texts(problems), secret_values({name: value})) == []

    # --- send -----------------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_send_delivers_the_content_intact(
        self,
        transport: Transport[Any],
        working_settings: Mapping[str, Any],
        working_secrets: Mapping[str, Any],
        conformance_received: ReceivedPayloads,
    ) -> None:
        message = self.outbound_message(delivery_id="dlv_conformance_intact")
        settings = parsed_settings(transport, working_settings, working_secrets)
        result = await transport.send(message, settings)
        assert isinstance(result, DeliveryResult)
        assert result.succeeded, result
        assert not result.gone
        arrivals = conformance_received()
        assert arrivals, "the endpoint received nothing"
        for fragment in self.expected_fragments(message):
            assert any(fragment in arrival.body for arrival in arrivals), (
                f"{fragment[:200]!r} did not arrive intact"
            )

    @pytest.mark.asyncio
    async def test_send_reports_the_bytes_it_put_on_the_wire(
        self,
        transport: Transport[Any],
        working_settings: Mapping[str, Any],
        working_secrets: Mapping[str, Any],
        conformance_received: ReceivedPayloads,
    ) -> None:
        before = len(conformance_received())
        message = self.outbound_message(delivery_id="dlv_conformance_bytes")
        result = await transport.send(
            message, parsed_settings(transport, working_settings, working_secrets)
        )
        assert result.succeeded, result
        if result.sha256_sent is None:
            pytest.skip(
                f"not applicable: {transport.name} reports no sha256_sent, so its events "
                "describe only what the formatter produced (see plugin_support.SentBytes)"
            )
        assert re.fullmatch("[0-9a-f]{64}", result.sha256_sent), result.sha256_sent
        assert result.bytes_sent > 0
        wire = [a.transmitted for a in conformance_received()[before:] if a.transmitted]
        if not wire:
            pytest.skip("no Arrival.transmitted: the reported digest was not compared")
        reported = (result.bytes_sent, result.sha256_sent)
        assert reported in [(len(data), hashlib.sha256(data).hexdigest()) for data in wire], (
            f"no arrival has the size and SHA-256 reported: {reported}"
        )

    @pytest.mark.asyncio
    async def test_send_to_an_unreachable_endpoint_returns_a_retryable_failure(
        self,
        transport: Transport[Any],
        broken_settings: Mapping[str, Any],
        conformance_broken_secrets: Mapping[str, Any],
    ) -> None:
        message = self.outbound_message(delivery_id="dlv_conformance_broken")
        settings = parsed_settings(transport, broken_settings, conformance_broken_secrets)
        result = await transport.send(message, settings)
        assert isinstance(result, DeliveryResult)
        assert not result.succeeded
        assert result.retryable, result
        assert result.response_excerpt, "a failure should say what went wrong"

    @pytest.mark.asyncio
    async def test_sending_a_delivery_twice_carries_the_same_idempotency_identity(
        self,
        transport: Transport[Any],
        working_settings: Mapping[str, Any],
        working_secrets: Mapping[str, Any],
        conformance_received: ReceivedPayloads,
    ) -> None:
        before = len(conformance_received())
        settings = parsed_settings(transport, working_settings, working_secrets)
        for attempt in (1, 2):
            message = self.outbound_message(delivery_id="dlv_conformance_twice")
            message = replace(message, attempt=attempt)
            assert (await transport.send(message, settings)).succeeded
        identities = [arrival.identity for arrival in conformance_received()[before:]]
        if all(identity is None for identity in identities):
            pytest.skip(
                f"not applicable: {transport.name} exposes no idempotency identity to the "
                f"endpoint (no Arrival.identity was reported)"
            )
        assert None not in identities, identities
        assert len(set(identities)) == 1, f"two sends of one delivery differ: {identities}"

    @pytest.mark.asyncio
    async def test_no_secret_appears_in_a_successful_result(
        self,
        transport: Transport[Any],
        working_settings: Mapping[str, Any],
        working_secrets: Mapping[str, Any],
    ) -> None:
        secrets = secret_values(working_secrets)
        message = self.outbound_message(delivery_id="dlv_conformance_secret_ok")
        prepared = prepare_recipient(transport, working_settings, working_secrets)
        result = await prepared.send(message, DEADLINE)
        assert result.succeeded, result
        assert leaked_secrets(result_texts(result), secrets) == []

    @pytest.mark.asyncio
    async def test_no_secret_appears_in_a_failed_result(
        self,
        transport: Transport[Any],
        broken_settings: Mapping[str, Any],
        conformance_broken_secrets: Mapping[str, Any],
    ) -> None:
        message = self.outbound_message(delivery_id="dlv_conformance_secret_failed")
        prepared = prepare_recipient(transport, broken_settings, conformance_broken_secrets)
        result = await prepared.send(message, DEADLINE)
        assert not result.succeeded
        assert leaked_secrets(result_texts(result), secret_values(conformance_broken_secrets)) == []

    # --- files (batch delivery) -------------------------------------------------------------

    def _file_transport(self, transport: Transport[Any]) -> None:
        if not transport.supports_files():
            pytest.skip(
                f"not applicable: {transport.name} carries no files (send_file not overridden)"
            )

    @pytest.mark.asyncio
    async def test_send_file_delivers_the_file_intact(
        self,
        transport: Transport[Any],
        working_settings: Mapping[str, Any],
        working_secrets: Mapping[str, Any],
        conformance_received: ReceivedPayloads,
    ) -> None:
        self._file_transport(transport)
        file = sample_file(batch_id="bat_conformance_intact")
        result = await transport.send_file(
            file, parsed_settings(transport, working_settings, working_secrets)
        )
        assert isinstance(result, DeliveryResult)
        assert result.succeeded, result
        body = await file.read_all()
        assert any(arrival.body == body for arrival in conformance_received()), (
            "no arrival holds exactly the file's bytes"
        )

    @pytest.mark.asyncio
    async def test_sending_a_file_twice_carries_the_same_identity_and_bytes(
        self,
        transport: Transport[Any],
        working_settings: Mapping[str, Any],
        working_secrets: Mapping[str, Any],
        conformance_received: ReceivedPayloads,
    ) -> None:
        self._file_transport(transport)
        settings = parsed_settings(transport, working_settings, working_secrets)
        before = len(conformance_received())
        for attempt in (1, 2):
            file = sample_file(batch_id="bat_conformance_twice", attempt=attempt)
            assert (await transport.send_file(file, settings)).succeeded
        body = await sample_file(batch_id="bat_conformance_twice").read_all()
        arrivals = [a for a in conformance_received()[before:] if a.body == body]
        assert arrivals, "the file did not arrive"
        identities = {a.identity for a in arrivals}
        assert len(identities) == 1, f"two sends of one file differ: {identities}"

    @pytest.mark.asyncio
    async def test_send_file_to_an_unreachable_endpoint_returns_a_retryable_failure(
        self,
        transport: Transport[Any],
        broken_settings: Mapping[str, Any],
        conformance_broken_secrets: Mapping[str, Any],
    ) -> None:
        self._file_transport(transport)
        settings = parsed_settings(transport, broken_settings, conformance_broken_secrets)
        result = await transport.send_file(sample_file(), settings)
        assert not result.succeeded and result.retryable, result
        assert result.response_excerpt

    @pytest.mark.asyncio
    async def test_a_transport_without_files_says_so_in_a_failed_result(
        self,
        transport: Transport[Any],
        working_settings: Mapping[str, Any],
        working_secrets: Mapping[str, Any],
    ) -> None:
        if transport.supports_files():
            pytest.skip(f"not applicable: {transport.name} carries files")
        settings = parsed_settings(transport, working_settings, working_secrets)
        result = await transport.send_file(sample_file(), settings)
        assert not result.succeeded and "cannot carry files" in result.response_excerpt

    # --- probe ----------------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_probe_passes_every_step_for_working_settings(
        self,
        transport: Transport[Any],
        working_settings: Mapping[str, Any],
        working_secrets: Mapping[str, Any],
    ) -> None:
        steps = await prepare_recipient(transport, working_settings, working_secrets).probe(
            DEADLINE
        )
        _assert_probe_steps(steps)
        assert steps, "a probe should report at least one step"
        assert all(step.passed for step in steps), steps
        assert leaked_secrets(step_texts(steps), secret_values(working_secrets)) == []

    @pytest.mark.asyncio
    async def test_probe_fails_for_broken_settings_and_stops_there(
        self,
        transport: Transport[Any],
        broken_settings: Mapping[str, Any],
        conformance_broken_secrets: Mapping[str, Any],
    ) -> None:
        if type(transport).probe is Transport.probe:
            pytest.skip(f"not applicable: {transport.name} has no probe of its own")
        prepared = prepare_recipient(transport, broken_settings, conformance_broken_secrets)
        steps = await prepared.probe(DEADLINE)
        _assert_probe_steps(steps)
        assert steps and not steps[-1].passed, steps
        assert all(step.passed for step in steps[:-1]), "a probe stops at its first failure"
        assert steps[-1].detail, "a failed step should say what went wrong"
        assert leaked_secrets(step_texts(steps), secret_values(conformance_broken_secrets)) == []

    # --- lifecycle ------------------------------------------------------------------------

    @pytest.mark.asyncio
    async def test_aclose_can_be_called_after_start(self, transport: Transport[Any]) -> None:
        fresh = load_plugins().transports[transport.name]
        await fresh.start(loopback_context())
        await fresh.aclose()


def _optional_fixture(request: pytest.FixtureRequest, name: str) -> Any:
    """The value of fixture ``name``, or None when the test module defines none. Looked up
    while fixtures are set up (not inside the async test), so ``name`` may be async."""
    try:
        return request.getfixturevalue(name)
    except pytest.FixtureLookupError:
        return None


def _assert_field_problems(problems: Sequence[FieldProblem]) -> None:
    assert isinstance(problems, Sequence), type(problems)
    for problem in problems:
        assert isinstance(problem, FieldProblem), problem
        assert problem.field and problem.description, problem


def _assert_probe_steps(steps: Sequence[ProbeStep]) -> None:
    assert isinstance(steps, Sequence), type(steps)
    for step in steps:
        assert isinstance(step, ProbeStep), step
        assert step.name and isinstance(step.passed, bool), step
