"""The checks every request of every RPC passes before its servicer runs, whatever the
message type: what no field of any request may hold.

- no NUL character in any text or map key (Postgres stores neither in text nor jsonb);
- no NaN or infinity in any float or double, free-form ``Struct`` values included;
- every ``Timestamp`` between years 1 and 9999 with nanos in 0..999,999,999, every
  ``Duration`` within ±10,000 years with nanos of the seconds' sign (what the protobuf
  runtime converts without raising);
- at most ``max_entries`` entries in any repeated field or map, at any depth;
- at most ``max_bytes`` bytes for the whole encoded request.

Each violation is named by its field path (``feedback.attribution.sub_ids['s1']``,
``recipient.transport_settings.headers.X-Id``), all are collected, and the request is
refused with one INVALID_ARGUMENT. Servicers then only check what their own fields mean.

The walk is driven by the message descriptors, worked out once per message type, and
skips what cannot hold a violation: text and numbers are walked only when the request's
text format (written in C) shows an escaped NUL or a non-finite number, entry counts only
when the request is large enough for a field to exceed the cap (every entry takes at
least a byte), and only the parts of a message that hold timestamps or durations are
visited for those. Most requests are checked in a few microseconds (bench/README.md has
the figures on SendFeedback).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from backchannel.api.errors import Violations

_MIN_SECONDS, _MAX_SECONDS = -62135596800, 253402300799  # 0001-01-01 .. 9999-12-31
_MAX_DURATION_SECONDS = 315576000000  # 10,000 years, as google/protobuf/duration.proto says
_NANOS = 10**9
#: A non-finite float in the text format: a line ending ``: nan``, ``: inf`` or ``: -inf``
#: (text values are quoted and their line breaks escaped, so text never ends a line so).
_NON_FINITE = re.compile(r": -?(?:nan|inf)$", re.MULTILINE)
#: A NUL character in the text format: written ``\000`` (a literal backslash-000 in some
#: text only costs a walk).
_NUL = "\\000"

_STRUCT = "google.protobuf.Struct"
_VALUE = "google.protobuf.Value"
_LIST_VALUE = "google.protobuf.ListValue"
_TIMESTAMP = "google.protobuf.Timestamp"
_DURATION = "google.protobuf.Duration"
_FREE_FORM = frozenset((_STRUCT, _VALUE, _LIST_VALUE))
_FLOATS = frozenset((FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE))


@dataclass(frozen=True)
class RequestLimits:
    #: The largest encoded request, bytes.
    max_bytes: int = 1 << 20
    #: The most entries of any one repeated field or map.
    max_entries: int = 1000


# What a field holds, as far as the guard cares.
_TEXT, _FLOAT, _TIME, _MESSAGE, _OTHER = range(5)


@dataclass
class _Field:
    name: str
    kind: int
    repeated: bool
    #: For a map: the kinds of its key and value (the value's message type, if any).
    map_key: int | None = None
    map_value: int | None = None
    #: The message type of a message field (or of a map's values).
    message_type: Descriptor | None = None


@dataclass
class _Plan:
    """How to walk one message type."""

    #: Field number -> how to walk it.
    fields: dict[int, _Field] = field(default_factory=dict)
    #: Whether text or floats, timestamps/durations, or repeated fields sit anywhere inside.
    has_values: bool = False
    has_times: bool = False
    has_entries: bool = False
    #: The timestamps and durations reached through singular fields only, as chains of
    #: field names (``("feedback", "outcome", "occur_time")``): checked without a walk.
    time_chains: list[tuple[str, ...]] = field(default_factory=list)
    #: Whether others sit in lists or maps, where only a walk finds them.
    times_elsewhere: bool = False


def _kind(descriptor: FieldDescriptor) -> tuple[int, Descriptor | None]:
    if descriptor.type == FieldDescriptor.TYPE_STRING:
        return _TEXT, None
    if descriptor.type in _FLOATS:
        return _FLOAT, None
    message_type = descriptor.message_type
    if descriptor.type == FieldDescriptor.TYPE_MESSAGE and message_type is not None:
        if message_type.full_name in (_TIMESTAMP, _DURATION):
            return _TIME, message_type
        return _MESSAGE, message_type
    return _OTHER, None


_plans: dict[str, _Plan] = {}


def _plan_of(descriptor: Any) -> _Plan:
    plan = _plans.get(descriptor.full_name)
    if plan is not None:
        return plan
    plan = _plans[descriptor.full_name] = _Plan()
    if descriptor.full_name in _FREE_FORM:
        plan.has_values = plan.has_entries = True
        return plan
    inner: list[Descriptor] = []
    for fd in descriptor.fields:
        repeated = fd.is_repeated
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            key_kind, _ = _kind(fd.message_type.fields_by_name["key"])
            value_kind, value_type = _kind(fd.message_type.fields_by_name["value"])
            entry = _Field(fd.name, _MESSAGE, True, key_kind, value_kind, value_type)
            plan.fields[fd.number] = entry
            plan.has_entries = True
            plan.has_values |= _TEXT in (key_kind, value_kind) or value_kind == _FLOAT
            plan.has_times |= value_kind == _TIME
            if value_type is not None and value_kind == _MESSAGE:
                inner.append(value_type)
            continue
        kind, message_type = _kind(fd)
        plan.fields[fd.number] = _Field(fd.name, kind, repeated, message_type=message_type)
        plan.has_entries |= repeated
        plan.has_values |= kind in (_TEXT, _FLOAT)
        plan.has_times |= kind == _TIME
        if kind == _TIME:
            if repeated:
                plan.times_elsewhere = True
            else:
                plan.time_chains.append((fd.name,))
        if kind == _MESSAGE and message_type is not None:
            inner.append(message_type)
    for message_type in inner:
        # A message type inside itself sees its own plan half made: its own fields decide.
        other = _plan_of(message_type)
        plan.has_values |= other.has_values
        plan.has_times |= other.has_times
        plan.has_entries |= other.has_entries
    for entry in plan.fields.values():
        if entry.message_type is None or entry.kind != _MESSAGE:
            continue
        other = _plan_of(entry.message_type)
        if not other.has_times:
            continue
        if entry.repeated or other.times_elsewhere:
            plan.times_elsewhere = True
        else:
            plan.time_chains.extend((entry.name, *chain) for chain in other.time_chains)
    return plan


@dataclass
class _Walk:
    values: bool
    times: bool
    entries: bool
    max_entries: int
    violations: Violations

    def wants(self, plan: _Plan) -> bool:
        return (
            (self.values and plan.has_values)
            or (self.times and plan.has_times)
            or (self.entries and plan.has_entries)
        )


class RequestGuard:
    """Checks requests against :class:`RequestLimits` (see the module's docstring)."""

    def __init__(self, limits: RequestLimits | None = None) -> None:
        self.limits = limits or RequestLimits()

    def check(self, request: Message, size: int) -> None:
        """Raises ApiError(INVALID_ARGUMENT) naming every violation in ``request``, whose
        encoding was ``size`` bytes."""
        violations = Violations()
        limits = self.limits
        if size > limits.max_bytes:
            violations.add(
                "request",
                f"is {size} bytes encoded; the most a request may be is {limits.max_bytes}",
            )
        plan = _plan_of(request.DESCRIPTOR)
        walk = _Walk(
            values=plan.has_values and _holds_nul_or_non_finite(request),
            times=plan.times_elsewhere,
            entries=plan.has_entries and size > limits.max_entries,
            max_entries=limits.max_entries,
            violations=violations,
        )
        if walk.wants(plan):
            walk.times = plan.has_times
            _walk_message(request, "", plan, walk)
        else:
            _check_time_chains(request, plan.time_chains, violations)
        violations.raise_if_any()


def _check_time_chains(
    message: Message, chains: list[tuple[str, ...]], violations: Violations
) -> None:
    """The timestamps and durations reached through singular fields, found by name."""
    for chain in chains:
        value: Any = message
        for name in chain:
            if not value.HasField(name):
                break
            value = getattr(value, name)
        else:
            _check_time(value, ".".join(chain), violations)


def _holds_nul_or_non_finite(message: Message) -> bool:
    text = str(message)
    return _NUL in text or _NON_FINITE.search(text) is not None


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _walk_message(message: Message, path: str, plan: _Plan, walk: _Walk) -> None:
    full_name = message.DESCRIPTOR.full_name
    if full_name in _FREE_FORM:
        _walk_free_form(message, path, walk)
        return
    for fd, value in message.ListFields():
        entry = plan.fields[fd.number]
        here = _join(path, entry.name)
        if entry.map_key is not None:
            _walk_map(entry, value, here, walk)
        elif entry.repeated:
            if walk.entries and len(value) > walk.max_entries:
                walk.violations.add(here, f"has {len(value)} entries; at most {walk.max_entries}")
            for index, item in enumerate(value):
                _walk_value(entry.kind, entry.message_type, item, f"{here}[{index}]", walk)
        else:
            _walk_value(entry.kind, entry.message_type, value, here, walk)


def _walk_map(entry: _Field, value: Any, here: str, walk: _Walk) -> None:
    if walk.entries and len(value) > walk.max_entries:
        walk.violations.add(here, f"has {len(value)} entries; at most {walk.max_entries}")
    assert entry.map_value is not None
    for key in value:
        at = f"{here}[{key!r}]"
        if walk.values and entry.map_key == _TEXT and "\x00" in key:
            walk.violations.add(f"{at} (key)", "must not contain NUL (\\x00) characters")
        _walk_value(entry.map_value, entry.message_type, value[key], at, walk)


def _walk_value(
    kind: int, message_type: Descriptor | None, value: Any, here: str, walk: _Walk
) -> None:
    if kind == _TEXT:
        if walk.values and "\x00" in value:
            walk.violations.add(here, "must not contain NUL (\\x00) characters")
    elif kind == _FLOAT:
        if walk.values and not math.isfinite(value):
            walk.violations.add(here, "must be a finite number")
    elif kind == _TIME:
        if walk.times:
            _check_time(value, here, walk.violations)
    elif kind == _MESSAGE and message_type is not None:
        plan = _plan_of(message_type)
        if walk.wants(plan):
            _walk_message(value, here, plan, walk)


def _check_time(value: Any, here: str, violations: Violations) -> None:
    seconds, nanos = value.seconds, value.nanos
    if value.DESCRIPTOR.full_name == _TIMESTAMP:
        if not (_MIN_SECONDS <= seconds <= _MAX_SECONDS and 0 <= nanos < _NANOS):
            violations.add(here, "must be a valid time between years 1 and 9999")
    elif not (
        -_MAX_DURATION_SECONDS <= seconds <= _MAX_DURATION_SECONDS
        and -_NANOS < nanos < _NANOS
        and (seconds * nanos >= 0)
    ):
        violations.add(
            here,
            "must be a valid duration: at most 10,000 years either way, nanos within a second "
            "and of the seconds' sign",
        )


def _walk_free_form(message: Any, path: str, walk: _Walk) -> None:
    """A Struct, Value or ListValue, named as JSON would be (``attributes.outer.inner[1]``)."""
    full_name = message.DESCRIPTOR.full_name
    if full_name == _STRUCT:
        fields = message.fields
        if walk.entries and len(fields) > walk.max_entries:
            walk.violations.add(path, f"has {len(fields)} entries; at most {walk.max_entries}")
        for key in fields:
            at = f"{path}.{key}"
            if walk.values and "\x00" in key:
                walk.violations.add(f"{at} (key)", "must not contain NUL (\\x00) characters")
            _walk_free_form(fields[key], at, walk)
    elif full_name == _LIST_VALUE:
        values = message.values
        if walk.entries and len(values) > walk.max_entries:
            walk.violations.add(path, f"has {len(values)} entries; at most {walk.max_entries}")
        for index, item in enumerate(values):
            _walk_free_form(item, f"{path}[{index}]", walk)
    else:
        kind = message.WhichOneof("kind")
        if kind == "string_value":
            if walk.values and "\x00" in message.string_value:
                walk.violations.add(path, "must not contain NUL (\\x00) characters")
        elif kind == "number_value":
            if walk.values and not math.isfinite(message.number_value):
                walk.violations.add(path, "must be a finite number")
        elif kind == "struct_value":
            _walk_free_form(message.struct_value, path, walk)
        elif kind == "list_value":
            _walk_free_form(message.list_value, path, walk)
