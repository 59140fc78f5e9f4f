"""``backchannel deliveries``: an operator's retry, resend and recover."""

from __future__ import annotations

import argparse
import getpass
import socket
from datetime import UTC, datetime
from typing import Any

from backchannel_client import Client, Delivery
from backchannel_client.v1 import feedback_service_pb2

from backchannel.cli import exit_codes
from backchannel.cli.output import as_json, enum_word, parse_time, print_json, when


def _operator() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "operator"
    return f"{user}@{socket.gethostname()}"


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    deliveries = commands.add_parser("deliveries", help="retry, resend or recover deliveries")
    actions = deliveries.add_subparsers(dest="delivery_action", required=True, metavar="ACTION")
    who = argparse.ArgumentParser(add_help=False)
    who.add_argument(
        "--requested-by",
        default=_operator(),
        metavar="WHO",
        help="recorded on the attempts (default: %(default)s); with authentication on, "
        "the token's or certificate's identity is recorded and this is kept as a note",
    )

    retry = actions.add_parser(
        "retry", parents=[common, who], help="make a delivery due now, whatever its state"
    )
    retry.add_argument("delivery_id", metavar="DELIVERY_ID")
    retry.set_defaults(client_command=run_retry)

    resend = actions.add_parser(
        "resend",
        parents=[common, who],
        help="send a feedback to a recipient again, even if it was delivered",
    )
    resend.add_argument("feedback_id", metavar="FEEDBACK_ID")
    resend.add_argument("recipient_id", metavar="RECIPIENT_ID")
    resend.set_defaults(client_command=run_resend)

    recover = actions.add_parser(
        "recover",
        parents=[common, who],
        help="make every failed or dead delivery of a recipient in a time range due now",
    )
    recover.add_argument("recipient_id", metavar="RECIPIENT_ID")
    recover.add_argument(
        "--since",
        required=True,
        metavar="TIME",
        help="deliveries created at or after TIME (RFC 3339, or that long ago: 30m, 1h, 2d)",
    )
    recover.add_argument(
        "--until",
        metavar="TIME",
        help="and before TIME (default: now) (RFC 3339, or that long ago: 30m, 1h, 2d)",
    )
    recover.set_defaults(client_command=run_recover)


def run_retry(client: Client, args: argparse.Namespace) -> int:
    delivery = client.retry_delivery(args.delivery_id, requested_by=args.requested_by)
    _show(delivery, args.json, "retrying")
    return exit_codes.OK


def run_resend(client: Client, args: argparse.Namespace) -> int:
    delivery = client.resend_feedback(
        args.feedback_id, args.recipient_id, requested_by=args.requested_by
    )
    _show(delivery, args.json, "resending")
    return exit_codes.OK


def run_recover(client: Client, args: argparse.Namespace) -> int:
    start = parse_time(args.since, "--since")
    end = parse_time(args.until, "--until") if args.until else datetime.now(UTC)
    count = client.recover_deliveries(
        args.recipient_id, start_time=start, end_time=end, requested_by=args.requested_by
    )
    if args.json:
        print_json({"recoveredCount": count})
    else:
        print(f"{count} failed or dead deliveries of {args.recipient_id} are due again")
    return exit_codes.OK


def _show(delivery: Delivery, as_json_output: bool, doing: str) -> None:
    if as_json_output:
        print_json(as_json(delivery))
        return
    state = enum_word(feedback_service_pb2.DeliveryState.Name(delivery.state), "DELIVERY_STATE_")
    print(
        f"{doing} delivery {delivery.id} of {delivery.feedback_id} to {delivery.recipient_id}: "
        f"{state}, next attempt {when(delivery.next_attempt_time)}"
    )
