"""check_text refuses text longer than its limit wherever text can sit in a message, and
walks only messages larger than the limit. (NUL characters are the request guard's:
tests/unit/test_request_guard.py.)"""

from __future__ import annotations

from backchannel_client.v1 import feedback_pb2
from support.brief_example import brief_example_feedback

from backchannel.api.errors import Violations
from backchannel.api.validation import check_text


def refused(feedback: feedback_pb2.Feedback, max_len: int = 1024) -> list[str]:
    violations = Violations()
    check_text(feedback, "feedback", violations, max_len=max_len)
    return [field for field, _ in violations.items]


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


def test_long_text_deep_in_a_list_of_messages_is_refused_by_its_path() -> None:
    feedback = brief_example_feedback()
    feedback.consents.add(provider="tcpa", reference="r" * 101)

    assert refused(feedback, max_len=100) == ["feedback.consents[0].reference"]


def test_long_text_in_a_map_and_a_struct_is_refused_by_its_path() -> None:
    feedback = brief_example_feedback()
    feedback.attribution.sub_ids["s1"] = "s" * 101
    feedback.attributes.update({"outer": {"inner": ["fine", "a" * 101]}})

    assert refused(feedback, max_len=100) == [
        "feedback.attribution.sub_ids['s1']",
        "feedback.attributes.outer.inner[1]",
    ]


def test_the_brief_example_is_fine() -> None:
    assert refused(brief_example_feedback()) == []
