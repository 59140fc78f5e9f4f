"""Normalizing and hashing personal identifiers as the ad platforms document it, checked
against the examples in their own documentation, and the ``hash`` field-mapping option
every built-in format takes.

Sources:
- Meta, Conversions API, "Customer Information Parameters" (updated Jan 9, 2026),
  https://developers.facebook.com/docs/marketing-api/conversions-api/parameters/customer-information-parameters
  em: "John_Smith@gmail.com" -> "john_smith@gmail.com" -> 62a14e44...f62f;
  ph: US "(650)555-1212" -> "16505551212" -> e323ec62...3176;
  fn: "Mary" -> "mary" -> 6915771b...f4ec; "Valéry" -> "valéry" -> 08e1996b...149c;
  "정" -> 8fa8cd9c...db14.
- Google, Campaign Manager 360 "Enhanced Conversions", Normalization and hashing
  (https://developers.google.com/doubleclick-advertisers/guides/conversions_ec): trim,
  lower-case, phones in E.164, "." removed before gmail.com / googlemail.com; and the
  Google Ads API team's E.164 examples "+12125650000", "+442070313000"
  (https://groups.google.com/g/adwords-api/c/GLqSCji7Hx0). Google's pages give the rules
  but no hashed outputs: those are checked as the SHA-256 of the documented normal form.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from backchannel.formatters import CsvFormatter, JsonFormatter
from backchannel.personal_hashing import normalized, sha256_normalized

#: Meta's documented expected SHA-256 outputs.
META_EM = "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"
META_PH = "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176"
META_FN_MARY = "6915771be1c5aa0c886870b6951b03d7eafc121fea0e80a5ea83beb7c449f4ec"
META_FN_VALERY = "08e1996b5dd49e62a4b4c010d44e4345592a863bb9f8e3976219bac29417149c"
META_FN_JEONG = "8fa8cd9c440be61d0151429310034083132b35975c4bea67fdd74158eb51db14"


@pytest.mark.parametrize(
    ("identifier", "given", "country", "expected"),
    [
        ("email", "John_Smith@gmail.com", "", META_EM),
        ("phone", "(650)555-1212", "US", META_PH),
        ("first_name", "Mary", "", META_FN_MARY),
        ("first_name", "Valéry", "", META_FN_VALERY),
        ("first_name", "정", "", META_FN_JEONG),
    ],
)
def test_meta_rules_give_the_hashes_of_metas_documentation(
    identifier: str, given: str, country: str, expected: str
) -> None:
    assert sha256_normalized(identifier, given, "meta", country) == expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("  Jane.Doe@GMAIL.com ", "janedoe@gmail.com"),
        ("jane.doe@googlemail.com", "janedoe@googlemail.com"),
        ("Jane.Doe@example.com", "jane.doe@example.com"),
    ],
)
def test_google_rules_remove_the_dots_of_gmail_addresses_only(given: str, expected: str) -> None:
    assert normalized("email", given, "google") == expected
    assert sha256_normalized("email", given, "google") == _sha256(expected)


@pytest.mark.parametrize(
    ("given", "country", "expected"),
    [("+1 212-565-0000", "", "+12125650000"), ("020 7031 3000", "GB", "+442070313000")],
)
def test_google_rules_write_phones_in_e164(given: str, country: str, expected: str) -> None:
    assert normalized("phone", given, "google", country) == expected


def test_meta_rules_do_not_apply_googles_gmail_rule() -> None:
    assert normalized("email", "Jane.Doe@gmail.com", "meta") == "jane.doe@gmail.com"


def test_names_lose_punctuation_and_keep_their_letters() -> None:
    assert normalized("last_name", " O'Brien-Smith ", "normalized") == "obriensmith"


@pytest.mark.parametrize("given", ["12", "not a phone", "5551212"])
def test_a_phone_that_cannot_be_read_has_no_hash(given: str) -> None:
    assert sha256_normalized("phone", given, "normalized") is None


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _document() -> dict[str, Any]:
    return {
        "kind": "conversion",
        "lead_id": "LC1",
        "subject": {"email": " John_Smith@gmail.com", "phone": "(650)555-1212", "country": "US"},
        "attributes": {"contact": "Jane.Doe@gmail.com", "nested": {"a": 1}},
    }


def test_the_hash_option_hashes_the_named_fields_before_rename_and_drop() -> None:
    options = {
        "hash": {
            "subject.email": "sha256_meta",
            "subject.phone": "sha256_meta",
            "attributes.contact": "sha256_google",
        },
        "rename": {"subject.email": "em", "subject.phone": "ph"},
        "drop": ["subject.country"],
    }

    written = json.loads(JsonFormatter().render(_document(), options).body)

    assert written["em"] == META_EM
    assert written["ph"] == META_PH
    # attributes.contact is not named email: trimmed and lower-cased, Google's gmail rule
    # applies to emails only.
    assert written["attributes"]["contact"] == _sha256("jane.doe@gmail.com")
    assert "subject" not in written or written["subject"] == {}


def test_a_value_the_hash_cannot_normalize_is_removed_never_sent_raw() -> None:
    document = _document()
    document["subject"]["phone"] = "12"
    options = {"hash": {"subject.phone": "sha256_normalized", "attributes.nested": "sha256_meta"}}

    written = json.loads(JsonFormatter().render(document, options).body)

    assert "phone" not in written["subject"]
    assert "nested" not in written["attributes"]


def test_a_csv_column_can_be_hashed() -> None:
    options = {"columns": ["lead_id", "subject.email"], "hash": {"subject.email": "sha256_meta"}}

    body = CsvFormatter().render(_document(), options).body.decode()

    assert META_EM in body
    assert "John_Smith" not in body


def test_the_hash_option_lists_every_bad_entry() -> None:
    problems = JsonFormatter().check_options(
        {"hash": {"subject.email": "md5", "a..b": "sha256_meta"}}
    )

    assert {p.field for p in problems} == {
        "format_options.hash.subject.email",
        "format_options.hash.a..b",
    }
