"""``backchannel recipients``: create, list, get, update, delete, test and apply."""

from __future__ import annotations

import argparse
from typing import Any

from backchannel_client import Client, Recipient
from backchannel_client.v1 import feedback_pb2, recipient_pb2

from backchannel.cli import apply, exit_codes
from backchannel.cli.connection import CommandError
from backchannel.cli.output import as_json, enum_word, print_json, when
from backchannel.cli.recipient_input import (
    load_document,
    parse_assignments,
    recipient_from_document,
    secret_assignments,
)

TYPES = ("source", "partner", "system", "platform")
STATES = ("active", "paused", "disabled")
SECRET_SET = "(secret set)"


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    recipients = commands.add_parser("recipients", help="manage the recipients of feedback")
    actions = recipients.add_subparsers(dest="recipient_action", required=True, metavar="ACTION")

    create = actions.add_parser(
        "create",
        parents=[common],
        help="create a recipient from flags or a file",
        description=_SETTINGS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_recipient_flags(create, creating=True)
    create.set_defaults(client_command=run_create)

    listing = actions.add_parser("list", parents=[common], help="list every recipient")
    listing.set_defaults(client_command=run_list)

    get = actions.add_parser("get", parents=[common], help="show one recipient")
    get.add_argument("recipient_id", metavar="ID")
    get.set_defaults(client_command=run_get)

    update = actions.add_parser(
        "update",
        parents=[common],
        help="change the fields given (flags or a file); the others stay",
        description=_SETTINGS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_recipient_flags(update, creating=False)
    update.add_argument(
        "--remove-secret", action="append", default=[], metavar="KEY", help="remove a secret"
    )
    update.add_argument("--etag", help="refuse the change if the recipient changed since")
    update.set_defaults(client_command=run_update)

    delete = actions.add_parser("delete", parents=[common], help="delete a recipient")
    delete.add_argument("recipient_id", metavar="ID")
    delete.set_defaults(client_command=run_delete)

    test = actions.add_parser(
        "test",
        parents=[common],
        help="probe a stored recipient (ID) or an unsaved one (--file) for real",
    )
    test.add_argument("recipient_id", metavar="ID", nargs="?")
    test.add_argument("--file", metavar="FILE", help="an unsaved recipient (YAML or JSON)")
    test.set_defaults(client_command=run_test)

    apply.add_parser(actions, common)


_SETTINGS_HELP = """\
Settings are KEY=VALUE; a VALUE that reads as JSON (5, true, [..]) is taken as such.
Secrets (--secret KEY=VALUE) are write-only: never shown, never logged. Give
KEY=@FILE to read the value from a file, or KEY=env:NAME from an environment variable,
to keep it out of your shell history. --file takes a recipient in YAML or JSON: the
fields of the Recipient message, enums by short name (recipient_type: source)."""


def _add_recipient_flags(parser: argparse.ArgumentParser, creating: bool) -> None:
    parser.add_argument("recipient_id", metavar="ID", nargs="?" if creating else None)
    parser.add_argument("--file", metavar="FILE", help="the recipient as YAML or JSON")
    parser.add_argument("--display-name")
    parser.add_argument("--type", choices=TYPES, help="what kind of party it is")
    parser.add_argument("--transport", help="transport plugin, e.g. webhook")
    parser.add_argument("--format", help="formatter, e.g. json (default json)")
    parser.add_argument("--state", choices=STATES)
    parser.add_argument(
        "--setting", action="append", default=[], metavar="KEY=VALUE", help="transport setting"
    )
    parser.add_argument(
        "--secret", action="append", default=[], metavar="KEY=VALUE", help="secret setting"
    )
    parser.add_argument(
        "--format-option", action="append", default=[], metavar="KEY=VALUE", help="format option"
    )
    parser.add_argument(
        "--kind",
        action="append",
        default=[],
        metavar="KIND",
        help="subscribe to this feedback kind (repeatable; default every kind)",
    )
    parser.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="ID",
        help="subscribe to feedback about this source (repeatable; default every source)",
    )


def _recipient_from_args(args: argparse.Namespace) -> tuple[Recipient, list[str]]:
    """The recipient the flags (and --file) describe, and the fields they set."""
    document: dict[str, Any] = {}
    if args.file:
        loaded = load_document(args.file)
        if not isinstance(loaded, dict):
            raise CommandError(f"{args.file}: expected one recipient", exit_codes.USAGE)
        document.update(loaded)
    flags: dict[str, Any] = {
        "display_name": args.display_name,
        "recipient_type": args.type,
        "transport": args.transport,
        "format": args.format,
        "state": args.state,
        "transport_settings": parse_assignments(args.setting, "--setting") or None,
        "format_options": parse_assignments(args.format_option, "--format-option") or None,
    }
    document.update({k: v for k, v in flags.items() if v is not None})
    if args.kind or args.source:
        document["subscription"] = {"kinds": args.kind, "source_ids": args.source}
    secrets = secret_assignments(args.secret)
    for name in getattr(args, "remove_secret", []):
        secrets[name] = None
    if secrets:
        document["secret_settings"] = secrets
    if args.recipient_id:
        document["id"] = args.recipient_id
    recipient, fields = recipient_from_document(document, args.file or "the options")
    return recipient, sorted(fields - {"id"})


def run_create(client: Client, args: argparse.Namespace) -> int:
    recipient, _ = _recipient_from_args(args)
    if not recipient.id:
        raise CommandError("give the recipient's ID (or an id in --file)", exit_codes.USAGE)
    created = client.create_recipient(recipient)
    _show(created, args.json, f"created recipient {created.id}")
    return exit_codes.OK


def run_update(client: Client, args: argparse.Namespace) -> int:
    recipient, fields = _recipient_from_args(args)
    if not fields:
        raise CommandError("nothing to change: give the fields to change", exit_codes.USAGE)
    if args.etag:
        recipient.etag = args.etag
    updated = client.update_recipient(recipient, fields)
    _show(updated, args.json, f"updated recipient {updated.id}")
    return exit_codes.OK


def run_get(client: Client, args: argparse.Namespace) -> int:
    _show(client.get_recipient(args.recipient_id), args.json, None)
    return exit_codes.OK


def run_delete(client: Client, args: argparse.Namespace) -> int:
    client.delete_recipient(args.recipient_id)
    if args.json:
        print_json({"deleted": args.recipient_id})
    else:
        print(f"deleted recipient {args.recipient_id}")
    return exit_codes.OK


def run_list(client: Client, args: argparse.Namespace) -> int:
    recipients = list(client.list_recipients())
    if args.json:
        print_json([as_json(r) for r in recipients])
        return exit_codes.OK
    rows = [("ID", "TYPE", "TRANSPORT", "FORMAT", "STATE", "CIRCUIT", "SECRETS")]
    rows += [
        (
            r.id,
            _type(r),
            r.transport,
            r.format,
            _state(r),
            enum_word(recipient_pb2.CircuitState.Name(r.health.circuit_state), "CIRCUIT_STATE_"),
            ", ".join(r.secret_setting_names) or "-",
        )
        for r in recipients
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    return exit_codes.OK


def run_test(client: Client, args: argparse.Namespace) -> int:
    if bool(args.recipient_id) == bool(args.file):
        raise CommandError("give a stored recipient's ID or --file, not both", exit_codes.USAGE)
    if args.file:
        recipient, _ = recipient_from_document(load_document(args.file), args.file)
        answer = client.test_recipient(recipient)
    else:
        answer = client.test_recipient(args.recipient_id)
    if args.json:
        print_json(as_json(answer))
    else:
        for step in answer.steps:
            print(f"{'PASS' if step.passed else 'FAIL'}  {step.name}: {step.detail}")
        print("test passed" if answer.passed else "test failed")
    return exit_codes.OK if answer.passed else exit_codes.FAILURE


def _type(r: Recipient) -> str:
    return enum_word(recipient_pb2.RecipientType.Name(r.recipient_type), "RECIPIENT_TYPE_")


def _state(r: Recipient) -> str:
    return enum_word(recipient_pb2.RecipientState.Name(r.state), "RECIPIENT_STATE_")


def _show(recipient: Recipient, as_json_output: bool, headline: str | None) -> None:
    if as_json_output:
        print_json(as_json(recipient))
        return
    if headline:
        print(headline)
    print("\n".join(describe(recipient)))


def describe(r: Recipient) -> list[str]:
    lines = [f"recipient {r.id}"]
    if r.display_name:
        lines.append(f"  display name: {r.display_name}")
    lines += [
        f"  type:         {_type(r)}",
        f"  transport:    {r.transport}",
        f"  format:       {r.format}",
        f"  state:        {_state(r)}",
    ]
    settings = as_json(r.transport_settings) if r.HasField("transport_settings") else {}
    lines.append("  transport settings:" + ("" if settings else " -"))
    lines += [f"    {key}: {value}" for key, value in sorted(settings.items())]
    lines.append("  secret settings:" + ("" if r.secret_setting_names else " -"))
    lines += [f"    {name}: {SECRET_SET}" for name in r.secret_setting_names]
    options = as_json(r.format_options) if r.HasField("format_options") else {}
    if options:
        lines.append("  format options:")
        lines += [f"    {key}: {value}" for key, value in sorted(options.items())]
    kinds = [
        enum_word(feedback_pb2.FeedbackKind.Name(k), "FEEDBACK_KIND_") for k in r.subscription.kinds
    ]
    sources = list(r.subscription.source_ids)
    lines.append(
        f"  subscribed:   {', '.join(kinds) or 'every kind'}; "
        f"{'sources ' + ', '.join(sources) if sources else 'every source'}"
    )
    health = r.health
    circuit = enum_word(recipient_pb2.CircuitState.Name(health.circuit_state), "CIRCUIT_STATE_")
    lines.append(
        f"  health:       circuit {circuit}, {health.consecutive_failures} failures in a row, "
        f"last success {when(health.last_success_time)}"
    )
    if health.disabled_reason:
        lines.append(f"  disabled:     {health.disabled_reason}")
    lines += [f"  updated:      {when(r.update_time)}", f"  etag:         {r.etag}"]
    return lines
