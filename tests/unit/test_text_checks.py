"""check_text refuses NUL characters wherever text can sit in a message, and text longer
than its limit, whether the message is small enough for the quick screen or not."""

from __future__ import annotations

import pytest
from backchannel_client.v1 import feedback_pb2
from support.brief_example import brief_example_feedback

from backchannel.api.errors import Violations
from backchannel.api.validation import check_text


def refused(feedback: feedback_pb2.Feedback, max_len: int = 1024) -> list[str]:
    violations = Violations()
    check_text(feedback, "feedback", violations, max_len=max_len)
    return [field for field, _ in violations.items]


def with_nul_in_lead(f: feedback_pb2.Feedback) -> None:
    f.lead.source_id = "SOURCE\x00ABC"


def with_nul_in_money(f: feedback_pb2.Feedback) -> None:
    f.outcome.value.currency_code = "U\x00D"


def with_nul_in_map_key(f: feedback_pb2.Feedback) -> None:
    f.attribution.sub_ids["s\x001"] = "x"


def with_nul_in_map_value(f: feedback_pb2.Feedback) -> None:
    f.attribution.sub_ids["s1"] = "x\x00"


def with_nul_in_dimension_name(f: feedback_pb2.Feedback) -> None:
    f.quality.dimensions["data\x00quality"] = 10


def with_nul_in_repeated_message(f: feedback_pb2.Feedback) -> None:
    f.consents.add(provider="tcpa", reference="ref\x00")


def with_nul_deep_in_attributes(f: feedback_pb2.Feedback) -> None:
    f.attributes.update({"outer": {"inner": ["fine", "not\x00fine"]}})


def with_nul_in_attribute_key(f: feedback_pb2.Feedback) -> None:
    f.attributes.update({"k\x00": 1})


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (with_nul_in_lead, "feedback.lead.source_id"),
        (with_nul_in_money, "feedback.outcome.value.currency_code"),
        (with_nul_in_map_key, "feedback.attribution.sub_ids['s\\x001'] (key)"),
        (with_nul_in_map_value, "feedback.attribution.sub_ids['s1']"),
        (with_nul_in_dimension_name, "feedback.quality.dimensions['data\\x00quality'] (key)"),
        (with_nul_in_repeated_message, "feedback.consents[0].reference"),
        (with_nul_deep_in_attributes, "feedback.attributes.outer.inner[1]"),
        (with_nul_in_attribute_key, "feedback.attributes.k\x00 (key)"),
    ],
)
@pytest.mark.parametrize("padded", [False, True], ids=["small", "larger-than-the-limit"])
def test_a_nul_anywhere_is_refused_by_its_path(change: object, field: str, padded: bool) -> None:
    feedback = brief_example_feedback()
    if padded:
        # Past the limit in all, though no single text is: the walk, not the screen.
        feedback.outcome.product = "p" * 1000
        feedback.attribution.keyword = "k" * 1000
    change(feedback)  # type: ignore[operator]

    assert refused(feedback) == [field]


def test_text_longer_than_the_limit_is_refused() -> None:
    feedback = brief_example_feedback()
    feedback.attribution.campaign = "c" * 101

    assert refused(feedback, max_len=100) == ["feedback.attribution.campaign"]


def test_a_message_larger_than_the_limit_with_every_text_within_it_is_fine() -> None:
    feedback = brief_example_feedback()
    feedback.attribution.campaign = "c" * 90
    feedback.attribution.creative = "d" * 90

    assert feedback.ByteSize() > 100
    assert refused(feedback, max_len=100) == []


def test_text_that_spells_an_escaped_nul_is_fine() -> None:
    feedback = brief_example_feedback()
    feedback.outcome.product = "backslash \\000 is only four characters"

    assert refused(feedback) == []


def test_the_brief_example_is_fine() -> None:
    assert refused(brief_example_feedback()) == []
