"""Hypothesis strategies for any protobuf request message, built from its descriptor: every
field may be set, with values a careless or hostile caller would send (NUL characters,
NaN and infinities, huge and negative numbers, timestamps and durations out of range,
long text, many entries, enum numbers nobody defined) mixed with values that mean
something to the server under test (its recipient, feedback and delivery ids), so that
requests also get past the first checks."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from google.protobuf import struct_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from hypothesis import strategies as st

_INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
_FLOAT_TYPES = (FieldDescriptor.TYPE_FLOAT, FieldDescriptor.TYPE_DOUBLE)
_ADVERSARIAL_TEXT = ("", "\x00", "a\x00b", "x" * 5000, "é" * 300, " ", "\\000", "nan")
_HUGE_TEXT = "y" * (1 << 20)


def _ints(low: int, high: int) -> st.SearchStrategy[int]:
    edges = [v for v in (low, high, -1, 0, 1, 2, 100, 10**9, -(10**9)) if low <= v <= high]
    return st.one_of(st.sampled_from(edges), st.integers(low, high))


def _floats() -> st.SearchStrategy[float]:
    return st.one_of(
        st.sampled_from([float("nan"), float("inf"), float("-inf"), 1e308, -1e308, 0.0, 50.0]),
        st.floats(allow_nan=True, allow_infinity=True),
    )


class RequestStrategies:
    """Strategies for request messages; ``vocabulary`` is text the server knows."""

    def __init__(self, vocabulary: Sequence[str], many: int) -> None:
        #: How many entries make a list "many": past the server's cap.
        self.many = many
        self.text = st.one_of(
            st.sampled_from(list(vocabulary)),
            st.sampled_from(_ADVERSARIAL_TEXT),
            st.text(max_size=40),
            st.just(_HUGE_TEXT),
        )

    def message(self, descriptor: Descriptor, depth: int = 0) -> st.SearchStrategy[Message]:
        return st.composite(lambda draw: self._build(draw, descriptor, depth))()

    def _build(self, draw: Any, descriptor: Descriptor, depth: int) -> Message:
        message: Message = descriptor._concrete_class()  # type: ignore[attr-defined]
        full_name = descriptor.full_name
        if full_name in ("google.protobuf.Timestamp", "google.protobuf.Duration"):
            message.seconds = draw(_ints(-(2**62), 2**62))  # type: ignore[attr-defined]
            message.nanos = draw(_ints(-(2**31), 2**31 - 1))  # type: ignore[attr-defined]
            return message
        if full_name == "google.protobuf.Struct":
            assert isinstance(message, struct_pb2.Struct)
            message.update(draw(self._json_object(depth)))
            return message
        chosen_oneofs = {
            oneof.name: draw(st.sampled_from([None, *oneof.fields])) for oneof in descriptor.oneofs
        }
        for field in descriptor.fields:
            oneof = field.containing_oneof
            if oneof is not None and chosen_oneofs[oneof.name] is not field:
                continue
            if oneof is None and not draw(st.booleans()):
                continue
            self._set(draw, message, field, depth)
        return message

    def _json_object(self, depth: int) -> st.SearchStrategy[dict[str, Any]]:
        leaves = st.one_of(st.none(), st.booleans(), _floats(), self.text)
        values = st.recursive(
            leaves,
            lambda inner: st.one_of(
                st.lists(inner, max_size=3), st.dictionaries(self.text, inner, max_size=3)
            ),
            max_leaves=8,
        )
        return st.one_of(
            st.dictionaries(self.text, values, max_size=4),
            st.just({f"k{i}": i for i in range(self.many)}),
        )

    def _value(self, draw: Any, field: FieldDescriptor, depth: int) -> Any:
        kind = field.type
        if kind == FieldDescriptor.TYPE_STRING:
            return draw(self.text)
        if kind == FieldDescriptor.TYPE_BYTES:
            return draw(st.binary(max_size=32))
        if kind == FieldDescriptor.TYPE_BOOL:
            return draw(st.booleans())
        if kind in _FLOAT_TYPES:
            return draw(_floats())
        if kind == FieldDescriptor.TYPE_ENUM:
            known = [value.number for value in field.enum_type.values]
            return draw(st.one_of(st.sampled_from(known), _ints(-(2**31), 2**31 - 1)))
        if kind == FieldDescriptor.TYPE_MESSAGE:
            return draw(self.message(field.message_type, depth + 1))
        return draw(_ints(*_INT_RANGES[kind]))

    def _set(self, draw: Any, message: Message, field: FieldDescriptor, depth: int) -> None:
        target = getattr(message, field.name)
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            key_field = field.message_type.fields_by_name["key"]
            value_field = field.message_type.fields_by_name["value"]
            many = draw(st.integers(0, 9)) == 0
            shared = self._value(draw, value_field, depth + 1) if many else None
            for index in range(self.many if many else draw(st.integers(0, 3))):
                key = f"key{index}" if many else self._value(draw, key_field, depth)
                value = shared if many else self._value(draw, value_field, depth + 1)
                if value_field.message_type is not None:
                    target[key].CopyFrom(value)
                else:
                    _assign(lambda k=key, v=value: target.__setitem__(k, v))
            return
        if field.is_repeated:
            if depth < 3:
                items = draw(st.lists(st.just(None), max_size=3))
                values = [self._value(draw, field, depth) for _ in items]
            else:
                values = []
            if draw(st.integers(0, 9)) == 0 and field.type != FieldDescriptor.TYPE_MESSAGE:
                values = [self._value(draw, field, depth)] * self.many
            for value in values:
                if field.type == FieldDescriptor.TYPE_MESSAGE:
                    target.add().CopyFrom(value)
                else:
                    _assign(lambda v=value: target.append(v))
            return
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if depth < 4:
                target.CopyFrom(self._value(draw, field, depth))
            return
        value = self._value(draw, field, depth)
        _assign(lambda: setattr(message, field.name, value))


def _assign(assignment: Any) -> None:
    """Sets a value, skipping one the field's type cannot hold at all (the runtime refuses
    it before any byte is sent)."""
    with contextlib.suppress(ValueError, TypeError):
        assignment()
