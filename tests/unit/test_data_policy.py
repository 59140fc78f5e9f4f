"""The cut a recipient's data policy makes to the feedback document, before any formatter
sees it, and the consent gate's reading of a feedback's purposes."""

from __future__ import annotations

import hashlib
from typing import Any, cast

from backchannel_client.v1 import feedback_pb2

from backchannel.consent_gate import missing_purposes
from backchannel.data_policy import DataPolicy, minimized
from backchannel.plugin import FeedbackDocument

SUBJECT = feedback_pb2.Subject(
    email=" Jane.Doe@gmail.com", phone="(650) 555-1212", first_name="Jane", country="US"
)


def _document() -> FeedbackDocument:
    document: dict[str, Any] = {
        "feedback_id": "fb_1",
        "kind": "conversion",
        "lead_id": "LC1",
        "source_id": "SRC",
        "outcome": {"status": "converted", "value": "10.00", "currency": "USD"},
        "attribution": {"campaign": "c", "sub_ids": {"sub1": "user-42"}},
        "attributes": {"agent": "Ann"},
    }
    return cast(FeedbackDocument, document)


def _policy(*paths: str, access: str = "excluded", rules: str = "normalized") -> DataPolicy:
    return DataPolicy.stored(
        {"allowed_fields": list(paths), "subject_access": access, "hash_rules": rules}
    )


def test_the_default_policy_passes_every_part_but_never_the_subject() -> None:
    cut = minimized(_document(), DataPolicy(), SUBJECT)

    assert cut == _document()
    assert "subject" not in cut


def test_an_allowlist_keeps_only_its_paths_and_the_kind() -> None:
    cut = minimized(_document(), _policy("lead_id", "outcome.value", "attribution.campaign"))

    assert cut == {
        "kind": "conversion",
        "lead_id": "LC1",
        "outcome": {"value": "10.00"},
        "attribution": {"campaign": "c"},
    }


def test_the_cut_never_changes_the_document_it_was_made_from() -> None:
    document = _document()

    minimized(document, _policy("outcome", "outcome.value"))

    assert document == _document()


def test_subject_fields_go_only_when_listed_and_access_allows_them() -> None:
    excluded = minimized(_document(), _policy("lead_id", "subject.email"), SUBJECT)
    raw = minimized(_document(), _policy("lead_id", "subject.email", access="raw"), SUBJECT)

    assert "subject" not in excluded
    assert raw["subject"] == {"email": " Jane.Doe@gmail.com"}


def test_hashed_access_sends_the_normalized_sha256_under_the_policys_rules() -> None:
    google = minimized(_document(), _policy("subject", access="hashed", rules="google"), SUBJECT)
    meta = minimized(_document(), _policy("subject.phone", access="hashed", rules="meta"), SUBJECT)

    assert google["subject"]["email"] == _sha256("janedoe@gmail.com")
    assert google["subject"]["phone"] == _sha256("+16505551212")
    assert google["subject"]["first_name"] == _sha256("jane")
    assert google["subject"]["country"] == _sha256("us")
    assert meta["subject"] == {"phone": _sha256("16505551212")}


def test_the_effective_policy_spells_out_the_default_allowlist() -> None:
    effective = DataPolicy().effective

    assert ("lead_id",) in effective.allowed_fields
    assert all(path[0] != "subject" for path in effective.allowed_fields)


def test_every_required_purpose_not_granted_is_missing() -> None:
    feedback = feedback_pb2.Feedback(
        consent_purposes=[
            feedback_pb2.ConsentPurpose(purpose="a", state=feedback_pb2.CONSENT_STATE_GRANTED),
            feedback_pb2.ConsentPurpose(purpose="b", state=feedback_pb2.CONSENT_STATE_DENIED),
            feedback_pb2.ConsentPurpose(purpose="c", state=feedback_pb2.CONSENT_STATE_UNKNOWN),
        ]
    )

    assert missing_purposes(("a", "b", "c", "d"), feedback) == ("b", "c", "d")
    assert missing_purposes(("a",), feedback) == ()


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
