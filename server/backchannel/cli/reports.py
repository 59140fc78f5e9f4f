"""``backchannel reports``: create, list, show and delete summary report definitions, and
run one now for a period (or render it with --dry-run, sending nothing)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from backchannel_client import Client
from backchannel_client.v1 import report_pb2

from backchannel.cli import exit_codes
from backchannel.cli.deliveries import _operator
from backchannel.cli.output import as_json, enum_word, print_json, when


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    reports = commands.add_parser("reports", help="summary reports: define, list, run")
    actions = reports.add_subparsers(dest="report_action", required=True, metavar="ACTION")

    create = actions.add_parser("create", parents=[common], help="define a summary report")
    create.add_argument("--recipient", required=True, metavar="RECIPIENT_ID")
    scope = create.add_mutually_exclusive_group(required=True)
    scope.add_argument("--source", action="append", default=[], metavar="SOURCE_ID",
                       help="a source it covers (repeat for more)")  # fmt: skip
    scope.add_argument("--every-source", action="store_true", help="cover every source")
    create.add_argument("--cron", required=True, help='when it is sent, e.g. "0 6 * * 1"')
    create.add_argument("--time-zone", default="", metavar="ZONE", help="IANA zone (UTC)")
    create.add_argument("--section", action="append", default=[], metavar="NAME",
                        help="a section to show (repeat; default: all)")  # fmt: skip
    create.add_argument("--format", default="", choices=["", "json", "html"])
    create.add_argument("--title", default="")
    create.add_argument("--footer", default="")
    create.add_argument("--min-sources", type=int, default=0, metavar="K",
                        help="benchmark shown from K other sources on (default 5)")  # fmt: skip
    create.set_defaults(client_command=run_create)

    listing = actions.add_parser("list", parents=[common], help="report definitions")
    listing.add_argument("--recipient", default="", metavar="RECIPIENT_ID")
    listing.add_argument("--limit", type=int, default=50, metavar="N")
    listing.set_defaults(client_command=run_list)

    get = actions.add_parser("get", parents=[common], help="one report and its latest runs")
    get.add_argument("report_id", metavar="REPORT_ID")
    get.set_defaults(client_command=run_get)

    delete = actions.add_parser("delete", parents=[common], help="delete a report")
    delete.add_argument("report_id", metavar="REPORT_ID")
    delete.set_defaults(client_command=run_delete)

    run = actions.add_parser("run", parents=[common], help="run a report now for a period")
    run.add_argument("report_id", metavar="REPORT_ID")
    run.add_argument("--period", required=True,
                     help="2026-11, 2026-11-03 or 2026-11-01..2026-11-07")  # fmt: skip
    run.add_argument(
        "--dry-run", action="store_true", help="send nothing: write the report to --output/stdout"
    )
    run.add_argument("--output", default="", metavar="FILE", help="where a dry run writes")
    run.add_argument("--requested-by", default=_operator(), metavar="WHO",
                     help="recorded on the run (default: %(default)s)")  # fmt: skip
    run.set_defaults(client_command=run_run)


def _line(report: report_pb2.Report) -> str:
    scope = "every source" if report.every_source else ", ".join(report.source_ids)
    return (
        f"{report.id}  to {report.recipient_id}  {report.cron!r} {report.time_zone or 'UTC'}  "
        f"{scope}  next {when(report.next_run_time)}"
    )


def _run_line(run: report_pb2.ReportRun) -> str:
    state = enum_word(report_pb2.ReportRunState.Name(run.state), "REPORT_RUN_STATE_")
    reason = f"  {run.reason}" if run.reason else ""
    return (
        f"{run.id}  {state:<9}  {when(run.period_start)} to {when(run.period_end)}  "
        f"{run.file_name}  {run.size} bytes, {run.feedback_count} feedback, "
        f"{run.attempt_count} attempts{reason}"
    )


def run_create(client: Client, args: argparse.Namespace) -> int:
    report = client.create_report(
        report_pb2.Report(
            recipient_id=args.recipient,
            source_ids=args.source,
            every_source=args.every_source,
            cron=args.cron,
            time_zone=args.time_zone,
            sections=args.section,
            format=args.format,
            title=args.title,
            footer=args.footer,
            benchmark_min_sources=args.min_sources,
        )
    )
    if args.json:
        print_json(as_json(report))
    else:
        print(f"created {_line(report)}")
    return exit_codes.OK


def run_list(client: Client, args: argparse.Namespace) -> int:
    answer = client.list_reports(recipient_id=args.recipient, page_size=args.limit)
    if args.json:
        print_json(as_json(answer))
    elif not answer.reports:
        print("no reports")
    else:
        for report in answer.reports:
            print(_line(report))
    return exit_codes.OK


def run_get(client: Client, args: argparse.Namespace) -> int:
    answer = client.get_report(args.report_id)
    if args.json:
        print_json(as_json(answer))
        return exit_codes.OK
    report = answer.report
    print(_line(report))
    print(f"  sections {', '.join(report.sections)}; format {report.format or 'by transport'}")
    for run in answer.runs:
        print(f"  run {_run_line(run)}")
    return exit_codes.OK


def run_delete(client: Client, args: argparse.Namespace) -> int:
    client.delete_report(args.report_id)
    if not args.json:
        print(f"deleted {args.report_id}")
    return exit_codes.OK


def run_run(client: Client, args: argparse.Namespace) -> int:
    answer = client.run_report(
        args.report_id, args.period, dry_run=args.dry_run, requested_by=args.requested_by
    )
    if args.dry_run:
        if args.output:
            Path(args.output).write_bytes(answer.content)
            print(f"wrote {answer.file_name} ({answer.content_type}) to {args.output}")
        else:
            sys.stdout.buffer.write(answer.content)
            sys.stdout.flush()
    elif args.json:
        print_json(as_json(answer.run))
    else:
        print(f"running {_run_line(answer.run)}")
    return exit_codes.OK
