"""Checks requests before anything is stored, collecting every violation (AIP-193)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from backchannel_client.v1 import feedback_pb2, feedback_service_pb2, recipient_pb2
from google.protobuf import struct_pb2
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from backchannel.api.batch_validation import validate_batch
from backchannel.api.data_policy_messages import validate_privacy
from backchannel.api.errors import Violations
from backchannel.api.subject_validation import validate_consent_purposes, validate_subject
from backchannel.plugin import Formatter, Transport
from backchannel.plugin_host import unloaded_plugins
from backchannel.untrusted_templates import option_problems, settings_problems

REQUEST_ID = re.compile(r"^[\x21-\x7e]{1,128}$")
RECIPIENT_ID = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
DECIMAL = re.compile(r"-?[0-9]{1,18}(\.[0-9]{1,6})?")
CURRENCY = re.compile(r"^[A-Z]{3}$")
DIMENSION = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_TEXT = 1024
MAX_ATTRIBUTES_BYTES = 64 * 1024
MAX_RECIPIENTS = 100
#: The most entries of each list and map of a feedback: far above what any real feedback
#: carries, far below what the request limits would let through.
MAX_SUB_IDS = 50
MAX_CONSENTS = 20
MAX_DIMENSIONS = 50
MAX_ATTRIBUTES = 100
_FEEDBACK_KINDS = frozenset(feedback_pb2.FeedbackKind.values())


def _struct_value_text(
    value: struct_pb2.Value, path: str, max_len: int, violations: Violations
) -> None:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        _check_one_text(value.string_value, path, max_len, violations)
    elif kind == "struct_value":
        _check_message_text(value.struct_value, path, max_len, violations)
    elif kind == "list_value":
        for index, item in enumerate(value.list_value.values):
            _struct_value_text(item, f"{path}[{index}]", max_len, violations)


def _check_one_text(value: str, path: str, max_len: int, violations: Violations) -> None:
    if len(value) > max_len:
        violations.add(path, f"must be at most {max_len} characters")


# How check_text walks each kind of field, worked out once per field descriptor.
_SKIP, _TEXT, _TEXTS, _MESSAGE, _MESSAGES, _MAP_OF_TEXT, _MAP_OF_MESSAGES = range(7)
_walks: dict[FieldDescriptor, int] = {}


def _walk_of(field: FieldDescriptor) -> int:
    walk = _walks.get(field)
    if walk is None:
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            value_type = field.message_type.fields_by_name["value"].type
            walk = (
                _MAP_OF_TEXT
                if value_type == FieldDescriptor.TYPE_STRING
                else _MAP_OF_MESSAGES
                if value_type == FieldDescriptor.TYPE_MESSAGE
                else _SKIP
            )
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            walk = _MESSAGES if field.is_repeated else _MESSAGE
        elif field.type == FieldDescriptor.TYPE_STRING:
            walk = _TEXTS if field.is_repeated else _TEXT
        else:
            walk = _SKIP
        _walks[field] = walk
    return walk


def _check_message_text(message: Message, path: str, max_len: int, violations: Violations) -> None:
    """Every text value inside a message, named by its field path; free-form structs are
    named by their keys (``feedback.attributes.note``). A path is built only for a value
    that is refused."""
    if isinstance(message, struct_pb2.Struct):
        for key, item in message.fields.items():
            _struct_value_text(item, f"{path}.{key}", max_len, violations)
        return
    for field, value in message.ListFields():
        walk = _walk_of(field)
        if walk == _SKIP or (walk == _TEXT and len(value) <= max_len):
            continue
        here = f"{path}.{field.name}" if path else field.name
        if walk == _TEXT:
            _check_one_text(value, here, max_len, violations)
        elif walk == _MESSAGE:
            _check_message_text(value, here, max_len, violations)
        elif walk == _TEXTS:
            for index, item in enumerate(value):
                _check_one_text(item, f"{here}[{index}]", max_len, violations)
        elif walk == _MESSAGES:
            for index, item in enumerate(value):
                _check_message_text(item, f"{here}[{index}]", max_len, violations)
        else:
            for key in value:
                if walk == _MAP_OF_TEXT:
                    _check_one_text(value[key], f"{here}[{key!r}]", max_len, violations)
                else:
                    _check_message_text(value[key], f"{here}[{key!r}]", max_len, violations)


def check_text(
    message: Message, path: str, violations: Violations, max_len: int = MAX_TEXT
) -> None:
    """Refuses text longer than ``max_len`` in any value (map keys and struct keys have
    their own limits). NUL characters never get here: the request guard
    (:mod:`backchannel.api.request_guard`) refuses them in every request."""
    # No text is longer than the whole serialized message (a character is at least a
    # byte): most requests need no walk.
    if message.ByteSize() <= max_len:
        return
    _check_message_text(message, path, max_len, violations)


def _check_score(value: float, path: str, violations: Violations) -> None:
    # NaN fails every comparison, infinities the bounds.
    if not 0 <= value <= 100:
        violations.add(path, "must be a number from 0 to 100")


def validate_send_feedback(
    request: feedback_service_pb2.SendFeedbackRequest, max_feedback_bytes: int
) -> None:
    # Every SendFeedback runs this; it reads each field once and calls little, since in
    # the server its cost is several times what it costs alone (caches shared with gRPC).
    # NUL characters, non-finite numbers and out-of-range times never get here (the
    # request guard refuses them in every request).
    v = Violations()
    request_id = request.request_id
    if not request_id:
        v.add("request_id", "is required (1 to 128 printable characters, e.g. a UUID)")
    elif not REQUEST_ID.fullmatch(request_id):
        v.add("request_id", "must be 1 to 128 printable ASCII characters without spaces")
    if not request.HasField("feedback"):
        v.add("feedback", "is required")
    else:
        size = request.feedback.ByteSize()
        if size > max_feedback_bytes:
            v.add("feedback", f"is {size} bytes encoded; at most {max_feedback_bytes}")
        _validate_feedback(request.feedback, v)
    recipient_ids = request.recipient_ids
    if len(recipient_ids) > MAX_RECIPIENTS:
        v.add("recipient_ids", f"must name at most {MAX_RECIPIENTS} recipients")
    seen: set[str] = set()
    for index, recipient_id in enumerate(recipient_ids):
        if not RECIPIENT_ID.fullmatch(recipient_id):
            v.add(f"recipient_ids[{index}]", "is not a valid recipient id")
        elif recipient_id in seen:
            v.add(f"recipient_ids[{index}]", f"names {recipient_id!r} twice")
        seen.add(recipient_id)
    v.raise_if_any()


def _validate_feedback(feedback: feedback_pb2.Feedback, v: Violations) -> None:
    check_text(feedback, "feedback", v)
    validate_subject(feedback, v)
    validate_consent_purposes(feedback, v)
    kind = feedback.kind
    if kind == feedback_pb2.FEEDBACK_KIND_UNSPECIFIED:
        v.add("feedback.kind", "is required")
    elif kind not in _FEEDBACK_KINDS:
        v.add("feedback.kind", f"{kind} is not a known feedback kind")
    lead_id = feedback.lead.lead_id
    if not lead_id:
        v.add("feedback.lead.lead_id", "is required")
    elif len(lead_id) > 128:
        v.add("feedback.lead.lead_id", "must be at most 128 characters")
    has = feedback.HasField
    if has("outcome"):
        outcome = feedback.outcome
        if outcome.HasField("value"):
            money = outcome.value
            if not DECIMAL.fullmatch(money.amount):
                v.add(
                    "feedback.outcome.value.amount",
                    "must be a decimal number like 1250.00 (at most 18 digits before the "
                    "point and 6 after)",
                )
            if not CURRENCY.fullmatch(money.currency_code):
                v.add(
                    "feedback.outcome.value.currency_code",
                    "must be an ISO 4217 code of three upper-case letters, e.g. USD",
                )
    if has("return_details"):
        return_details = feedback.return_details
        if kind == feedback_pb2.FEEDBACK_KIND_RETURN and not (
            return_details.reason_code or return_details.reason_text
        ):
            v.add("feedback.return_details", "a return needs a reason_code or a reason_text")
    elif kind == feedback_pb2.FEEDBACK_KIND_RETURN:
        v.add("feedback.return_details", "a return needs a reason_code or a reason_text")
    scored = False
    if has("quality"):
        quality = feedback.quality
        if quality.HasField("overall_score"):
            scored = True
            _check_score(quality.overall_score, "feedback.quality.overall_score", v)
        dimensions = quality.dimensions
        if dimensions:
            scored = True
            if len(dimensions) > MAX_DIMENSIONS:
                v.add(
                    "feedback.quality.dimensions",
                    f"has {len(dimensions)} entries; at most {MAX_DIMENSIONS}",
                )
            for name, score in dict(dimensions).items():
                if not DIMENSION.fullmatch(name):
                    v.add(
                        f"feedback.quality.dimensions[{name!r}]",
                        "dimension names are lower-case letters, digits and _, starting with "
                        "a letter",
                    )
                _check_score(score, f"feedback.quality.dimensions[{name!r}]", v)
    if kind == feedback_pb2.FEEDBACK_KIND_QUALITY and not scored:
        v.add("feedback.quality", "quality feedback needs an overall_score or dimensions")
    if has("attribution"):
        sub_ids = feedback.attribution.sub_ids
        if "" in sub_ids:
            v.add("feedback.attribution.sub_ids", "keys must not be empty")
        if len(sub_ids) > MAX_SUB_IDS:
            v.add(
                "feedback.attribution.sub_ids", f"has {len(sub_ids)} entries; at most {MAX_SUB_IDS}"
            )
    consents = feedback.consents
    if consents:
        if len(consents) > MAX_CONSENTS:
            v.add("feedback.consents", f"has {len(consents)} entries; at most {MAX_CONSENTS}")
        for index, consent in enumerate(consents):
            if not consent.provider:
                v.add(f"feedback.consents[{index}].provider", "is required")
            if not consent.reference:
                v.add(f"feedback.consents[{index}].reference", "is required")
    if has("attributes"):
        if len(feedback.attributes.fields) > MAX_ATTRIBUTES:
            v.add(
                "feedback.attributes",
                f"has {len(feedback.attributes.fields)} entries; at most {MAX_ATTRIBUTES}",
            )
        if feedback.attributes.ByteSize() > MAX_ATTRIBUTES_BYTES:
            v.add("feedback.attributes", f"must be at most {MAX_ATTRIBUTES_BYTES} bytes")


async def validate_recipient(
    recipient: recipient_pb2.Recipient,
    transports: Mapping[str, Transport[Any]],
    formatters: Mapping[str, Formatter],
    settings: Mapping[str, Any],
    secrets: Mapping[str, Any],
    v: Violations,
) -> None:
    """Checks a complete recipient (after defaults and merges are applied). Its settings
    and format options are checked where their templates may run (see
    backchannel.untrusted_templates)."""
    check_text(recipient, "recipient", v, max_len=8192)
    if not RECIPIENT_ID.fullmatch(recipient.id):
        v.add(
            "recipient.id",
            "is required: 1 to 63 lower-case letters, digits and '-', starting with a letter",
        )
    if len(recipient.display_name) > 200:
        v.add("recipient.display_name", "must be at most 200 characters")
    if recipient.recipient_type == recipient_pb2.RECIPIENT_TYPE_UNSPECIFIED:
        v.add("recipient.recipient_type", "is required (source, partner, system or platform)")
    elif recipient.recipient_type not in recipient_pb2.RecipientType.values():
        v.add("recipient.recipient_type", "is not a known recipient type")
    if recipient.state not in recipient_pb2.RecipientState.values():
        v.add("recipient.state", "is not a known state")
    transport = transports.get(recipient.transport)
    if not recipient.transport:
        v.add("recipient.transport", f"is required; installed: {', '.join(sorted(transports))}")
    elif transport is None:
        v.add(
            "recipient.transport",
            f"no transport named {recipient.transport!r}; loaded: "
            f"{', '.join(sorted(transports)) or 'none'}"
            + _not_loaded_hint([*transports.values(), *formatters.values()]),
        )
    else:
        for problem in await settings_problems(transport, settings, secrets):
            v.add(_recipient_path(problem.field), problem.description)
    formatter = formatters.get(recipient.format)
    if formatter is None:
        v.add(
            "recipient.format",
            f"no format named {recipient.format!r}; loaded: {', '.join(sorted(formatters))}"
            + _not_loaded_hint([*transports.values(), *formatters.values()]),
        )
    else:
        options = _struct_dict(recipient.format_options)
        for problem in await option_problems(formatter, options):
            v.add(_recipient_path(problem.field), problem.description)
    _validate_policy(recipient, v)
    validate_privacy(recipient, v)
    validate_batch(recipient, transport, v)
    for index, kind in enumerate(recipient.subscription.kinds):
        if (
            kind == feedback_pb2.FEEDBACK_KIND_UNSPECIFIED
            or kind not in feedback_pb2.FeedbackKind.values()
        ):
            v.add(f"recipient.subscription.kinds[{index}]", "is not a feedback kind")
    for index, source_id in enumerate(recipient.subscription.source_ids):
        if not source_id:
            v.add(f"recipient.subscription.source_ids[{index}]", "must not be empty")


MAX_RETRY_DELAYS = 50
MAX_RETRY_DELAY_SECONDS = 30 * 24 * 3600


def _validate_policy(recipient: recipient_pb2.Recipient, v: Violations) -> None:
    policy = recipient.retry_policy
    if len(policy.retry_delays) > MAX_RETRY_DELAYS:
        v.add("recipient.retry_policy.retry_delays", f"at most {MAX_RETRY_DELAYS} delays")
    for index, delay in enumerate(policy.retry_delays):
        seconds = delay.seconds + delay.nanos / 1e9
        if not 0 <= seconds <= MAX_RETRY_DELAY_SECONDS or (delay.seconds * delay.nanos) < 0:
            v.add(
                f"recipient.retry_policy.retry_delays[{index}]",
                "must be from 0 to 30 days",
            )
    if not 0 <= policy.max_attempts <= 100:
        v.add("recipient.retry_policy.max_attempts", "must be from 0 (default) to 100")
    if policy.HasField("max_age") and not (
        0 < policy.max_age.seconds + policy.max_age.nanos / 1e9 <= MAX_RETRY_DELAY_SECONDS
    ):
        v.add("recipient.retry_policy.max_age", "must be more than 0 and at most 30 days")
    limits = recipient.limits
    if not (math.isfinite(limits.max_per_second) and 0 <= limits.max_per_second <= 10000):
        v.add("recipient.limits.max_per_second", "must be from 0 (unlimited) to 10000")
    if not 0 <= limits.burst <= 100000:
        v.add("recipient.limits.burst", "must be from 0 (default) to 100000")
    if not 0 <= limits.max_concurrency <= 10000:
        v.add("recipient.limits.max_concurrency", "must be from 0 (unlimited) to 10000")


def _not_loaded_hint(loaded: list[object]) -> str:
    """Plugins installed but not serving: the server loads plugins only when it starts."""
    waiting = unloaded_plugins(loaded)
    if not waiting:
        return ""
    return (
        f"; installed but not loaded: {', '.join(waiting)} (restart the server to load "
        "plugins installed since it started, or enable them)"
    )


def _recipient_path(field: str) -> str:
    return field if field.startswith("recipient.") else f"recipient.{field}"


def _struct_dict(struct: struct_pb2.Struct) -> dict[str, Any]:
    from google.protobuf import json_format

    return json_format.MessageToDict(struct)
