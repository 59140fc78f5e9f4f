"""ListFeedbackEvents end to end: paging in cursor order and AIP-160 filters."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import grpc
import pytest
from backchannel_client.v1 import event_pb2, feedback_service_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from support.event_log import sent_event_ids, wait_for_event_count
from support.feedback_calls import list_all_events, send_feedback
from support.in_process_server import RunningServer
from support.receiver import WebhookReceiver
from support.rpc_errors import rich_error
from support.webhook_recipients import create_ok_and_refusing_recipients, create_webhook_recipient

Event = event_pb2.FeedbackSentEvent


async def list_events(
    running: RunningServer, page_size: int = 0, page_token: str = "", filter_text: str = ""
) -> feedback_service_pb2.ListFeedbackEventsResponse:
    response: feedback_service_pb2.ListFeedbackEventsResponse = (
        await running.feedback.ListFeedbackEvents(
            feedback_service_pb2.ListFeedbackEventsRequest(
                page_size=page_size, page_token=page_token, filter=filter_text
            )
        )
    )
    return response


async def list_error(
    running: RunningServer, page_size: int = 0, page_token: str = "", filter_text: str = ""
) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await list_events(running, page_size, page_token, filter_text)
    return failed.value


@pytest.fixture
async def two_recipients(
    backchannel: RunningServer, receiver: WebhookReceiver, signing_secret: str
) -> RunningServer:
    await create_ok_and_refusing_recipients(backchannel, receiver, signing_secret)
    return backchannel


def nanoseconds(moment: Timestamp) -> int:
    return moment.ToNanoseconds()


# --- paging ------------------------------------------------------------------------------


async def test_pages_of_seven_return_every_event_once_in_cursor_order(
    backchannel: RunningServer, receiver: WebhookReceiver, signing_secret: str, database_url: str
) -> None:
    for recipient_id in ("left", "right"):
        await create_webhook_recipient(backchannel, recipient_id, receiver.url, signing_secret)
    for i in range(15):
        await send_feedback(backchannel, f"page-{i}", ["left", "right"])
    await wait_for_event_count(database_url, 30)

    pages: list[feedback_service_pb2.ListFeedbackEventsResponse] = []
    token = ""
    while not pages or token:
        pages.append(await list_events(backchannel, page_size=7, page_token=token))
        token = pages[-1].next_page_token
        assert len(pages) <= 10, "paging does not end"

    assert [len(p.events) for p in pages] == [7, 7, 7, 7, 2]
    listed = [e.event_id for p in pages for e in p.events]
    assert listed == await sent_event_ids(database_url)


# --- filters -----------------------------------------------------------------------------


@pytest.fixture
async def events_in_two_rounds(
    two_recipients: RunningServer, database_url: str
) -> tuple[list[Event], Timestamp]:
    """Twelve events: three feedback to both recipients, recorded; then three more. Returns
    every event and the start time of the earliest event of the second round."""
    for i in range(3):
        await send_feedback(two_recipients, f"first-{i}", ["ok", "refusing"])
    await wait_for_event_count(database_url, 6)
    second_round = [
        (await send_feedback(two_recipients, f"second-{i}", ["ok", "refusing"])).feedback.id
        for i in range(3)
    ]
    await wait_for_event_count(database_url, 12)
    everything = await list_all_events(two_recipients)
    boundary = min(
        (e.start_time for e in everything if e.feedback_id in second_round), key=nanoseconds
    )
    return everything, boundary


def _is_ok(e: Event, _t: int) -> bool:
    return e.recipient_id == "ok"


def _succeeded(e: Event, _t: int) -> bool:
    return e.processing_status == event_pb2.PROCESSING_STATUS_SUCCEEDED


def _from_boundary(e: Event, t: int) -> bool:
    return nanoseconds(e.start_time) >= t


FILTERS: dict[str, tuple[str, Callable[[Event, int], bool]]] = {
    "recipient": ('recipient_id = "ok"', _is_ok),
    "status": ("processing_status = SUCCEEDED", _succeeded),
    "start-time": ('start_time >= "{t}"', _from_boundary),
    "refusing-since": (
        'recipient_id = "refusing" AND start_time >= "{t}"',
        lambda e, t: e.recipient_id == "refusing" and _from_boundary(e, t),
    ),
    "all-three": (
        'recipient_id = "ok" AND processing_status = SUCCEEDED AND start_time >= "{t}"',
        lambda e, t: _is_ok(e, t) and _succeeded(e, t) and _from_boundary(e, t),
    ),
}


@pytest.mark.parametrize("name", list(FILTERS))
async def test_a_filter_narrows_the_listed_events(
    name: str, two_recipients: RunningServer, events_in_two_rounds: tuple[list[Event], Timestamp]
) -> None:
    everything, boundary = events_in_two_rounds
    template, keeps = FILTERS[name]
    expected = [e.event_id for e in everything if keeps(e, nanoseconds(boundary))]
    assert 0 < len(expected) < len(everything)

    listed = await list_all_events(two_recipients, template.format(t=boundary.ToJsonString()))

    assert [e.event_id for e in listed] == expected


@pytest.mark.parametrize(
    ("template", "keeps"),
    [
        pytest.param(
            'recipient_id = "refusing" AND recipient_id = "ok"',
            lambda e, t: False,
            id="two-recipients",
        ),
        pytest.param(
            'start_time >= "{t}" AND start_time >= "2000-01-01T00:00:00Z"',
            _from_boundary,
            id="two-lower-bounds",
        ),
    ],
)
async def test_comparisons_of_the_same_field_joined_by_and_must_all_hold(
    template: str,
    keeps: Callable[[Event, int], bool],
    two_recipients: RunningServer,
    events_in_two_rounds: tuple[list[Event], Timestamp],
) -> None:
    everything, boundary = events_in_two_rounds
    expected = [e.event_id for e in everything if keeps(e, nanoseconds(boundary))]

    listed = await list_all_events(two_recipients, template.format(t=boundary.ToJsonString()))

    assert [e.event_id for e in listed] == expected


@pytest.mark.parametrize(
    "filter_text",
    [
        "nonsense",
        'unknown_field = "x"',
        'recipient_id > "a"',
        'recipient_id = "a" AND',
        'recipient_id = "a" OR recipient_id = "b"',
        'start_time >= "yesterday"',
        "processing_status = MAYBE",
        'lead_id = "LC\x00123"',
    ],
)
async def test_a_filter_the_service_cannot_read_is_invalid_argument(
    filter_text: str, backchannel: RunningServer
) -> None:
    error = await list_error(backchannel, filter_text=filter_text)

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert rich_error(error).violated_fields == ["filter"]


# --- bad paging requests -----------------------------------------------------------------


async def test_a_page_token_used_with_a_different_filter_is_invalid_argument(
    two_recipients: RunningServer, events_in_two_rounds: tuple[list[Event], Timestamp]
) -> None:
    first = await list_events(two_recipients, page_size=1, filter_text='recipient_id = "ok"')
    assert first.next_page_token

    error = await list_error(
        two_recipients, page_token=first.next_page_token, filter_text='recipient_id = "refusing"'
    )

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert rich_error(error).violated_fields == ["page_token"]


async def test_a_negative_page_size_is_invalid_argument(backchannel: RunningServer) -> None:
    error = await list_error(backchannel, page_size=-1)

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert rich_error(error).violated_fields == ["page_size"]


def _tampered(token: str, xid: int, seq: int) -> str:
    # Page tokens are opaque; this test reads today's encoding (base64 of JSON holding the
    # position) only to forge one that decodes but names an impossible position.
    payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    payload["p"] = [xid, seq]
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda _token: "not-a-page-token", id="garbage"),
        pytest.param(lambda token: token[:-3], id="truncated"),
        pytest.param(lambda token: _tampered(token, 1, 10**20), id="sequence-beyond-bigint"),
        pytest.param(lambda token: _tampered(token, -1, 0), id="negative-transaction"),
    ],
)
async def test_a_page_token_the_service_did_not_issue_is_invalid_argument(
    forge: Callable[[str], str],
    two_recipients: RunningServer,
    events_in_two_rounds: tuple[list[Event], Timestamp],
) -> None:
    first = await list_events(two_recipients, page_size=1)

    error = await list_error(two_recipients, page_token=forge(first.next_page_token))

    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert rich_error(error).violated_fields == ["page_token"]
