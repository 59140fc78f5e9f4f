"""backchannel.plugin_support's settings checks: setting names and positive numbers."""

from __future__ import annotations

import math
from typing import Any

import pytest

from backchannel.plugin import FieldProblem
from backchannel.plugin_support import positive_number, setting_name_problems


def name_problems(settings: dict[str, Any], secrets: dict[str, Any]) -> list[FieldProblem]:
    return setting_name_problems(
        settings,
        secrets,
        plain_names={"host", "port"},
        secret_names={"password"},
        unknown="a demo setting",
    )


def test_known_names_in_their_place_are_no_problem() -> None:
    assert name_problems({"host": "h", "port": 22}, {"password": "p"}) == []


def test_secret_given_as_a_plain_setting_is_named_without_its_value() -> None:
    assert name_problems({"password": "hunter2"}, {}) == [
        FieldProblem("transport_settings.password", "is secret: give it in secret_settings")
    ]


def test_plain_setting_given_as_a_secret() -> None:
    assert name_problems({}, {"host": "h"}) == [
        FieldProblem("secret_settings.host", "is not secret: give it in transport_settings")
    ]


def test_unknown_names_list_what_is_known_on_their_side() -> None:
    assert name_problems({"hots": "h"}, {"pasword": "p"}) == [
        FieldProblem("transport_settings.hots", "is not a demo setting (known: host, port)"),
        FieldProblem("secret_settings.pasword", "is not a demo setting (known: password)"),
    ]


@pytest.mark.parametrize(("value", "number"), [(5, 5.0), (0.5, 0.5), (30, 30.0)])
def test_positive_number_within_its_maximum(value: float, number: float) -> None:
    problems: list[FieldProblem] = []
    assert positive_number({"timeout_seconds": value}, "timeout_seconds", 30, problems) == number
    assert problems == []


def test_absent_number_is_none_and_no_problem() -> None:
    problems: list[FieldProblem] = []
    assert positive_number({}, "timeout_seconds", 30, problems) is None
    assert problems == []


@pytest.mark.parametrize("value", [0, -1, 30.5, True, "5", math.nan, math.inf])
def test_anything_but_a_number_in_range_is_a_problem(value: Any) -> None:
    problems: list[FieldProblem] = []
    assert positive_number({"timeout_seconds": value}, "timeout_seconds", 30, problems) is None
    assert problems == [
        FieldProblem(
            "transport_settings.timeout_seconds", "must be a number of seconds above 0, at most 30"
        )
    ]


def test_the_problem_names_what_the_number_is() -> None:
    problems: list[FieldProblem] = []
    positive_number({"rate": 0}, "rate", 2.5, problems, what="a number")
    assert problems == [
        FieldProblem("transport_settings.rate", "must be a number above 0, at most 2.5")
    ]
