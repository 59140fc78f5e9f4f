"""Dotted field paths over the canonical feedback document: parsing, looking up, selecting
and flattening, written once for every formatter.

A path names a value by the keys leading to it, joined by dots: ``lead_id``,
``outcome.value``, ``attribution.sub_ids.sub1``. A segment of digits also picks a list
element by its position, from 0 (``consents.0.provider``). Segments are ASCII letters,
digits and ``_`` only, so an attribute key with other characters (a space, a dot) is
reached by selecting an enclosing path such as ``attributes``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeGuard

FieldPath = tuple[str, ...]

_SEGMENT = re.compile(r"[A-Za-z0-9_]+")


class _Missing(enum.Enum):
    MISSING = enum.auto()


#: What :func:`lookup` answers for a path the document does not have (``None`` is a value).
MISSING = _Missing.MISSING


def parse_field_path(text: str) -> FieldPath | None:
    """The segments of a dotted path, or None when ``text`` is not a valid path."""
    segments = tuple(text.split("."))
    if all(_SEGMENT.fullmatch(segment) for segment in segments):
        return segments
    return None


def is_mapping(value: object) -> TypeGuard[Mapping[str, Any]]:
    return isinstance(value, Mapping)


def is_list(value: object) -> TypeGuard[Sequence[Any]]:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes | bytearray)


def lookup(document: Mapping[str, Any], path: FieldPath) -> Any:
    """The value at ``path``, or :data:`MISSING`."""
    steps = _walk(document, path)
    return MISSING if steps is None else steps[-1][1]


def select_fields(
    document: Mapping[str, Any], paths: Sequence[FieldPath] | None
) -> Mapping[str, Any]:
    """The part of ``document`` that ``paths`` name, keeping its nesting; all of it when
    ``paths`` is None.

    Keys appear in the order the paths first mention them. Paths the document does not have
    are left out. A path through a list keeps a list holding only the elements picked. A
    path inside a value an earlier path already took whole adds nothing.
    """
    if paths is None:
        return document
    picked = _Picked(is_list=False)
    for path in paths:
        _pick(document, path, picked)
    return {str(key): _unpicked(value) for key, value in picked.items()}


def flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every scalar (and ``None``) under ``value`` with its dotted path, in document order.

    List elements are numbered from 0; empty mappings and lists yield nothing.
    """
    children: Iterator[tuple[str, Any]]
    if is_mapping(value):
        children = ((str(key), child) for key, child in value.items())
    elif is_list(value):
        children = ((str(index), child) for index, child in enumerate(value))
    else:
        yield prefix, value
        return
    for segment, child in children:
        yield from flatten(child, f"{prefix}.{segment}" if prefix else segment)


class _Picked(dict[str | int, Any]):
    """A container :func:`select_fields` is filling part by part (not a document value)."""

    def __init__(self, *, is_list: bool) -> None:
        super().__init__()
        self.is_list = is_list


def _walk(document: Mapping[str, Any], path: FieldPath) -> list[tuple[str | int, Any]] | None:
    """The (key or index, value) pairs leading along ``path``; None when it leads nowhere."""
    steps: list[tuple[str | int, Any]] = []
    value: Any = document
    for segment in path:
        step = _child(value, segment)
        if step is None:
            return None
        steps.append(step)
        value = step[1]
    return steps


def _child(container: Any, segment: str) -> tuple[str | int, Any] | None:
    if is_mapping(container):
        return (segment, container[segment]) if segment in container else None
    # "01" is not a position: one list element has exactly one path.
    if is_list(container) and segment.isdigit() and str(int(segment)) == segment:
        index = int(segment)
        return (index, container[index]) if index < len(container) else None
    return None


def _pick(document: Mapping[str, Any], path: FieldPath, picked: _Picked) -> None:
    steps = _walk(document, path)
    if steps is None:
        return
    target = picked
    for key, value in steps[:-1]:
        node = target.setdefault(key, _Picked(is_list=is_list(value)))
        if not isinstance(node, _Picked):
            return
        target = node
    key, value = steps[-1]
    target[key] = value


def _unpicked(value: Any) -> Any:
    if not isinstance(value, _Picked):
        return value
    if value.is_list:
        return [_unpicked(child) for child in value.values()]
    return {key: _unpicked(child) for key, child in value.items()}
