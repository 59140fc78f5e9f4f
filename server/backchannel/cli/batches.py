"""``backchannel batches``: list a batch recipient's files, see one, run one now (or preview
the next with --dry-run), retry one."""

from __future__ import annotations

import argparse
from typing import Any

from backchannel_client import Client
from backchannel_client.v1 import batch_pb2, event_pb2

from backchannel.cli import exit_codes
from backchannel.cli.deliveries import _operator
from backchannel.cli.output import as_json, enum_word, print_json, when


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    batches = commands.add_parser("batches", help="list, show, run or retry batch files")
    actions = batches.add_subparsers(dest="batch_action", required=True, metavar="ACTION")
    who = argparse.ArgumentParser(add_help=False)
    who.add_argument(
        "--requested-by",
        default=_operator(),
        metavar="WHO",
        help="recorded on the batch (default: %(default)s)",
    )
    listing = actions.add_parser("list", parents=[common], help="a recipient's batches")
    listing.add_argument("recipient_id", metavar="RECIPIENT_ID")
    listing.add_argument("--limit", type=int, default=50, metavar="N")
    listing.set_defaults(client_command=run_list)

    get = actions.add_parser("get", parents=[common], help="one batch, its items and attempts")
    get.add_argument("batch_id", metavar="BATCH_ID")
    get.add_argument("--items", type=int, default=20, metavar="N", help="items shown")
    get.set_defaults(client_command=run_get)

    run = actions.add_parser(
        "run", parents=[common, who], help="run a recipient's batch now (every item waiting)"
    )
    run.add_argument("recipient_id", metavar="RECIPIENT_ID")
    run.add_argument(
        "--dry-run",
        action="store_true",
        help="change nothing: print the next file's name and first rows",
    )
    run.add_argument("--rows", type=int, default=10, metavar="N", help="rows shown (dry run)")
    run.set_defaults(client_command=run_run)

    retry = actions.add_parser(
        "retry", parents=[common, who], help="send a failed, dead or held batch again"
    )
    retry.add_argument("batch_id", metavar="BATCH_ID")
    retry.set_defaults(client_command=run_retry)


def _line(batch: batch_pb2.Batch) -> str:
    state = enum_word(batch_pb2.BatchState.Name(batch.state), "BATCH_STATE_")
    excluded = f", {batch.excluded_count} left out" if batch.excluded_count else ""
    return (
        f"{batch.id}  #{batch.sequence}  {state:<9}  {batch.file_name or '(building)'}  "
        f"{batch.row_count} rows{excluded}, {batch.size} bytes, {batch.attempt_count} attempts, "
        f"period to {when(batch.period_end)}"
    )


def run_list(client: Client, args: argparse.Namespace) -> int:
    answer = client.list_batches(args.recipient_id, page_size=args.limit)
    if args.json:
        print_json(as_json(answer))
    elif not answer.batches:
        print(f"{args.recipient_id} has no batches yet")
    else:
        for batch in answer.batches:
            print(_line(batch))
    return exit_codes.OK


def run_get(client: Client, args: argparse.Namespace) -> int:
    answer = client.get_batch(args.batch_id, item_limit=args.items)
    if args.json:
        print_json(as_json(answer))
        return exit_codes.OK
    batch = answer.batch
    print(_line(batch))
    print(f"  sha256 {batch.sha256 or '-'}  {batch.content_type}")
    if batch.reason:
        print(f"  reason: {batch.reason}")
    for excluded in batch.excluded:
        print(f"  left out {excluded.feedback_id}: {excluded.reason}")
    for item in answer.items:
        print(f"  item {item.feedback_id}  lead {item.lead_id}  delivery {item.delivery_id}")
    for attempt in answer.attempts:
        status = event_pb2.ProcessingStatus.Name(attempt.processing_status)
        print(
            f"  attempt {attempt.attempt}: {enum_word(status, 'PROCESSING_STATUS_')} "
            f"{attempt.response_status.code} {attempt.response_status.excerpt}"
        )
    return exit_codes.OK


def run_run(client: Client, args: argparse.Namespace) -> int:
    answer = client.run_batch(
        args.recipient_id,
        requested_by=args.requested_by,
        dry_run=args.dry_run,
        preview_rows=args.rows,
    )
    if args.json:
        print_json(as_json(answer))
    elif args.dry_run:
        print(f"next file: {answer.file_name} ({answer.row_count} feedback items waiting)")
        for row in answer.preview_rows:
            print(row)
    elif answer.HasField("batch"):
        print(f"running {_line(answer.batch)}")
    else:
        print(f"nothing waits for {args.recipient_id}: no batch made")
    return exit_codes.OK


def run_retry(client: Client, args: argparse.Namespace) -> int:
    batch = client.retry_batch(args.batch_id, requested_by=args.requested_by)
    if args.json:
        print_json(as_json(batch))
    else:
        print(f"retrying {_line(batch)}")
    return exit_codes.OK
