"""``backchannel send``: one feedback from flags, or many from a file."""

from __future__ import annotations

import argparse
from typing import Any

from backchannel_client import Client, SendFeedbackResponse
from backchannel_client.v1 import feedback_service_pb2

from backchannel.cli import exit_codes
from backchannel.cli.connection import CommandError
from backchannel.cli.feedback_input import FORMATS, request_from_fields
from backchannel.cli.output import as_json, enum_word, print_json
from backchannel.cli.send_file import FILE_FORMAT_HELP, add_file_options, send_file

# flag → field of feedback_input.FIELDS
_FEEDBACK_FLAGS = {
    "lead_id": "lead_id",
    "source_id": "source_id",
    "kind": "kind",
    "status": "status",
    "value": "value",
    "currency": "currency",
    "product": "product",
    "feedback_time": "feedback_time",
    "occur_time": "occur_time",
    "score": "overall_score",
    "campaign": "campaign",
    "creative": "creative",
    "keyword": "keyword",
    "return_reason": "return_reason",
    "return_text": "return_text",
}


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    send = commands.add_parser(
        "send",
        parents=[common],
        help="send feedback (from flags, or many from a JSON, JSONL or CSV file)",
        description=(
            "Send one feedback described by flags, or every feedback of a file. Each has "
            "its own request id (its request_id/requestId; else a new UUID for flags, and "
            "for a file one derived from the item's content, so sending a file again sends "
            "nothing twice), so sending is retried safely when the server is briefly "
            "unavailable."
        ),
        epilog=FILE_FORMAT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    one = send.add_argument_group("one feedback")
    one.add_argument("--kind", help="conversion, return, quality, disposition or attribution")
    one.add_argument("--lead-id", help="the platform's lead id, e.g. LC123456789")
    one.add_argument("--source-id", help="the source of the lead, e.g. SOURCE_ABC")
    one.add_argument("--status", help='outcome status, e.g. "converted"')
    one.add_argument("--value", help="outcome value, an exact decimal, e.g. 1250.00")
    one.add_argument("--currency", help="ISO 4217 currency of --value, e.g. USD")
    one.add_argument("--product", help='outcome product, e.g. "home_insurance"')
    one.add_argument("--feedback-time", metavar="TIME", help="when the feedback was produced")
    one.add_argument("--occur-time", metavar="TIME", help="when the outcome happened")
    one.add_argument("--score", metavar="0-100", help="overall quality score")
    one.add_argument(
        "--quality",
        action="append",
        default=[],
        metavar="NAME=SCORE",
        help="a quality dimension score (repeatable)",
    )
    one.add_argument("--campaign")
    one.add_argument("--creative")
    one.add_argument("--keyword")
    one.add_argument("--return-reason", metavar="CODE", help="return reason code")
    one.add_argument("--return-text", metavar="TEXT", help="return explanation")
    one.add_argument("--request-id", help="idempotency key (default: a new UUID)")
    send.add_argument(
        "--recipient",
        action="append",
        default=[],
        metavar="ID",
        help="a recipient (repeatable; default: every subscribed recipient); for a file, "
        "used for items that name none",
    )
    add_file_options(send.add_argument_group("many feedbacks"), FORMATS)
    send.set_defaults(client_command=run)


def run(client: Client, args: argparse.Namespace) -> int:
    if args.file:
        given = [f"--{flag.replace('_', '-')}" for flag in _FEEDBACK_FLAGS if getattr(args, flag)]
        given += ["--quality"] if args.quality else []
        given += ["--request-id"] if args.request_id else []
        if given:
            raise CommandError(
                f"{', '.join(given)} cannot be combined with --file: put them in the file",
                exit_codes.USAGE,
            )
        return send_file(client, args)
    return _send_one(client, args)


def _send_one(client: Client, args: argparse.Namespace) -> int:
    fields = {
        field: getattr(args, flag) for flag, field in _FEEDBACK_FLAGS.items() if getattr(args, flag)
    }
    for pair in args.quality:
        name, equals, score = pair.partition("=")
        if not equals or not name:
            raise CommandError(f"--quality {pair!r} is not NAME=SCORE", exit_codes.USAGE)
        fields[f"quality.{name}"] = score
    if args.request_id:
        fields["request_id"] = args.request_id
    if "kind" not in fields or "lead_id" not in fields:
        raise CommandError(
            "give --kind and --lead-id (and more flags), or --file FILE", exit_codes.USAGE
        )
    try:
        request = request_from_fields(fields)
    except ValueError as error:
        raise CommandError(str(error), exit_codes.USAGE) from error
    answer = client.send_feedback(request.feedback, args.recipient, request.request_id or None)
    if args.json:
        print_json(as_json(answer))
    else:
        _describe_answer(answer)
    return exit_codes.OK


def _describe_answer(answer: SendFeedbackResponse) -> None:
    feedback = answer.feedback
    print(f"sent feedback {feedback.id} (request id {feedback.request_id})")
    if not answer.deliveries:
        print("  no recipient: none was named and none is subscribed to it")
    for delivery in answer.deliveries:
        state = enum_word(
            feedback_service_pb2.DeliveryState.Name(delivery.state), "DELIVERY_STATE_"
        )
        print(f"  delivery {delivery.id} to {delivery.recipient_id}: {state}")
