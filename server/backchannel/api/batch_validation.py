"""Checks a batch recipient's ``batch`` settings when it is saved, every violation at once:
the schedule (cron, IANA zone), enums, the file name template (nothing that could leave
its folder), columns the feedback document cannot have, the OpenPGP public key (parses,
can encrypt, not expired), and a transport that can carry files."""

from __future__ import annotations

from typing import Any

from backchannel_client.v1 import recipient_pb2
from google.protobuf import json_format

from backchannel.api.errors import Violations
from backchannel.batch import naming, openpgp, schedule
from backchannel.batch.rows import read_shape
from backchannel.plugin import Transport

MAX_ROWS = 10_000_000
_PREFIX = "recipient.batch"


def validate_batch(
    recipient: recipient_pb2.Recipient, transport: Transport[Any] | None, v: Violations
) -> None:
    if not recipient.HasField("batch"):
        return
    batch = recipient.batch
    cron = batch.schedule.cron.strip()
    if not cron:
        v.add(f"{_PREFIX}.schedule.cron", "is required, e.g. '0 2 * * *' (02:00 every day)")
    else:
        problem = schedule.cron_problem(cron)
        if problem is not None:
            v.add(f"{_PREFIX}.schedule.cron", problem)
    zone_problem = schedule.zone_problem(batch.schedule.time_zone)
    if zone_problem is not None:
        v.add(f"{_PREFIX}.schedule.time_zone", zone_problem)
    if not 0 <= batch.max_rows <= MAX_ROWS:
        v.add(f"{_PREFIX}.max_rows", f"must be from 0 (no size trigger) to {MAX_ROWS}")
    if batch.max_file_bytes < 0:
        v.add(f"{_PREFIX}.max_file_bytes", "must not be negative (0: no limit)")
    known: list[tuple[str, int, list[int]]] = [
        ("when_empty", batch.when_empty, list(recipient_pb2.BatchWhenEmpty.values())),
        ("invalid_rows", batch.invalid_rows, list(recipient_pb2.BatchInvalidRows.values())),
        ("file.format", batch.file.format, list(recipient_pb2.BatchFileFormat.values())),
        (
            "file.compression",
            batch.file.compression,
            list(recipient_pb2.BatchCompression.values()),
        ),
    ]
    for name, value, values in known:
        if value not in values:
            v.add(f"{_PREFIX}.{name}", "is not a known value")
    if batch.file.name_template:
        for problem in naming.template_problems(batch.file.name_template):
            v.add(f"{_PREFIX}.file.name_template", problem)
    if batch.HasField("encryption"):
        key = batch.encryption.public_key
        if not key.strip():
            v.add(f"{_PREFIX}.encryption.public_key", "is required to encrypt")
        else:
            problem = openpgp.public_key_problem(key)
            if problem is not None:
                v.add(f"{_PREFIX}.encryption.public_key", problem)
    options: dict[str, Any] = json_format.MessageToDict(recipient.format_options)
    _, problems = read_shape(options, list(batch.required_fields))
    for found in problems:
        if found.field.startswith("format_options.") and "unknown option" in found.description:
            continue  # the recipient's formatter reports its own unknown options
        v.add(f"recipient.{found.field}", found.description)
    if transport is not None:
        if not transport.supports_files():
            v.add(
                "recipient.transport",
                f"the {transport.name} transport cannot carry batch files; use one that "
                "can (sftp, email, webhook) or leave batch unset",
            )
        elif batch.split_oversize and not transport.splits_files:
            v.add(
                f"{_PREFIX}.split_oversize",
                f"the {transport.name} transport cannot send a file in parts",
            )
    if batch.split_oversize and batch.max_file_bytes <= 0:
        v.add(f"{_PREFIX}.split_oversize", "needs max_file_bytes, the size of each part")
