"""Per-recipient field mapping, shared by every built-in formatter: ``hash``, ``drop``,
``rename`` and ``constants`` reshape the canonical feedback document before it is rendered.

They apply in that order, to a copy (the caller's document is never changed):

``hash``
    an object mapping a dotted path to a hash method (``{"subject.email":
    "sha256_google"}``): the value is replaced by the SHA-256 of its normalized form (see
    backchannel.formatters._field_hashing).
``drop``
    a list of dotted paths (``attributes``, ``outcome.product``, ``consents.0``) removed
    from the document; paths it does not have are ignored. Dropping a list element removes
    it, and the elements after it move up.
``rename``
    an object mapping a dotted path to a new dotted name (``{"lead_id": "lead.id"}``). Every
    value is taken out first and then put at its new name, so renames do not see each
    other's results (``{"a": "b", "b": "a"}`` swaps). A new name replaces what the document
    holds there, and replaces a value that is not an object on its way with an object.
    A path the document does not have is ignored.
``constants``
    an object mapping a dotted name to a string, number, boolean or null, set on every
    document (replacing what is there).

A formatter's ``fields`` (or ``columns``), a template's variables and postback macros see the
reshaped document, so they name renamed fields by their new names. New names and constant
names are made of object keys only: a segment of digits (a list position) is refused.
``check_options`` lists every problem: paths that are not dotted paths, a rename of a path
that is dropped first, renames whose sources lie inside one another, new names and constant
names that are the same as, or lie inside, one another, and constants that are not scalars.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from backchannel.formatters._document_paths import (
    MISSING,
    FieldPath,
    is_list,
    is_mapping,
    lookup,
    parse_field_path,
)
from backchannel.formatters._field_hashing import apply_hash, read_hash
from backchannel.formatters._options import OptionReader

MAPPING_OPTION_NAMES: tuple[str, ...] = ("hash", "drop", "rename", "constants")

_PATH_RULE = "must be a dotted path of names made of letters, digits and _ (e.g. outcome.value)"
_NAME_RULE = (
    "must be a dotted name of keys made of letters, digits and _, none of them only digits "
    "(e.g. lead.id)"
)


@dataclass(frozen=True)
class FieldMapping:
    """Checked ``drop``, ``rename`` and ``constants`` options (hashable)."""

    drop: tuple[FieldPath, ...] = ()
    rename: tuple[tuple[FieldPath, FieldPath], ...] = ()
    constants: tuple[tuple[FieldPath, Any], ...] = ()
    #: (path, hash method) pairs, applied first.
    hash: tuple[tuple[FieldPath, str], ...] = ()

    @property
    def is_empty(self) -> bool:
        return not (self.drop or self.rename or self.constants or self.hash)


def read_field_mapping(reader: OptionReader) -> FieldMapping:
    """The mapping options; every problem goes to ``reader``."""
    hashes = read_hash(reader)
    drop = reader.field_paths("drop") or ()
    rename = _read_rename(reader, drop)
    constants = _read_constants(reader, rename)
    return FieldMapping(drop=drop, rename=rename, constants=constants, hash=hashes)


def apply_field_mapping(document: Mapping[str, Any], mapping: FieldMapping) -> Mapping[str, Any]:
    """A reshaped copy of ``document`` (``document`` itself when there is nothing to do)."""
    if mapping.is_empty:
        return document
    reshaped: dict[str, Any] = _copied(document)
    apply_hash(reshaped, mapping.hash)
    _remove(reshaped, mapping.drop)
    moved = [(target, lookup(reshaped, source)) for source, target in mapping.rename]
    _remove(reshaped, [source for source, _ in mapping.rename])
    for target, value in moved:
        if value is not MISSING:
            _put(reshaped, target, value)
    for name, value in mapping.constants:
        _put(reshaped, name, value)
    return reshaped


def _read_rename(
    reader: OptionReader, drop: Sequence[FieldPath]
) -> tuple[tuple[FieldPath, FieldPath], ...]:
    value = reader.raw("rename")
    if value is None:
        return ()
    if not is_mapping(value):
        reader.problem("rename", "must be an object mapping dotted paths to new names")
        return ()
    renames: list[tuple[FieldPath, FieldPath]] = []
    for key, new_name in value.items():
        field = f"rename.{key}"
        source = parse_field_path(key) if isinstance(key, str) else None
        target = _name(new_name)
        if source is None:
            reader.problem(field, f"the key {_PATH_RULE}")
        if target is None:
            reader.problem(field, _NAME_RULE)
        if source is None or target is None:
            continue
        problem = _rename_problem(source, target, drop, renames)
        if problem is not None:
            reader.problem(field, problem)
            continue
        renames.append((source, target))
    return tuple(renames)


def _rename_problem(
    source: FieldPath,
    target: FieldPath,
    drop: Sequence[FieldPath],
    earlier: Sequence[tuple[FieldPath, FieldPath]],
) -> str | None:
    for dropped in drop:
        if _starts_with(source, dropped):
            return f"renames {_text(source)}, which drop removes first ({_text(dropped)})"
    for other_source, other_target in earlier:
        if _overlaps(source, other_source):
            return f"overlaps the rename of {_text(other_source)}; rename one or the other"
        if _overlaps(target, other_target):
            return (
                f"the new name {_text(target)} collides with {_text(other_target)}, "
                f"the new name of {_text(other_source)}"
            )
    return None


def _read_constants(
    reader: OptionReader, renames: Sequence[tuple[FieldPath, FieldPath]]
) -> tuple[tuple[FieldPath, Any], ...]:
    value = reader.raw("constants")
    if value is None:
        return ()
    if not is_mapping(value):
        reader.problem("constants", "must be an object mapping names to constant values")
        return ()
    constants: list[tuple[FieldPath, Any]] = []
    for key, constant in value.items():
        field = f"constants.{key}"
        name = _name(key)
        usable = name is not None
        if name is None:
            reader.problem(field, f"the key {_NAME_RULE}")
        if not _is_scalar(constant):
            reader.problem(field, "must be a string, a finite number, true, false or null")
            usable = False
        if name is None or not usable:
            continue
        problem = _constant_problem(name, renames, constants)
        if problem is not None:
            reader.problem(field, problem)
            continue
        constants.append((name, constant))
    return tuple(constants)


def _constant_problem(
    name: FieldPath,
    renames: Sequence[tuple[FieldPath, FieldPath]],
    earlier: Sequence[tuple[FieldPath, Any]],
) -> str | None:
    for source, target in renames:
        if _overlaps(name, target):
            return f"collides with {_text(target)}, the new name of {_text(source)}"
    for other, _ in earlier:
        if _overlaps(name, other):
            return f"collides with the constant {_text(other)}"
    return None


def _name(value: object) -> FieldPath | None:
    path = parse_field_path(value) if isinstance(value, str) else None
    if path is None or any(segment.isdigit() for segment in path):
        return None
    return path


def _is_scalar(value: object) -> bool:
    if value is None or isinstance(value, str | bool | int):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, Decimal):
        return value.is_finite()
    return False


def _starts_with(path: FieldPath, prefix: FieldPath) -> bool:
    return path[: len(prefix)] == prefix


def _overlaps(first: FieldPath, second: FieldPath) -> bool:
    """The same path, or one lies inside the other."""
    return _starts_with(first, second) or _starts_with(second, first)


def _text(path: FieldPath) -> str:
    return ".".join(path)


def _copied(value: Any) -> Any:
    """Mappings and lists copied all the way down; scalars shared."""
    if is_mapping(value):
        return {key: _copied(child) for key, child in value.items()}
    if is_list(value):
        return [_copied(child) for child in value]
    return value


def _remove(document: dict[str, Any], paths: Sequence[FieldPath]) -> None:
    """Removes every path, each found in the document as it was before any removal."""
    keys: list[tuple[dict[str, Any], str]] = []
    positions: dict[int, tuple[list[Any], set[int]]] = {}
    for path in paths:
        parent = document if len(path) == 1 else lookup(document, path[:-1])
        last = path[-1]
        if isinstance(parent, dict) and last in parent:
            keys.append((parent, last))
        elif isinstance(parent, list) and _position(last, len(parent)) is not None:
            positions.setdefault(id(parent), (parent, set()))[1].add(int(last))
    for mapping, key in keys:
        mapping.pop(key, None)
    for elements, indexes in positions.values():
        for index in sorted(indexes, reverse=True):
            del elements[index]


def _position(segment: str, length: int) -> int | None:
    if segment.isdigit() and str(int(segment)) == segment and int(segment) < length:
        return int(segment)
    return None


def _put(document: dict[str, Any], path: FieldPath, value: Any) -> None:
    node = document
    for segment in path[:-1]:
        child = node.get(segment)
        if not isinstance(child, dict):
            child = {}
            node[segment] = child
        node = child
    node[path[-1]] = value
