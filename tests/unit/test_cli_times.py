"""Times the operator commands take (--since, --until): RFC 3339, or a duration before
now as people type it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from backchannel.cli.connection import CommandError
from backchannel.cli.durations import parse_duration
from backchannel.cli.output import parse_time

NOW = datetime(2024, 1, 15, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "ago"),
    [
        ("30m", timedelta(minutes=30)),
        ("1h", timedelta(hours=1)),
        ("2d", timedelta(days=2)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        (" 2W ", timedelta(weeks=2)),
        ("45s", timedelta(seconds=45)),
    ],
)
def test_a_duration_means_that_long_before_now(text: str, ago: timedelta) -> None:
    assert parse_time(text, "--since", NOW) == NOW - ago


def test_an_rfc_3339_time_is_taken_as_it_is_and_without_a_zone_as_utc() -> None:
    assert parse_time("2024-01-15T10:30:00+02:00", "--since", NOW) == datetime(
        2024, 1, 15, 8, 30, tzinfo=UTC
    )
    assert parse_time("2024-01-15T10:30:00", "--since", NOW) == datetime(
        2024, 1, 15, 10, 30, tzinfo=UTC
    )


@pytest.mark.parametrize("text", ["1 fortnight", "h", "1y", "-1h", "1h-"])
def test_anything_else_is_a_usage_error_naming_both_forms(text: str) -> None:
    with pytest.raises(CommandError) as raised:
        parse_time(text, "--since", NOW)

    assert raised.value.exit_code == 2
    assert "2024-01-15T10:30:00Z" in str(raised.value) and "1h" in str(raised.value)


def test_a_duration_is_not_a_time() -> None:
    assert parse_duration("2024-01-15") is None
