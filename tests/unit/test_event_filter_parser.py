"""The List/stream filter grammar takes exactly the fields and operators of the one table
of filterable fields, and refuses everything else as INVALID_ARGUMENT on the named field."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from backchannel.api.errors import ApiError
from backchannel.api.event_filters import parse_event_filter
from backchannel.event_filter import FILTER_FIELDS, OPERATORS, FieldKind, Operator
from backchannel.model import ProcessingStatus

SAMPLE = {
    FieldKind.TEXT: ('"x y"', "x y"),
    FieldKind.STATUS: ("SUCCEEDED", ProcessingStatus.SUCCEEDED),
    FieldKind.TIME: ('"2024-01-15T10:30:00Z"', datetime(2024, 1, 15, 10, 30, tzinfo=UTC)),
}


@pytest.mark.parametrize(
    ("name", "op"),
    [(name, op) for name, field in FILTER_FIELDS.items() for op in OPERATORS[field.kind]],
)
def test_every_field_of_the_table_takes_each_of_its_operators(name: str, op: Operator) -> None:
    written, value = SAMPLE[FILTER_FIELDS[name].kind]
    [condition] = parse_event_filter(f"{name} {op} {written}").conditions
    assert (condition.field.name, condition.operator, condition.values) == (name, op, (value,))


@pytest.mark.parametrize(
    ("name", "op"),
    [
        (name, op)
        for name, field in FILTER_FIELDS.items()
        for op in Operator
        if op not in OPERATORS[field.kind]
    ],
)
def test_an_operator_a_field_does_not_take_is_refused(name: str, op: Operator) -> None:
    written, _ = SAMPLE[FILTER_FIELDS[name].kind]
    with pytest.raises(ApiError) as refused:
        parse_event_filter(f"{name} {op} {written}", "filter.expression")
    assert [field for field, _ in refused.value.violations] == ["filter.expression"]


def test_an_unknown_field_is_refused_naming_every_filterable_one() -> None:
    with pytest.raises(ApiError) as refused:
        parse_event_filter('colour = "red"')
    for name in FILTER_FIELDS:
        assert name in refused.value.message


@pytest.mark.parametrize("text", ['lead_id = "a\x00b"', "lead_id = a\x00", "x" * 5000])
def test_nul_characters_and_huge_filters_are_refused(text: str) -> None:
    with pytest.raises(ApiError):
        parse_event_filter(text)


def test_comparisons_joined_by_and_are_all_kept_in_order() -> None:
    parsed = parse_event_filter(
        'lead_id = "LC1" AND start_time >= "2024-01-01T00:00:00Z" AND start_time < '
        '"2024-02-01T00:00:00Z"'
    )
    assert [(c.field.name, c.operator) for c in parsed.conditions] == [
        ("lead_id", Operator.EQ),
        ("start_time", Operator.GE),
        ("start_time", Operator.LT),
    ]
