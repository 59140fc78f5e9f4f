"""``backchannel events``: list feedback-sent events, or follow them live as a table."""

from __future__ import annotations

import argparse
import contextlib
import itertools
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from backchannel_client import Client, EventFilter, FeedbackSentEvent, OperatorEvent
from backchannel_client.v1 import event_pb2

from backchannel.cli import exit_codes
from backchannel.cli.connection import CommandError
from backchannel.cli.output import as_json, enum_word, parse_time, print_json_line, when
from backchannel.cli.pager import paged

STATUSES = ("succeeded", "retry_scheduled", "failed", "dead", "suppressed")
_COLUMNS = (
    ("TIME", 24),
    ("STATUS", 15),
    ("RECIPIENT", 20),
    ("TRY", 3),
    ("CODE", 4),
    ("LATENCY", 8),
    ("FEEDBACK", 30),
    ("LEAD", 0),
)


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    events = commands.add_parser(
        "events",
        parents=[common],
        help="list feedback-sent events, or --follow them live",
        description=(
            "List feedback-sent events oldest first, or follow them live (--follow), one line "
            "per event. A live table resumes by itself after disconnects and server restarts "
            "without losing or repeating an event; Ctrl-C ends it. --json prints one JSON "
            "object per line. Without --limit or --follow, a listing on a terminal goes "
            "through $PAGER (default: less -FRX), as git does."
        ),
    )
    events.add_argument("--recipient", metavar="ID", help="only events of this recipient")
    events.add_argument("--lead", metavar="ID", help="only events about this lead")
    events.add_argument("--feedback", metavar="ID", help="only events of this feedback")
    events.add_argument("--source", metavar="ID", help="only events about leads of this source")
    events.add_argument("--status", choices=STATUSES, help="only events that ended so")
    events.add_argument(
        "--since",
        metavar="TIME",
        help="only attempts started at or after TIME (RFC 3339, or that long ago: 30m, 1h, 2d)",
    )
    events.add_argument(
        "--filter",
        metavar="EXPR",
        help="any AIP-160 filter the server takes, e.g. 'transport = \"sftp\"', ANDed with "
        "the options above",
    )
    events.add_argument("--limit", type=int, metavar="N", help="list at most N events")
    live = events.add_argument_group("following")
    live.add_argument("--follow", "-f", action="store_true", help="then follow new events live")
    start = live.add_mutually_exclusive_group()
    start.add_argument(
        "--from-beginning", action="store_true", help="follow from the oldest retained event"
    )
    start.add_argument("--after", metavar="CURSOR", help="follow from after this cursor")
    live.add_argument(
        "--operator-events",
        action="store_true",
        help="also show operator events (recipient failing, circuit opened...)",
    )
    events.set_defaults(client_command=run)


def run(client: Client, args: argparse.Namespace) -> int:
    if (args.from_beginning or args.after or args.operator_events) and not args.follow:
        raise CommandError(
            "--from-beginning, --after and --operator-events go with --follow", exit_codes.USAGE
        )
    if args.limit is not None and (args.limit < 1 or args.follow):
        raise CommandError("--limit takes a positive number, without --follow", exit_codes.USAGE)
    since = parse_time(args.since, "--since") if args.since else None
    if not args.follow:
        found = _limited(client.list_events(_filter_text(args, since)), args.limit)
        first = next(found, None)  # the header only once the server has answered
        # Every event (no --limit) may be many pages: on a terminal, through a pager.
        with paged() if args.limit is None else contextlib.nullcontext():
            if not args.json:
                print(_header())
            if first is not None:
                _show(itertools.chain([first], found), args.json)
        return exit_codes.OK
    if not args.json:
        print(_header(), flush=True)
    after, from_beginning = args.after, args.from_beginning
    if since is not None and not (after or from_beginning):
        # What is already recorded since then, then live from the last one listed; with
        # nothing listed, replay and keep what started since then.
        listed = list(client.list_events(_filter_text(args, since)))
        _show(listed, args.json)
        after = listed[-1].cursor if listed else None
        from_beginning = not listed
    stream = client.follow_events(
        _stream_filter(args),
        after_cursor=after,
        from_beginning=from_beginning,
        include_operator_events=args.operator_events,
    )
    try:
        for event in stream:
            if (
                isinstance(event, OperatorEvent)
                or since is None
                or event.start_time.ToDatetime(tzinfo=UTC) >= since
            ):
                _show([event], args.json)
    except KeyboardInterrupt:
        pass  # the way to stop following
    finally:
        stream.close()
    return exit_codes.OK


def _limited(events: Iterable[FeedbackSentEvent], limit: int | None) -> Iterator[FeedbackSentEvent]:
    for index, event in enumerate(events):
        if limit is not None and index >= limit:
            return
        yield event


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _filter_text(args: argparse.Namespace, since: datetime | None) -> str:
    """The AIP-160 filter of ListFeedbackEvents for the options given."""
    parts = [
        f"{field} = {_quote(value)}"
        for field, value in (
            ("recipient_id", args.recipient),
            ("lead_id", args.lead),
            ("feedback_id", args.feedback),
            ("source_id", args.source),
        )
        if value
    ]
    if args.status:
        parts.append(f"processing_status = {args.status.upper()}")
    if since is not None:
        parts.append(f"start_time >= {_quote(since.isoformat())}")
    if args.filter:
        parts.append(args.filter)
    return " AND ".join(parts)


def _stream_filter(args: argparse.Namespace) -> EventFilter:
    """The stream's filter: the same expression as the listing's, without --since (the
    follower applies that itself, so operator events are not held to it)."""
    return EventFilter(expression=_filter_text(args, None))


def _header() -> str:
    return _row([name for name, _ in _COLUMNS])


def _row(values: list[str]) -> str:
    cells = [
        value.ljust(width) if width else value
        for value, (_, width) in zip(values, _COLUMNS, strict=False)
    ]
    return "  ".join(cells).rstrip()


def _line(event: FeedbackSentEvent | OperatorEvent) -> str:
    if isinstance(event, OperatorEvent):
        kind = enum_word(event_pb2.OperatorEventType.Name(event.type), "OPERATOR_EVENT_TYPE_")
        return f"{when(event.time).ljust(24)}  operator: {kind}  {event.recipient_id}  " + (
            event.message
        )
    status = enum_word(
        event_pb2.ProcessingStatus.Name(event.processing_status), "PROCESSING_STATUS_"
    )
    latency = f"{event.latency.ToMilliseconds()}ms" if event.HasField("latency") else "-"
    code = str(event.response_status.code) if event.response_status.code else "-"
    return _row(
        [
            when(event.start_time),
            status,
            event.recipient_id,
            str(event.attempt),
            code,
            latency,
            event.feedback_id,
            event.lead_id,
        ]
    )


def _show(events: Iterable[FeedbackSentEvent | OperatorEvent], as_json_lines: bool) -> None:
    for event in events:
        if as_json_lines:
            print_json_line(as_json(event))
        else:
            print(_line(event), flush=True)
