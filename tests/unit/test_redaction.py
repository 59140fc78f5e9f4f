"""The host's redactor: every spelling of a recipient's secrets masked, control characters
removed and lengths capped in whatever a transport hands back."""

from __future__ import annotations

import base64
from urllib.parse import quote

from backchannel.plugin import DeliveryResult, FieldProblem, ProbeStep
from backchannel.redaction import MASK, Redactor, secret_spellings


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_a_secret_is_masked_as_given_percent_encoded_and_in_base64() -> None:
    redactor = Redactor.for_settings({}, {"password": "s3cret/Pa55 word"})
    for spelling in (
        "s3cret/Pa55 word",
        quote("s3cret/Pa55 word", safe=""),
        b64("s3cret/Pa55 word"),
    ):
        assert redactor.text(f"before {spelling} after", 256) == f"before {MASK} after"


def test_the_credentials_of_a_secret_url_are_masked_in_an_authorization_header() -> None:
    url = "https://bc-user:pa55word-xyz@hooks.partner.example/in?token=tok-0123456789&v=1"
    spellings = secret_spellings({"url": url})
    assert b64("bc-user:pa55word-xyz") in spellings
    assert {"pa55word-xyz", "tok-0123456789", "bc-user:pa55word-xyz"} <= set(spellings)
    assert "1" not in spellings and "/in" not in spellings


def test_a_plain_user_name_paired_with_a_secret_is_masked_in_base64() -> None:
    redactor = Redactor.for_settings({"basic_username": "ann"}, {"basic_password": "pw-12345"})
    assert MASK in redactor.text(f"Basic {b64('ann:pw-12345')}", 256)
    assert MASK in redactor.text(f"AUTH PLAIN {b64(chr(0) + 'ann' + chr(0) + 'pw-12345')}", 256)


def test_a_prefixed_credential_is_masked_without_its_prefix() -> None:
    redactor = Redactor.for_settings(
        {}, {"signing_secrets": ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2La"]}
    )
    assert redactor.text("key MfKQ9r8GKYqrTwjUPD8ILPZIo2La", 256) == f"key {MASK}"


def test_short_secrets_are_not_looked_for() -> None:
    assert secret_spellings({"pin": "12", "flag": True}) == ()


def test_control_characters_but_tab_and_line_feed_are_removed() -> None:
    assert Redactor().text("a\x00b\x1bc\td\ne\r\x7f", 256) == "abc\td\ne"


def test_a_secret_is_masked_before_the_text_is_cut() -> None:
    redactor = Redactor.for_settings({}, {"token": "tok-abcdefgh"})
    assert redactor.text("xx tok-abcdefgh", 6) == f"xx {MASK}"


def test_a_result_is_masked_cleaned_and_capped_in_every_text() -> None:
    redactor = Redactor.for_settings({}, {"token": "tok-abcdefgh"})
    result = redactor.result(
        DeliveryResult(
            succeeded=False,
            response_excerpt="tok-abcdefgh\x00" + "x" * 1000,
            remote_id="id-tok-abcdefgh" + "y" * 1000,
            details={
                "tok-abcdefgh" + "k" * 100: "v\x00tok-abcdefgh",
                **{str(i): "" for i in range(99)},
            },
        )
    )
    assert result.response_excerpt.startswith(MASK) and len(result.response_excerpt) == 256
    assert result.remote_id is not None and result.remote_id.startswith(f"id-{MASK}")
    assert len(result.remote_id) == 256
    assert len(result.details) == 32
    [(key, value)] = [(k, v) for k, v in result.details.items() if k.startswith(MASK)]
    assert len(key) == 64 and value == f"v{MASK}"


def test_probe_steps_and_problems_are_masked() -> None:
    redactor = Redactor.for_settings({}, {"token": "tok-abcdefgh"})
    [step] = redactor.steps([ProbeStep("connect", False, "refused tok-abcdefgh")])
    assert step == ProbeStep("connect", False, f"refused {MASK}")
    [problem] = redactor.problems([FieldProblem("secret_settings.token", "tok-abcdefgh is bad")])
    assert problem.description == f"{MASK} is bad"
