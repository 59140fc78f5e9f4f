"""``backchannel feedback get``: a feedback, its deliveries and every attempt."""

from __future__ import annotations

import argparse
from typing import Any

from backchannel_client import Client, GetFeedbackResponse
from backchannel_client.v1 import event_pb2, feedback_pb2, feedback_service_pb2

from backchannel.cli import exit_codes
from backchannel.cli.output import as_json, enum_word, print_json, when


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    feedback = commands.add_parser("feedback", help="read feedback")
    actions = feedback.add_subparsers(dest="feedback_action", required=True, metavar="ACTION")
    get = actions.add_parser(
        "get", parents=[common], help="a feedback with its deliveries and every attempt"
    )
    get.add_argument("feedback_id", metavar="ID", help="the feedback id, e.g. fb_...")
    get.set_defaults(client_command=run_get)


def run_get(client: Client, args: argparse.Namespace) -> int:
    answer = client.get_feedback(args.feedback_id)
    if args.json:
        print_json(as_json(answer))
    else:
        print("\n".join(describe(answer)))
    return exit_codes.OK


def describe(answer: GetFeedbackResponse) -> list[str]:
    f = answer.feedback
    kind = enum_word(feedback_pb2.FeedbackKind.Name(f.kind), "FEEDBACK_KIND_")
    lines = [
        f"feedback {f.id}",
        f"  kind:          {kind}",
        f"  lead:          {f.lead.lead_id}"
        + (f" (source {f.lead.source_id})" if f.lead.source_id else ""),
        f"  request id:    {f.request_id}",
        f"  feedback time: {when(f.feedback_time)}",
        f"  accepted:      {when(f.accept_time)}",
    ]
    if f.HasField("outcome"):
        parts = [f.outcome.status or "-"]
        if f.outcome.HasField("value"):
            parts.append(f"{f.outcome.value.amount} {f.outcome.value.currency_code}".strip())
        if f.outcome.product:
            parts.append(f.outcome.product)
        if f.outcome.HasField("occur_time"):
            parts.append(f"occurred {when(f.outcome.occur_time)}")
        lines.append(f"  outcome:       {', '.join(parts)}")
    if f.HasField("return_details"):
        r = f.return_details
        lines.append(f"  returned:      {r.reason_code} {r.reason_text}".rstrip())
    if f.HasField("quality"):
        scores = (
            [f"overall {f.quality.overall_score:g}"] if f.quality.HasField("overall_score") else []
        )
        scores += [f"{name} {score:g}" for name, score in sorted(f.quality.dimensions.items())]
        lines.append(f"  quality:       {', '.join(scores)}")
    if f.HasField("attribution"):
        a = f.attribution
        named = [("campaign", a.campaign), ("creative", a.creative), ("keyword", a.keyword)]
        text = ", ".join(f"{k} {v!r}" for k, v in named if v)
        lines.append(f"  attribution:   {text}")
    lines.append(f"deliveries: {len(answer.deliveries)}")
    for delivery in answer.deliveries:
        lines += _delivery(delivery)
    return lines


def _delivery(delivery: feedback_service_pb2.Delivery) -> list[str]:
    state = enum_word(feedback_service_pb2.DeliveryState.Name(delivery.state), "DELIVERY_STATE_")
    attempts = f"{delivery.attempt_count} attempt{'s' if delivery.attempt_count != 1 else ''}"
    lines = [f"  {delivery.id} to {delivery.recipient_id}: {state}, {attempts}"]
    if delivery.state == feedback_service_pb2.DELIVERY_STATE_PENDING:
        lines[0] += f", next at {when(delivery.next_attempt_time)}"
    for event in delivery.attempts:
        status = enum_word(
            event_pb2.ProcessingStatus.Name(event.processing_status), "PROCESSING_STATUS_"
        )
        code = event.response_status.code or "-"
        latency = f"{event.latency.ToMilliseconds()}ms"
        by = f" (asked by {event.requested_by})" if event.requested_by else ""
        lines.append(
            f"    #{event.attempt} {when(event.start_time)}  {status}  {code}  {latency}{by}"
        )
        if event.response_status.excerpt and status != "succeeded":
            lines.append(f"       {event.response_status.excerpt}")
    return lines
