"""``backchannel recipients apply FILE``: make the server's recipients match a file.

The file lists recipients (``recipients: [...]``, or a list at the top). Each is created
when missing; otherwise the fields the file gives are compared with the server's and only
those that differ are updated (fields the file leaves out are left alone; recipients not in
the file are not touched). The plan is shown first, then carried out, unless --dry-run.

Secret values cannot be read back, so a secret counts as a change only when the recipient
does not have a secret of that name yet; --replace-secrets sends every secret of the file
again (e.g. after rotating one, or with a change of where the recipient points, for which
the server requires its secrets again). Secret values are never printed: "(secret set)"."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from typing import Any

from backchannel_client import BackchannelError, Client, Recipient
from google.protobuf import json_format

from backchannel.cli import exit_codes
from backchannel.cli.connection import (
    CommandError,
    describe_error,
    error_as_json,
    exit_code_for,
    uses_tls,
)
from backchannel.cli.output import print_json, with_short_enum_names
from backchannel.cli.recipient_input import load_document, recipient_from_document

SECRET_SET = "(secret set)"
# Fields the file may set that are compared and updated (the writable ones).
_COMPARED = (
    "display_name",
    "recipient_type",
    "transport",
    "transport_settings",
    "format",
    "format_options",
    "subscription",
    "state",
    "retry_policy",
    "limits",
    "ordered_delivery",
    "batch",
    "data_policy",
    "required_consent_purposes",
)
_KEYED = ("transport_settings", "format_options")
_CREATE, _UPDATE, _UNCHANGED = "create", "update", "unchanged"


@dataclass
class Change:
    field: str
    before: Any
    after: Any


@dataclass
class Step:
    recipient_id: str
    action: str
    desired: Recipient
    changes: list[Change] = field(default_factory=list)
    update_mask: list[str] = field(default_factory=list)
    etag: str = ""


def add_parser(actions: Any, common: argparse.ArgumentParser) -> None:
    apply = actions.add_parser(
        "apply",
        parents=[common],
        help="make recipients match a YAML file: show the plan, then apply it",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    apply.add_argument("file", metavar="FILE.yaml")
    apply.add_argument("--dry-run", action="store_true", help="only show the plan")
    apply.add_argument(
        "--replace-secrets",
        action="store_true",
        help="send every secret in the file, even those the recipient already has",
    )
    apply.set_defaults(client_command=run)


def run(client: Client, args: argparse.Namespace) -> int:
    desired = _read(args.file)
    current = {r.id: r for r in client.list_recipients()}
    plan = [
        _step(recipient, fields, current.get(recipient.id), args.replace_secrets)
        for recipient, fields in desired
    ]
    errors: list[tuple[Step, BackchannelError]] = []
    applied = not args.dry_run and any(s.action != _UNCHANGED for s in plan)
    if not args.json:
        _print_plan(plan)
    if applied:
        for step in plan:
            try:
                _carry_out(client, step)
            except BackchannelError as error:
                errors.append((step, error))
                if not args.json:
                    lines = describe_error(error, args.server, uses_tls(args))
                    print(
                        f"could not {step.action} {step.recipient_id}: {lines[0]}",
                        file=sys.stderr,
                    )
                    for line in lines[1:]:
                        print(f"  {line}", file=sys.stderr)
            else:
                if not args.json and step.action != _UNCHANGED:
                    print(f"{step.action}d {step.recipient_id}")
    if args.json:
        print_json(
            {
                "plan": [_step_json(s) for s in plan],
                "applied": applied,
                "errors": [{"id": s.recipient_id, "error": error_as_json(e)} for s, e in errors],
            }
        )
    elif args.dry_run:
        print("dry run: nothing was changed")
    elif not applied:
        print("nothing to change")
    codes = {exit_code_for(e) for _, e in errors}
    if not codes:
        return exit_codes.OK
    return codes.pop() if len(codes) == 1 else exit_codes.FAILURE


def _read(path: str) -> list[tuple[Recipient, set[str]]]:
    document = load_document(path)
    items = document.get("recipients") if isinstance(document, dict) else document
    if not isinstance(items, list):
        raise CommandError(
            f"{path}: expected `recipients:` with a list of recipients",
            exit_codes.INVALID_ARGUMENT,
        )
    desired: list[tuple[Recipient, set[str]]] = []
    seen: set[str] = set()
    for index, item in enumerate(items, 1):
        recipient, fields = recipient_from_document(item, f"{path}: recipient {index}")
        if not recipient.id:
            raise CommandError(f"{path}: recipient {index} has no id", exit_codes.INVALID_ARGUMENT)
        if recipient.id in seen:
            raise CommandError(
                f"{path}: recipient {recipient.id!r} is listed twice", exit_codes.INVALID_ARGUMENT
            )
        seen.add(recipient.id)
        desired.append((recipient, fields))
    return desired


def _values(recipient: Recipient) -> dict[str, Any]:
    values: dict[str, Any] = json_format.MessageToDict(
        recipient, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    return with_short_enum_names(values, Recipient.DESCRIPTOR)


def _step(
    desired: Recipient, fields: set[str], current: Recipient | None, replace_secrets: bool
) -> Step:
    """What it takes to go from ``current`` (None: missing) to ``desired``."""
    wanted = _values(desired)
    secrets: dict[str, Any] = json_format.MessageToDict(desired.secret_settings)
    if current is None:
        given = with_short_enum_names(
            json_format.MessageToDict(desired, preserving_proto_field_name=True),
            Recipient.DESCRIPTOR,
        )
        changes = [Change(f, None, given.get(f, wanted.get(f))) for f in _COMPARED if f in fields]
        changes += [Change(f"secret_settings.{name}", None, SECRET_SET) for name in secrets]
        return Step(desired.id, _CREATE, desired, changes)
    have = _values(current)
    changes, mask = [], []
    for name in _COMPARED:
        if name not in fields or wanted.get(name) == have.get(name):
            continue
        mask.append(name)
        if name in _KEYED:
            before, after = have.get(name) or {}, wanted.get(name) or {}
            changes += [
                Change(f"{name}.{key}", before.get(key), after.get(key))
                for key in sorted(set(before) | set(after))
                if before.get(key) != after.get(key)
            ]
        else:
            changes.append(Change(name, have.get(name), wanted.get(name)))
    sent_secrets = {
        name: value
        for name, value in secrets.items()
        if replace_secrets or name not in current.secret_setting_names
    }
    if sent_secrets:
        mask.append("secret_settings")
        changes += [Change(f"secret_settings.{name}", None, SECRET_SET) for name in sent_secrets]
    update = Recipient(id=desired.id, etag=current.etag)
    for name in mask:
        if name == "secret_settings":
            update.secret_settings.update(sent_secrets)
        elif name == "required_consent_purposes":
            update.required_consent_purposes.extend(desired.required_consent_purposes)
        elif Recipient.DESCRIPTOR.fields_by_name[name].message_type is not None:
            getattr(update, name).CopyFrom(getattr(desired, name))
        else:
            setattr(update, name, getattr(desired, name))
    return Step(desired.id, _UPDATE if mask else _UNCHANGED, update, changes, mask)


def _carry_out(client: Client, step: Step) -> None:
    if step.action == _CREATE:
        client.create_recipient(step.desired)
    elif step.action == _UPDATE:
        client.update_recipient(step.desired, step.update_mask)


def _shown(value: Any) -> str:
    if value is None:
        return "(none)"
    if value == SECRET_SET:
        return SECRET_SET
    return json.dumps(value, separators=(", ", ": "))


def _print_plan(plan: list[Step]) -> None:
    marks = {_CREATE: "+", _UPDATE: "~", _UNCHANGED: "="}
    for step in plan:
        print(f"{marks[step.action]} {step.action} {step.recipient_id}")
        for change in step.changes:
            if step.action == _CREATE or change.after == SECRET_SET:
                print(f"    {change.field}: {_shown(change.after)}")
            else:
                print(f"    {change.field}: {_shown(change.before)} -> {_shown(change.after)}")
    counts = {action: sum(1 for s in plan if s.action == action) for action in marks}
    print(
        f"plan: {counts[_CREATE]} to create, {counts[_UPDATE]} to update, "
        f"{counts[_UNCHANGED]} unchanged"
    )


def _step_json(step: Step) -> dict[str, Any]:
    return {
        "id": step.recipient_id,
        "action": step.action,
        "changes": [{"field": c.field, "from": c.before, "to": c.after} for c in step.changes],
    }
