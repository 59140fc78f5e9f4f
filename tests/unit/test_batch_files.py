"""Batch file pieces on their own: name templates refused when they could leave their
folder, names made in the schedule's zone, CSV rows written exactly as the csv formatter
writes a single feedback (cells, injection guard), gzip that compresses the same file to
the same bytes."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.brief_example import brief_example_feedback

from backchannel.batch.naming import render, template_problems
from backchannel.batch.pipeline import GzipCompressor
from backchannel.batch.rows import read_shape, row_problem, row_values
from backchannel.batch.writers import _fast_cell, writer_for
from backchannel.feedback_document import feedback_document
from backchannel.formatters._csv import CsvFormatter, _cell
from backchannel.formatters._document_paths import MISSING


@pytest.mark.parametrize(
    "template",
    ["../{ext}", "a/{sequence}.{ext}", "x\\y.{ext}", "x\x07.{ext}", ".hidden.{ext}", "{nope}.csv"],
)
def test_a_name_template_that_could_leave_its_folder_or_is_unknown_is_refused(
    template: str,
) -> None:
    assert template_problems(template)


def test_names_are_made_in_the_schedules_zone() -> None:
    name = render(
        "{recipient_id}-{period_end:%Y%m%d-%H%M}-{sequence:04d}.{ext}",
        recipient_id="acme", sequence=7, period_start=None,
        period_end=datetime(2024, 3, 10, 7, 30, tzinfo=UTC),
        run_time=datetime(2024, 3, 10, 7, 31, tzinfo=UTC), ext="csv.gz.pgp",
        zone=ZoneInfo("America/New_York"),
    )  # fmt: skip
    assert name == "acme-20240310-0330-0007.csv.gz.pgp"


@given(
    st.one_of(
        st.text(max_size=20),
        st.integers(),
        st.decimals(allow_nan=False, allow_infinity=False, places=2),
        st.booleans(),
        st.none(),
    ),
    st.booleans(),
)
def test_the_fast_cell_is_the_csv_formatters_cell(value: object, guard: bool) -> None:
    assert _fast_cell(value, guard) == _cell(value, guard=guard)


def test_a_batch_csv_row_is_the_csv_formatters_row() -> None:
    feedback = brief_example_feedback()
    feedback.attribution.keyword = '=HYPERLINK("x")'
    options = {"fields": ["lead_id", "outcome.value", "attribution.keyword", "feedback_date"]}
    shape, problems = read_shape(options, [])
    assert problems == []
    writer = writer_for("csv", shape)
    batch = writer.start() + writer.rows([row_values(shape, feedback.SerializeToString())])
    single = CsvFormatter().render(feedback_document(feedback), options).body
    assert batch == single
    assert b"'=HYPERLINK" in batch


def test_required_fields_and_types_are_checked() -> None:
    shape, _ = read_shape({"fields": ["lead_id", "outcome.value"]}, ["outcome.value"])
    assert row_problem(shape, ["LC1", Decimal("1.00")]) is None
    assert row_problem(shape, ["LC1", MISSING]) == "required field outcome.value is empty"
    assert row_problem(shape, ["LC1", "many"]) == "outcome.value is not a number"


def test_unknown_columns_are_problems_but_renamed_ones_are_not() -> None:
    _, problems = read_shape(
        {"fields": ["lead_id", "nope", "lead.id"], "rename": {"lead_id": "lead.id"}}, []
    )
    assert [p.field for p in problems] == ["format_options.fields[1]"]


def test_gzip_compresses_the_same_file_to_the_same_bytes() -> None:
    def compressed() -> bytes:
        compressor = GzipCompressor()
        return compressor.feed(b"a,b\r\n" * 1000) + compressor.finish()

    assert compressed() == compressed()
    assert gzip.decompress(compressed()) == b"a,b\r\n" * 1000
