"""``backchannel audit``: the audit trail, oldest first: who changed what, when."""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
from typing import Any

from backchannel_client import Client
from backchannel_client.v1 import audit_service_pb2

from backchannel.cli import exit_codes
from backchannel.cli.output import as_json, parse_time, print_json_line, when
from backchannel.cli.pager import paged


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    audit = commands.add_parser(
        "audit", parents=[common], help="list the audit trail: every change and who made it"
    )
    audit.add_argument("--actor", help="made by this actor (a token's name, an identity)")
    audit.add_argument("--action", help="this action, e.g. recipient.update, token.revoke")
    audit.add_argument("--target", help="to this target, e.g. recipients/acme-leads")
    audit.add_argument(
        "--since", metavar="TIME", help="at or after TIME (RFC 3339, or that long ago: 30m, 1h, 2d)"
    )
    audit.add_argument(
        "--until", metavar="TIME", help="before TIME (RFC 3339, or that long ago: 30m, 1h, 2d)"
    )
    audit.add_argument("--filter", metavar="EXPR", help="any ListAuditRecords filter, ANDed")
    audit.add_argument("--limit", type=int, metavar="N", help="at most N records")
    audit.set_defaults(client_command=run_audit)


def audit_filter(args: argparse.Namespace) -> str:
    parts = [
        f"{name} = {json.dumps(value)}"
        for name, value in (("actor", args.actor), ("action", args.action), ("target", args.target))
        if value
    ]
    if args.since:
        parts.append(f'create_time >= "{parse_time(args.since, "--since").isoformat()}"')
    if args.until:
        parts.append(f'create_time < "{parse_time(args.until, "--until").isoformat()}"')
    if args.filter:
        parts.append(args.filter)
    return " AND ".join(parts)


def run_audit(client: Client, args: argparse.Namespace) -> int:
    records = client.list_audit_records(audit_filter(args))
    first = next(records, None)  # the pager only once the server has answered
    # The whole trail (no --limit) may be many pages: on a terminal, through a pager.
    with paged() if args.limit is None else contextlib.nullcontext():
        if first is None:
            return exit_codes.OK
        for shown, record in enumerate(itertools.chain([first], records)):
            if args.limit is not None and shown >= args.limit:
                break
            if args.json:
                print_json_line(as_json(record))
            else:
                print(describe(record))
    return exit_codes.OK


def describe(record: audit_service_pb2.AuditRecord) -> str:
    """One record in words: when, who, what, to what, then one line per change."""
    who = record.actor + (f" ({record.actor_token_id})" if record.actor_token_id else "")
    lines = [f"{when(record.create_time)}  {who}  {record.action}  {record.target}"]
    for change in record.changes:
        if change.secret:
            lines.append(f"    {change.secret}")
        else:
            lines.append(
                f"    {change.field}: {change.old_value or '(none)'} -> "
                f"{change.new_value or '(none)'}"
            )
    lines += [f"    {name}: {value}" for name, value in sorted(record.details.items())]
    return "\n".join(lines)
