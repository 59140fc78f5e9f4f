"""What an attempt's event keeps of a transport's report: the bytes it says it transmitted
(nothing when it says nothing) and its details less the client span's facts."""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import AsyncIterator

import pytest

from backchannel.delivery.reported_facts import reported_facts
from backchannel.plugin import DeliveryResult
from backchannel.plugin_support import SentBytes

BODY = b'{"lead_id": "LC123456789"}' * 40


def test_a_transport_that_reports_nothing_leaves_the_transmitted_bytes_unset() -> None:
    facts = reported_facts(DeliveryResult(succeeded=True))
    assert (facts.transmitted_size, facts.transmitted_sha256) == (None, "")


def test_a_size_without_a_digest_is_recorded_as_a_size_alone() -> None:
    facts = reported_facts(DeliveryResult(succeeded=True, bytes_sent=1219))
    assert (facts.transmitted_size, facts.transmitted_sha256) == (1219, "")


def test_sent_bytes_reports_the_size_and_digest_of_what_was_written() -> None:
    written = gzip.compress(BODY, mtime=0)
    result = SentBytes(written).reported(DeliveryResult(succeeded=True))
    facts = reported_facts(result)
    assert (facts.transmitted_size, facts.transmitted_sha256) == (
        len(written),
        hashlib.sha256(written).hexdigest(),
    )


async def test_sent_bytes_counts_a_stream_as_it_is_taken() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(BODY), 100):
            yield BODY[start : start + 100]

    sent = SentBytes()
    taken = b"".join([chunk async for chunk in sent.counted(chunks())])
    assert taken == BODY
    assert (sent.size, sent.sha256) == (len(BODY), hashlib.sha256(BODY).hexdigest())


@pytest.mark.parametrize("digest", ["", "not-hex", "ab" * 31, "g" * 64])
def test_a_malformed_digest_is_not_recorded(digest: str) -> None:
    facts = reported_facts(DeliveryResult(succeeded=True, bytes_sent=10, sha256_sent=digest))
    assert (facts.transmitted_size, facts.transmitted_sha256) == (10, "")


def test_an_upper_case_digest_is_recorded_in_lower_case() -> None:
    digest = hashlib.sha256(b"x").hexdigest()
    result = DeliveryResult(succeeded=True, bytes_sent=1, sha256_sent=digest.upper())
    assert reported_facts(result).transmitted_sha256 == digest


def test_details_are_kept_but_the_span_facts_are_left_to_the_span() -> None:
    result = DeliveryResult(
        succeeded=True,
        details={"card_trimmed_items": "7", "server.address": "example.com", "url.full": "x"},
    )
    assert reported_facts(result).details == (("card_trimmed_items", "7"),)
