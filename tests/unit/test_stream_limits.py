"""Who a stream counts against: an authenticated caller by name, an anonymous one by its
IP address whatever its port; and the caps free a place when a stream ends."""

from __future__ import annotations

import pytest

from backchannel.api.caller import Caller, calling_as
from backchannel.api.errors import ApiError
from backchannel.api.stream_limits import OpenStreams, StreamLimits, caller_key


@pytest.mark.parametrize(
    ("peer", "key"),
    [
        ("ipv4:127.0.0.1:50123", "address 127.0.0.1"),
        ("ipv6:[::1]:50123", "address ::1"),
        ("ipv6:[fe80::1%eth0]:1", "address fe80::1%eth0"),
        ("unix:/run/backchannel.sock", "address unix:/run/backchannel.sock"),
    ],
)
def test_an_anonymous_caller_is_its_address_without_the_port(peer: str, key: str) -> None:
    assert caller_key(peer) == key


def test_an_authenticated_caller_is_its_name_wherever_it_calls_from() -> None:
    with calling_as(Caller("crm-sync", authenticated=True)):
        assert caller_key("ipv4:10.1.2.3:4000") == "caller crm-sync"


def test_a_place_is_freed_when_a_stream_ends_even_by_an_error() -> None:
    streams = OpenStreams(StreamLimits(total=1, per_caller=1))
    with pytest.raises(RuntimeError), streams.holding("address a"):
        raise RuntimeError("the stream failed")
    with streams.holding("address b"), pytest.raises(ApiError) as refused, streams.holding("c"):
        pass
    assert refused.value.metadata["limit"] == "total"
    assert streams.total == 0
