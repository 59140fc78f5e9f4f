"""Shared by the operator commands' output: proto messages as JSON and as words."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from google.protobuf import json_format, timestamp_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor
from google.protobuf.message import Message

from backchannel.cli import exit_codes
from backchannel.cli.connection import CommandError
from backchannel.cli.durations import EXAMPLES, parse_duration


def as_json(message: Message) -> dict[str, Any]:
    """The proto JSON form of ``message`` (the form buf curl and grpcurl print)."""
    result: dict[str, Any] = json_format.MessageToDict(message)
    return result


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=False))


def print_json_line(value: Any) -> None:
    print(json.dumps(value, separators=(",", ":")), flush=True)


def when(stamp: timestamp_pb2.Timestamp) -> str:
    """A timestamp as RFC 3339 UTC to the millisecond; "-" when unset."""
    if not stamp.seconds and not stamp.nanos:
        return "-"
    moment = stamp.ToDatetime(tzinfo=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def enum_word(name: str, prefix: str) -> str:
    """``PROCESSING_STATUS_SUCCEEDED`` → ``succeeded``."""
    return name.removeprefix(prefix).lower()


def short_enum_name(name: str, enum: EnumDescriptor) -> str:
    """An enum value's name without its type's prefix, in lower case:
    ``RECIPIENT_TYPE_SOURCE`` → ``source`` (a name that is no value of ``enum`` is kept)."""
    names = [value.name for value in enum.values]
    if name not in names:
        return name
    # Every enum of the API starts with its TYPE_UNSPECIFIED value (AIP-126).
    prefix = names[0].removesuffix("UNSPECIFIED") if names[0].endswith("_UNSPECIFIED") else ""
    return name.removeprefix(prefix).lower()


def with_short_enum_names(data: dict[str, Any], descriptor: Descriptor) -> dict[str, Any]:
    """``data`` (``MessageToDict`` of a ``descriptor`` message, with proto or JSON field
    names) with every enum value by its short name, at any depth."""
    result = dict(data)
    for field in descriptor.fields:
        key = field.name if field.name in result else field.json_name
        if key not in result:
            continue
        if field.enum_type is not None:
            enum = field.enum_type
            value = result[key]
            result[key] = (
                [short_enum_name(v, enum) for v in value]
                if isinstance(value, list)
                else short_enum_name(value, enum)
            )
        elif field.message_type is not None and _is_plain_message(field.message_type):
            message, value = field.message_type, result[key]
            result[key] = (
                [with_short_enum_names(v, message) for v in value]
                if isinstance(value, list)
                else with_short_enum_names(value, message)
            )
    return result


def _is_plain_message(message: Descriptor) -> bool:
    """A message MessageToDict writes as an object of its fields (not a map entry, a
    Struct, a Timestamp...)."""
    return not message.GetOptions().map_entry and not message.full_name.startswith(
        "google.protobuf."
    )


def parse_time(text: str, option: str, now: datetime | None = None) -> datetime:
    """An RFC 3339 / ISO 8601 time (without a zone it is UTC), or a duration meaning that
    long before ``now`` (default: now): ``30m``, ``1h``, ``2d``."""
    ago = parse_duration(text)
    if ago is not None:
        return (now or datetime.now(UTC)) - ago
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as error:
        raise CommandError(
            f"{option} {text!r} is neither a time like 2024-01-15T10:30:00Z nor a duration "
            f"before now like {EXAMPLES}",
            exit_codes.USAGE,
        ) from error
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
