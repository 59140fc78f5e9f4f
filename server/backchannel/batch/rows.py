"""One feedback as one row of a batch file, and whether the row is fit to send.

The columns and their shaping come from the recipient's ``format_options``, read with the
individual formatters' own readers: ``fields`` (or ``columns``) choose and order the
columns (default: the CSV formatter's standard columns), ``drop``/``rename``/``constants``
reshape the document first, and ``delimiter``, ``header`` and ``csv_injection_guard`` shape
CSV files as they shape single CSV bodies.

Validation before a file is sent: every required field has a value, typed columns hold
their type (numbers, RFC 3339 times), and no cell is longer than a spreadsheet cell can be
(32,767 characters).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from backchannel_client.v1 import feedback_pb2

from backchannel.consent_gate import missing_purposes
from backchannel.data_policy import DEFAULT_POLICY, DataPolicy, minimized
from backchannel.feedback_document import feedback_document
from backchannel.formatters._csv import STANDARD_COLUMNS
from backchannel.formatters._document_paths import MISSING, FieldPath, lookup, parse_field_path
from backchannel.formatters._field_mapping import (
    MAPPING_OPTION_NAMES,
    FieldMapping,
    apply_field_mapping,
    read_field_mapping,
)
from backchannel.formatters._options import OptionReader
from backchannel.plugin import FieldProblem

#: Option names a batch file reads from ``format_options`` (besides the field mapping).
OPTION_NAMES = (
    "fields",
    "columns",
    "delimiter",
    "header",
    "csv_injection_guard",
    "root_element",
    "pretty",
    "template",
    "content_type",
    "file_extension",
    "autoescape",
    "return_template",
)
#: A spreadsheet cell holds at most this many characters.
MAX_CELL_CHARS = 32_767
#: Columns holding times (RFC 3339 in the document; date-times in XLSX).
TIME_COLUMNS = frozenset(
    ("feedback_date", "accepted_at", "outcome.conversion_date", "return.return_date")
)
#: Columns holding numbers.
NUMBER_PREFIXES = ("outcome.value", "quality.")

#: The document's paths: top-level keys, and the known keys below the fixed parts.
_KNOWN: dict[str, frozenset[str] | None] = {
    "feedback_id": frozenset(),
    "kind": frozenset(),
    "lead_id": frozenset(),
    "source_id": frozenset(),
    "flow_id": frozenset(),
    "event_id": frozenset(),
    "click_id": frozenset(),
    "transaction_id": frozenset(),
    "feedback_date": frozenset(),
    "accepted_at": frozenset(),
    "outcome": frozenset(("status", "conversion_date", "value", "currency", "product")),
    "return": frozenset(("reason_code", "reason_text", "return_date")),
    "attribution": frozenset(("campaign", "creative", "keyword", "sub_ids")),
    # Free-form below these.
    "quality": None,
    "consents": None,
    "consent_purposes": None,
    "attributes": None,
    # Only as far as the recipient's data policy lets it through (never by default).
    "subject": frozenset(("email", "phone", "first_name", "last_name", "postal_code", "country")),
}
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")


@dataclass(frozen=True)
class RowShape:
    columns: tuple[FieldPath, ...]
    mapping: FieldMapping
    delimiter: str
    header: bool
    csv_injection_guard: bool
    required: tuple[FieldPath, ...]
    #: The recipient's data policy: each row is made from the document it cuts.
    policy: DataPolicy = DEFAULT_POLICY

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(".".join(c) for c in self.columns)


def read_shape(
    options: Mapping[str, Any], required_fields: Sequence[str], policy: DataPolicy = DEFAULT_POLICY
) -> tuple[RowShape, list[FieldProblem]]:
    """The row shape and every problem with it (``format_options.*`` and
    ``batch.required_fields[i]``), including columns the document can never have."""
    reader = OptionReader(options, (*OPTION_NAMES, *MAPPING_OPTION_NAMES))
    mapping = read_field_mapping(reader)
    columns = reader.field_paths("columns") or reader.field_paths("fields")
    reader.conflict("columns", "fields")
    delimiter = reader.raw("delimiter")
    shape_columns = columns or tuple(tuple(c.split(".")) for c in STANDARD_COLUMNS)
    problems = list(reader.problems)
    produced = [target for _, target in mapping.rename] + [name for name, _ in mapping.constants]
    if columns:
        name = "columns" if reader.has("columns") else "fields"
        for index, column in enumerate(columns):
            if not _known(column, produced):
                problems.append(
                    FieldProblem(
                        f"format_options.{name}[{index}]",
                        f"unknown column {'.'.join(column)!r}: not a field of the feedback "
                        "document, a rename or a constant",
                    )
                )
    required: list[FieldPath] = []
    for index, text in enumerate(required_fields):
        path = parse_field_path(text)
        if path is None:
            problems.append(
                FieldProblem(f"batch.required_fields[{index}]", "must be a dotted field path")
            )
        elif path not in shape_columns:
            problems.append(
                FieldProblem(
                    f"batch.required_fields[{index}]",
                    f"{text!r} is not one of the file's columns",
                )
            )
        else:
            required.append(path)
    return (
        RowShape(
            columns=shape_columns,
            mapping=mapping,
            delimiter=delimiter if isinstance(delimiter, str) and len(delimiter) == 1 else ",",
            header=options.get("header") is not False,
            csv_injection_guard=options.get("csv_injection_guard") is not False,
            required=tuple(required),
            policy=policy,
        ),
        problems,
    )


def _known(column: FieldPath, produced: Sequence[FieldPath]) -> bool:
    for name in produced:
        if column[: len(name)] == name or name[: len(column)] == column:
            return True
    below = _KNOWN.get(column[0], frozenset()) if column[0] in _KNOWN else MISSING
    if below is MISSING:
        return False
    if below is None or len(column) == 1:
        return True
    assert isinstance(below, frozenset)
    if column[0] == "attribution" and column[1] == "sub_ids":
        return True
    return len(column) == 2 and column[1] in below


def consent_lacking(required: tuple[str, ...], record: bytes) -> tuple[str, ...]:
    """The consent purposes of ``required`` the stored feedback does not grant (none
    required: nothing is read)."""
    if not required:
        return ()
    return missing_purposes(required, feedback_pb2.Feedback.FromString(bytes(record)))


def row_values(
    shape: RowShape, record: bytes, subject: feedback_pb2.Subject | None = None
) -> list[Any]:
    """The row of one stored feedback (and its opened ``subject``, given only when the
    policy lets some of it through): one value per column (MISSING where it has none)."""
    document = apply_field_mapping(
        minimized(
            feedback_document(feedback_pb2.Feedback.FromString(record)), shape.policy, subject
        ),
        shape.mapping,
    )
    return [_value(document, column) for column in shape.columns]


def _value(document: Mapping[str, Any], path: FieldPath) -> Any:
    """``lookup``, with a fast path for the plain dicts the document is made of (a file of a
    million rows looks up every column of every row)."""
    value: Any = document
    for segment in path:
        if type(value) is dict:
            value = value.get(segment, MISSING)
            if value is MISSING:
                return MISSING
        else:
            return lookup(document, path)
    return value


def row_problem(shape: RowShape, values: Sequence[Any]) -> str | None:
    """Why a row cannot be sent, or None."""
    problems: list[str] | None = None
    for index, name, kind in _checks(shape):
        value = values[index]
        problem = None
        if kind == "required":
            if value is MISSING or value is None or value == "":
                problem = f"required field {name} is empty"
        elif value is MISSING or value is None:
            continue
        elif kind == "time":
            if not (type(value) is str and _RFC3339.fullmatch(value)):
                problem = f"{name} is not an RFC 3339 time"
        elif kind == "number":
            if type(value) is bool or not isinstance(value, int | float | Decimal | dict):
                problem = f"{name} is not a number"
        elif type(value) is str and len(value) > MAX_CELL_CHARS:
            problem = f"{name} is longer than {MAX_CELL_CHARS} characters"
        if problem is not None:
            problems = problems or []
            problems.append(problem)
    return None if problems is None else "; ".join(problems)


_CHECKS: dict[RowShape, list[tuple[int, str, str]]] = {}


def _checks(shape: RowShape) -> list[tuple[int, str, str]]:
    """(column index, name, check) for each check a row of ``shape`` gets, worked out once."""
    found = _CHECKS.get(shape)
    if found is None:
        found = [(shape.columns.index(path), ".".join(path), "required") for path in shape.required]
        for index, name in enumerate(shape.column_names):
            if name in TIME_COLUMNS:
                found.append((index, name, "time"))
            elif name.startswith(NUMBER_PREFIXES):
                found.append((index, name, "number"))
            else:
                found.append((index, name, "size"))
        if len(_CHECKS) > 1024:
            _CHECKS.clear()
        _CHECKS[shape] = found
    return found


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
