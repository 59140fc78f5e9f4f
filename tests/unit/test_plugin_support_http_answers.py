"""backchannel.plugin_support's HTTP answer helpers: Retry-After, retryable statuses,
excerpts, and the HTTP client span's facts (url.full redacted)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from backchannel.plugin_support import (
    EXCERPT_CHARS,
    MAX_RETRY_AFTER_SECONDS,
    excerpt,
    http_client_facts,
    is_retryable_status,
    mask,
    parse_retry_after,
    redacted_url,
    remote_id,
)

NOW = datetime(2024, 1, 15, 10, 30, tzinfo=UTC).timestamp()


def http_date(seconds_from_now: float) -> str:
    return format_datetime(datetime.fromtimestamp(NOW + seconds_from_now, UTC), usegmt=True)


@pytest.mark.parametrize(("value", "seconds"), [("120", 120.0), (" 1.5 ", 1.5), ("0", 0.0)])
def test_retry_after_in_seconds(value: str, seconds: float) -> None:
    assert parse_retry_after(value, NOW) == seconds


def test_retry_after_as_an_http_date_counts_from_now() -> None:
    assert parse_retry_after(http_date(90), NOW) == 90.0


def test_retry_after_date_in_the_past_means_now() -> None:
    assert parse_retry_after(http_date(-600), NOW) == 0.0


def test_huge_retry_after_is_clamped() -> None:
    assert parse_retry_after("9" * 400, NOW) == MAX_RETRY_AFTER_SECONDS


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "1e3", "Fri, 99 Foo 2024"])
def test_missing_or_unreadable_retry_after_is_none(value: str | None) -> None:
    assert parse_retry_after(value, NOW) is None


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (408, True),
        (429, True),
        (500, True),
        (599, True),
        (400, False),
        (404, False),
        (410, False),
        (600, False),
    ],
)
def test_which_statuses_may_succeed_later(status: int, retryable: bool) -> None:
    assert is_retryable_status(status) is retryable


def test_mask_replaces_the_longest_secret_whole() -> None:
    assert mask("token=abc123 again abc", ["abc123", "abc"]) == "token=*** again ***"


def test_mask_replaces_nul_characters() -> None:
    assert mask("a\x00b", []) == "a\ufffdb"


def test_excerpt_decodes_with_the_given_charset() -> None:
    assert excerpt("café".encode("latin-1"), "latin-1", []) == "café"


def test_excerpt_of_an_unknown_charset_reads_utf8_leniently() -> None:
    assert excerpt(b"ok \xff", "no-such-charset", []) == "ok \ufffd"


def test_excerpt_is_masked_before_it_is_cut() -> None:
    secret = "s" * 300
    assert excerpt(f"echo {secret}".encode(), None, [secret]) == "echo ***"


def test_excerpt_is_cut_to_its_length() -> None:
    assert len(excerpt(b"x" * 1000, "utf-8", [])) == EXCERPT_CHARS


def test_remote_id_is_the_first_header_given_masked_and_cut() -> None:
    headers = {"request-id": "", "x-request-id": "id-SECRET-" + "9" * 50}
    found = remote_id(headers, ["request-id", "x-request-id"], ["SECRET"], 12)
    assert found == "id-***-99999"


def test_no_remote_id_without_its_headers() -> None:
    assert remote_id({"server": "nginx"}, ["x-request-id"], [], 64) is None


def test_url_full_replaces_credentials_and_every_query_value_and_drops_the_fragment() -> None:
    assert redacted_url("https://user:pw@example.com:8443/hook?sig=abc&v=1#part") == (
        "https://REDACTED:REDACTED@example.com:8443/hook?sig=REDACTED&v=REDACTED"
    )
    assert redacted_url("https://example.com/hook") == "https://example.com/hook"


def test_http_client_facts_name_the_request_its_answer_and_what_went_wrong() -> None:
    answered = http_client_facts("post", "https://example.com/hook?token=t", status=503)
    assert answered == {
        "http.request.method": "POST",
        "url.full": "https://example.com/hook?token=REDACTED",
        "network.protocol.name": "http",
        "server.address": "example.com",
        "server.port": "443",
        "http.response.status_code": "503",
        "error.type": "503",
    }
    unanswered = http_client_facts("POST", "http://example.com/", error=TimeoutError())
    assert unanswered["error.type"] == "TimeoutError"
    assert "http.response.status_code" not in unanswered
