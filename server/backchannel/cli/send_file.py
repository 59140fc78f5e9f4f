"""``backchannel send --file``: every feedback of a file, safe to run again and quick to
fail. Each item without a request id gets one derived from its content (request_ids), so
a second run sends nothing twice; the server's reachability is checked before anything is
sent; a run stops at the first item the server stays unavailable for, or at Ctrl-C, and
says which line to ``--resume`` at."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import textwrap
from dataclasses import dataclass, fields
from typing import Any

from backchannel_client import BackchannelError, Client, SendFeedbackRequest

from backchannel.cli import exit_codes
from backchannel.cli.connection import (
    CommandError,
    describe_error,
    error_as_json,
    exit_code_for,
    uses_tls,
)
from backchannel.cli.feedback_input import FIELDS, QUALITY_PREFIX, Item, read_items
from backchannel.cli.file_sending import FileRun, Outcome, is_unavailable, send_requests
from backchannel.cli.output import as_json, print_json
from backchannel.cli.progress import Progress
from backchannel.cli.request_ids import derived_request_id

#: How long the server may take to accept a connection before the run fails, seconds.
CONNECT_DEADLINE = 5.0

_CSV_COLUMNS = textwrap.fill(
    f"{', '.join(FIELDS)}, and {QUALITY_PREFIX}NAME for a quality dimension; recipient_ids "
    "are separated by spaces, commas or semicolons; times are RFC 3339.",
    width=88,
    initial_indent=" " * 10,
    subsequent_indent=" " * 10,
)
FILE_FORMAT_HELP = f"""\
items of --file:
  JSON    one object, or an array of objects
  JSONL   one object per line (.jsonl, .ndjson)
  CSV     a header naming the columns, then one feedback per row. Columns:
{_CSV_COLUMNS}
  An object is a feedback in proto JSON, as buf curl and grpcurl write it, with
  requestId and recipientIds beside its fields:
    {{"kind": "conversion", "lead": {{"leadId": "LC1", "sourceId": "SRC"}},
     "outcome": {{"status": "converted", "value": {{"currencyCode": "USD", "amount": "1250.00"}}}},
     "quality": {{"overallScore": 85, "dimensions": {{"data_quality": 90}}}}}}
  or a whole SendFeedbackRequest: {{"requestId": ..., "recipientIds": [...], "feedback": {{...}}}}.
  Enums by short name (conversion, return, quality, disposition, attribution) or full
  name (FEEDBACK_KIND_CONVERSION).

request ids:
  An item without one gets "send-v1-" + the SHA-256 of its content (the feedback and
  its recipients, canonical JSON per RFC 8785) and --id-namespace: the same item is the
  same feedback in any file and any format, so running a file again (or a fixed,
  renamed or extended copy of it) sends nothing twice, and an item repeated in a file is
  sent once. Give --id-namespace when identical items of another file are new feedback.

running:
  The server must accept a connection within {CONNECT_DEADLINE:g}s (else exit 6). Items are
  checked before they are sent; a bad one is reported with its line and the others are sent
  (exit 1), or, with --all-or-nothing, every item is checked first (as the server would)
  and nothing is sent if one is bad (exit 5). The run stops at Ctrl-C (exit 130) or
  when the server stays unavailable after retries (exit 6), and prints the line to
  continue from with --resume; running the whole file again is safe too."""


def add_file_options(group: Any, formats: tuple[str, ...]) -> None:
    group.add_argument("--file", metavar="FILE", help="JSON, JSONL or CSV file; - reads stdin")
    group.add_argument(
        "--format", choices=formats, help="the file's format (default: from its name/content)"
    )
    group.add_argument(
        "--concurrency", type=int, default=8, metavar="N", help="requests in flight (default 8)"
    )
    group.add_argument(
        "--all-or-nothing",
        action="store_true",
        help="check every item before sending any; send nothing if one is bad",
    )
    group.add_argument(
        "--resume",
        type=int,
        metavar="LINE",
        help="start at LINE (item LINE of a JSON array), as an interrupted run says",
    )
    group.add_argument(
        "--id-namespace",
        default="",
        metavar="TEXT",
        help="part of the request id derived for items that have none (default: none)",
    )


@dataclass(frozen=True)
class _Problem:
    """An item that is not sent: why, and the exit code that says so."""

    item: Item
    lines: tuple[str, ...]
    exit_code: int = exit_codes.INVALID_ARGUMENT
    request_id: str = ""


def send_file(client: Client, args: argparse.Namespace) -> int:
    if args.concurrency < 1:
        raise CommandError("--concurrency must be at least 1", exit_codes.USAGE)
    if args.resume is not None and args.resume < 1:
        raise CommandError("--resume takes a line number (1 or more)", exit_codes.USAGE)
    items = [
        item
        for item in read_items(args.file, args.format, sys.stdin)
        if args.resume is None or item.number >= args.resume
    ]
    if not items:
        raise CommandError(
            f"{args.file}: no item at or after --resume {args.resume}", exit_codes.USAGE
        )
    to_send, problems, repeats = _prepare(items, args)
    if args.all_or_nothing:
        problems += _checked(to_send)
        problems.sort(key=lambda p: p.item.number)
        if problems:
            _print_problems(problems)
            raise CommandError(
                f"{args.file}: {len(problems)} of {len(items)} items are not valid feedback; "
                "nothing was sent (--all-or-nothing)",
                exit_codes.INVALID_ARGUMENT,
            )
    if to_send:
        client.wait_until_ready(CONNECT_DEADLINE)
    progress = Progress(len(to_send), sys.stderr)
    run = send_requests(
        client,
        [request for _, request in to_send],
        args.concurrency,
        lambda outcome: progress.advance(outcome.error is None),
    )
    progress.finish()
    failures = problems + [
        _Problem(
            to_send[o.index][0],
            tuple(describe_error(o.error, args.server, uses_tls(args))),
            exit_code_for(o.error),
            to_send[o.index][1].request_id,
        )
        for o in sorted(run.outcomes.values(), key=lambda o: o.index)
        if o.error is not None and not is_unavailable(o.error)
    ]
    failures.sort(key=lambda p: p.item.number)
    sent = sum(1 for o in run.outcomes.values() if o.error is None)
    resume = run.resume_index()
    resume_at = to_send[resume][0] if resume is not None else None
    if args.json:
        print_json(_summary_json(to_send, run, problems, len(failures), repeats, resume_at))
    else:
        _print_problems(failures)
        for item, first in repeats:
            print(f"{item.where} repeats {first.where}: sent once", file=sys.stderr)
        repeated = f", {len(repeats)} repeated" if repeats else ""
        print(
            f"sent {sent} of {len(items)} feedbacks, {len(failures)} failed{repeated}"
            + ("" if resume is None else f", {run.unanswered()} not sent")
        )
    if resume_at is not None:
        _print_stop(run, resume_at, args)
    if run.interrupted:
        return exit_codes.INTERRUPTED
    if run.unavailable is not None:
        return exit_codes.UNAVAILABLE
    if not failures:
        return exit_codes.OK
    codes = {p.exit_code for p in failures}
    return codes.pop() if not sent and len(codes) == 1 else exit_codes.FAILURE


def _prepare(
    items: list[Item], args: argparse.Namespace
) -> tuple[list[tuple[Item, SendFeedbackRequest]], list[_Problem], list[tuple[Item, Item]]]:
    """The requests to send (each with its request id and recipients), the items that
    describe no feedback, and the items that repeat an earlier one (not sent again)."""
    to_send: list[tuple[Item, SendFeedbackRequest]] = []
    problems: list[_Problem] = []
    repeats: list[tuple[Item, Item]] = []
    first_with_id: dict[str, tuple[Item, bytes]] = {}
    for item in items:
        if item.request is None:
            problems.append(_Problem(item, (item.problem,)))
            continue
        request = SendFeedbackRequest()
        request.CopyFrom(item.request)
        if not request.recipient_ids:
            request.recipient_ids.extend(args.recipient)
        if not request.request_id:
            request.request_id = derived_request_id(request, args.id_namespace)
        content = request.SerializeToString(deterministic=True)
        earlier = first_with_id.get(request.request_id)
        if earlier is None:
            first_with_id[request.request_id] = (item, content)
            to_send.append((item, request))
        elif earlier[1] == content:
            repeats.append((item, earlier[0]))
        else:
            problems.append(
                _Problem(
                    item,
                    (
                        f"request id {request.request_id} is also {earlier[0].where}'s, "
                        "which asks something else",
                    ),
                )
            )
    return to_send, problems, repeats


def _checked(to_send: list[tuple[Item, SendFeedbackRequest]]) -> list[_Problem]:
    """The items the server would refuse as invalid: its own checks, run here."""
    # Imported here: only --all-or-nothing needs the server's validation.
    from backchannel.api.errors import ApiError
    from backchannel.api.validation import validate_send_feedback
    from backchannel.settings import Settings

    # The default limit: a server configured otherwise may still refuse a large one.
    limit = next(f.default for f in fields(Settings) if f.name == "max_feedback_bytes")
    assert isinstance(limit, int)
    problems = []
    for item, request in to_send:
        try:
            validate_send_feedback(request, limit)
        except ApiError as error:
            violations = tuple(f"{f}: {d}" for f, d in error.violations)
            problems.append(_Problem(item, violations, request_id=request.request_id))
    return problems


def _print_problems(problems: list[_Problem]) -> None:
    for problem in problems:
        where = problem.item.where
        head = f"{where} (request id {problem.request_id})" if problem.request_id else where
        first, *rest = problem.lines or ("",)
        print(f"{head}: {first}", file=sys.stderr)
        for line in rest:
            print(f"  {line.strip()}", file=sys.stderr)


def _print_stop(run: FileRun, resume_at: Item, args: argparse.Namespace) -> None:
    if run.interrupted:
        why = "interrupted"
    elif run.unavailable is not None:
        why = describe_error(run.unavailable, args.server, uses_tls(args))[0]
    else:
        return
    command = _same_command_resuming_at(resume_at.number)
    message = (
        f"{why}: stopped at {resume_at.where}; every item before it was answered. Continue "
        f"with `{command}` (or run the whole file again: nothing is sent twice)"
    )
    if args.json:
        print(json.dumps({"error": {"message": message, "details": []}}), file=sys.stderr)
    else:
        print(f"backchannel: {message}", file=sys.stderr)


def _same_command_resuming_at(number: int) -> str:
    """This command line, every option kept (the same --recipient and --id-namespace
    derive the same request ids), with ``--resume NUMBER``."""
    kept: list[str] = []
    arguments = iter(sys.argv[1:])
    for argument in arguments:
        if argument == "--resume":
            next(arguments, None)
        elif not argument.startswith("--resume="):
            kept.append(argument)
    return shlex.join(["backchannel", *kept, "--resume", str(number)])


def _summary_json(
    to_send: list[tuple[Item, SendFeedbackRequest]],
    run: FileRun,
    problems: list[_Problem],
    failed: int,
    repeats: list[tuple[Item, Item]],
    resume_at: Item | None,
) -> dict[str, Any]:
    results = [
        (to_send[o.index][0].number, _result_json(to_send[o.index], o))
        for o in run.outcomes.values()
    ]
    results += [
        (
            p.item.number,
            {
                "item": p.item.where,
                "error": {"code": "INVALID_ARGUMENT", "message": " ".join(p.lines)},
            },
        )
        for p in problems
    ]
    results.sort(key=lambda numbered: numbered[0])
    return {
        "sent": sum(1 for o in run.outcomes.values() if o.error is None),
        "failed": failed,
        "repeated": [{"item": item.where, "repeats": first.where} for item, first in repeats],
        "results": [result for _, result in results],
        "stopped": "interrupted" if run.interrupted else "unavailable" if run.unavailable else None,
        "resumeAt": resume_at.number if resume_at is not None else None,
    }


def _result_json(sent: tuple[Item, SendFeedbackRequest], outcome: Outcome) -> dict[str, Any]:
    item, request = sent
    response = outcome.response
    error: BackchannelError | None = outcome.error
    return {
        "item": item.where,
        "requestId": request.request_id,
        "feedbackId": response.feedback.id if response is not None else "",
        "deliveries": [as_json(d) for d in response.deliveries] if response is not None else [],
        "error": error_as_json(error) if error is not None else None,
    }
