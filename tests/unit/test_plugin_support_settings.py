"""backchannel.plugin_support's setting types: one rule, one wording, in every transport."""

from __future__ import annotations

import math
from typing import Annotated, Any

import pytest
from pydantic import ValidationError
from yarl import URL

from backchannel.plugin import TransportSettings
from backchannel.plugin_support import (
    ConnectTimeoutSeconds,
    HeaderName,
    HeaderValue,
    HostName,
    NoControlCharacters,
    PemCertificates,
    Port,
    number_above_zero,
    one_line,
    one_or_more,
    web_url,
)


class Demo(TransportSettings):
    host: HostName | None = None
    port: Port | None = None
    connect_timeout_seconds: ConnectTimeoutSeconds | None = None
    rate: Annotated[float, number_above_zero(2.5, what="a number")] | None = None
    title: Annotated[str, one_line(10, strip=True)] | None = None
    header_name: HeaderName | None = None
    header_value: HeaderValue | None = None
    ca: PemCertificates | None = None
    line: NoControlCharacters | None = None
    names: Annotated[list[str], one_or_more("a name")] | None = None
    url: Annotated[URL, web_url("https")] | None = None
    signed_url: Annotated[URL, web_url("https", encoded=True)] | None = None


def read(**settings: Any) -> Demo:
    return Demo.model_validate(settings)


def problem(**settings: Any) -> str:
    with pytest.raises(ValidationError) as raised:
        read(**settings)
    [error] = raised.value.errors()
    return str(error["ctx"]["error"]) if "ctx" in error else error["msg"]


@pytest.mark.parametrize(("given", "read_as"), [("Sftp.Example", "Sftp.Example"), ("[::1]", "::1")])
def test_a_host_is_a_name_or_an_address(given: str, read_as: str) -> None:
    assert read(host=given).host == read_as


@pytest.mark.parametrize(
    ("given", "words"),
    [
        ("user@sftp.example", "without a user name"),
        ("sftp.example:22", "give the port in port"),
        ("sftp example", "is not a valid host name or IP address"),
        ("", "must be a non-empty string"),
    ],
)
def test_a_host_that_is_not_one_is_refused(given: str, words: str) -> None:
    assert words in problem(host=given)


def test_a_port_arrives_as_a_float_and_is_read_as_a_whole_number() -> None:
    assert read(port=2222.0).port == 2222


@pytest.mark.parametrize("given", [22.5, 0, 65536, True, "22", math.nan])
def test_a_port_that_is_not_a_whole_number_in_range_is_refused(given: Any) -> None:
    assert problem(port=given) == "must be a whole number from 1 to 65535"


@pytest.mark.parametrize("given", [0, -1, 60.5, True, "5", math.inf, math.nan])
def test_the_connect_timeout_is_above_zero_and_at_most_sixty_seconds(given: Any) -> None:
    assert problem(connect_timeout_seconds=given) == (
        "must be a number of seconds above 0, at most 60"
    )


def test_a_number_above_zero_names_what_it_is() -> None:
    assert read(rate=2.5).rate == 2.5
    assert problem(rate=3) == "must be a number above 0, at most 2.5"


def test_one_line_text_is_stripped_and_refuses_line_breaks() -> None:
    assert read(title="  Leads ").title == "Leads"
    for given in ("", "   ", "two\nlines", "x" * 11):
        assert problem(title=given) == "must be text of 1 to 10 characters on one line"


def test_header_names_are_tokens_and_values_have_no_line_breaks() -> None:
    assert problem(header_name="bad name") == "is not a valid header name"
    assert "without line breaks" in problem(header_value="a\r\nInjected: yes")
    assert read(header_value="tab\tis fine").header_value == "tab\tis fine"


def test_a_certificate_must_be_readable_pem() -> None:
    assert "PEM certificates" in problem(ca="not a certificate")
    assert problem(ca="-----BEGIN CERTIFICATE-----\nbm9wZQ==\n-----END CERTIFICATE-----\n") == (
        "is not a readable PEM certificate"
    )


def test_a_certificate_bundle_is_capped_in_size() -> None:
    huge = "-----BEGIN CERTIFICATE-----\n" + "A" * 300_000
    assert "at most 262144 characters" in problem(ca=huge)


def test_text_for_a_protocol_line_refuses_control_characters() -> None:
    assert problem(line="pw\x00") == "must not contain line breaks or control characters"


def test_one_or_more_takes_a_single_value_as_a_list() -> None:
    assert read(names="a").names == ["a"]
    assert problem(names=[]) == "must be a name or a non-empty list of them"


@pytest.mark.parametrize(
    ("given", "words"),
    [
        ("http://hooks.example/", "must be an https:// URL"),
        ("https:///nohost", "has no host"),
        ("https://hooks.example/#part", "has a fragment"),
        ("https://1.2.3.4.5/", "looks like an IP address but is not one"),
        ("https://a..b/", "is not a valid host name"),
        ("https://hooks.example/" + "x" * 5000, "is longer than 4096 characters"),
    ],
)
def test_a_url_that_cannot_be_used_is_refused_without_quoting_it(given: str, words: str) -> None:
    description = problem(url=given)
    assert words in description
    assert "hooks.example" not in description


def test_a_legacy_ipv4_spelling_is_read_as_its_address() -> None:
    url = read(url="https://127.1:8443/hook").url
    assert url is not None and url.host == "127.0.0.1" and url.port == 8443


def test_an_encoded_url_is_kept_byte_for_byte() -> None:
    given = "https://x.example/run?sp=%2Ftriggers%2Fmanual&sig=a%2Bb"
    url = read(signed_url=given).signed_url
    assert str(url) == given
    assert "percent-encoded" in problem(signed_url="https://x.example/a b")
